-- Closed runs: runs with an outcome (success / failure) whose status, given or derived, is
-- closed. The rule itself (DESIGN.md "Derived when absent") is in runs_with_status; this view
-- keeps those runs, with every column of runs_with_status (succeeded included). A metric that
-- needs closed runs and their adherence reads runs_with_adherence where is_closed.
with

runs as (
    select * from runs_with_status
),

final as (
    select * from runs
    where is_closed
)

select * from final
