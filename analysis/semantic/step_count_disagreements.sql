-- Runs whose step counts and run_steps rows tell different stories (4 of 4 done by the counts,
-- 1 of 4 in run_steps). DESIGN.md "Usage": adherence takes the step counts when the run has
-- steps_total > 0, so the counts win (runs_with_adherence); the import says how many runs
-- disagree, once.
-- One row per such run: run_id, steps_total, steps_completed, step_rows, step_rows_done.
with

runs as (
    select run_id, steps_total, steps_completed from playbook_runs
    where steps_total > 0 and steps_completed is not null
),

steps as (
    select run_id, status from run_steps
),

step_summaries as (
    select run_id,
           count(*) as step_rows,
           count(*) filter (where status = 'done') as step_rows_done
    from steps
    group by run_id
),

final as (
    select runs.run_id, runs.steps_total, runs.steps_completed,
           step_summaries.step_rows, step_summaries.step_rows_done
    from runs
    join step_summaries on step_summaries.run_id = runs.run_id
    where runs.steps_total <> step_summaries.step_rows
       or runs.steps_completed <> step_summaries.step_rows_done
)

select * from final
