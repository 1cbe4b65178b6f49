-- Every playbook run with its status as DESIGN.md defines it, and whether it is closed.
-- DESIGN.md "Derived when absent": a run's status, when no column gives it, is closed when it
-- has an outcome or a closed_on, else open. playbook_runs: outcome is success / failure,
-- empty while open. So a closed run has an outcome (success / failure) and a closed status,
-- given or derived: a run an export explicitly marks open is not closed, whatever its outcome
-- column says.
-- Adds to every playbook_runs column: derived_status ('open' | 'closed'), is_closed (bool) and
-- succeeded (bool; NULL unless the outcome is success or failure).
with

runs as (
    select * from playbook_runs
),

with_status as (
    select *,
           coalesce(status, case when outcome is not null or closed_on is not null
                                 then 'closed' else 'open' end) as derived_status
    from runs
),

final as (
    select *,
           coalesce(outcome in ('success', 'failure') and derived_status = 'closed', false)
               as is_closed,
           case when outcome in ('success', 'failure') then outcome = 'success' end
               as succeeded
    from with_status
)

select * from final
