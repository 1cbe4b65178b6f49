-- Every playbook run with its adherence: the one definition every metric reads.
-- DESIGN.md "Usage": adherence of a run = steps_completed / steps_total when the run has
-- steps_total > 0, else from run_steps (done steps over all steps); a run with no steps has no
-- adherence (NULL) and is left out of every mean.
-- Step counts need both numbers: a run with steps_total > 0 but no steps_completed falls back to
-- run_steps. A steps_completed above steps_total counts as all steps done (adherence is 0-1).
-- Adds to every playbook_runs column: step_rows, step_rows_done (NULL without step rows),
-- adherence (0-1 or NULL), adherence_source ('step_counts' | 'run_steps' | NULL) and
-- adherence_sources_disagree.
with

runs as (
    select * from playbook_runs
),

step_summaries as (
    select * from run_step_summaries
),

sources as (
    select runs.*,
           step_summaries.step_rows,
           step_summaries.step_rows_done,
           coalesce(runs.steps_total > 0 and runs.steps_completed is not null, false)
               as has_step_counts,
           coalesce(step_summaries.step_rows > 0, false) as has_step_rows
    from runs
    left join step_summaries on step_summaries.run_id = runs.run_id
),

final as (
    select * exclude (has_step_counts, has_step_rows),
           case when has_step_counts
                    then least(steps_completed, steps_total)::double / steps_total
                when has_step_rows then step_rows_done::double / step_rows
           end as adherence,
           case when has_step_counts then 'step_counts'
                when has_step_rows then 'run_steps'
           end as adherence_source,
           -- Both sources present and telling different stories (4 of 4 done by the counts,
           -- 1 of 4 in run_steps): the counts win, and the import warns about such runs.
           coalesce(has_step_counts and has_step_rows
                    and (steps_total <> step_rows or steps_completed <> step_rows_done),
                    false) as adherence_sources_disagree
    from sources
)

select * from final
