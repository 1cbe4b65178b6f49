-- One row per run that has step rows: how many steps it has in run_steps and how many are done.
-- DESIGN.md "Usage": adherence from run_steps is "done steps over all steps".
with

steps as (
    select run_id, status from run_steps
),

final as (
    select run_id,
           count(*) as step_rows,                                  -- every step, any status
           count(*) filter (where status = 'done') as step_rows_done
    from steps
    group by run_id
)

select * from final
