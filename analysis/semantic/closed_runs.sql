-- Closed runs: a run with an outcome (success / failure) whose status is closed.
-- DESIGN.md "Derived when absent": a run's status, when no column gives it, is closed when it
-- has an outcome or a closed_on, else open. So a run with an outcome and no status is closed,
-- and a run an export explicitly marks open is not closed, whatever its outcome column says.
-- Carries every column of runs_with_adherence (adherence included) plus `succeeded`, so a
-- metric that needs closed runs and their adherence (followers) joins nothing. Reading run_steps
-- there costs nothing when the runs carry step counts (see runs_with_adherence).
with

runs as (
    select * from runs_with_adherence
),

with_status as (
    select *,
           coalesce(status, case when outcome is not null or closed_on is not null
                                 then 'closed' else 'open' end) as derived_status
    from runs
),

final as (
    select * exclude (derived_status),
           outcome = 'success' as succeeded
    from with_status
    where outcome in ('success', 'failure') and derived_status = 'closed'
)

select * from final
