-- Every playbook run with its adherence: the one definition every metric reads.
-- DESIGN.md "Usage": adherence of a run = steps_completed / steps_total when the run has
-- steps_total > 0, else from run_steps (done steps over all steps); a run with no steps has no
-- adherence (NULL) and is left out of every mean.
-- Step counts need both numbers: a run with steps_total > 0 but no steps_completed falls back to
-- run_steps. A steps_completed above steps_total counts as all steps done (adherence is 0-1).
-- Adherence is to a playbook: a run without one has none, whatever steps it has.
-- Adds to every column of runs_with_status (playbook_runs with derived_status, is_closed,
-- succeeded): adherence (0-1 or NULL) and adherence_source
-- ('step_counts' | 'run_steps' | NULL). Where both sources exist and disagree, see
-- step_count_disagreements.
with

runs as not materialized (
    -- Not materialised: each branch below reads the table with its own filters pushed down.
    select *,
           coalesce(steps_total > 0 and steps_completed is not null, false) as has_step_counts
    from runs_with_status
),

steps as (
    -- Step rows matter only to playbook runs without step counts. When there is no such run
    -- (exports that carry counts) the filter is false for every row and DuckDB skips the
    -- scan: a million-run data set's millions of step rows are never grouped.
    -- (The test reads playbook_runs itself: naming the runs CTE here would scan it again.)
    select run_id, status from run_steps
    where exists (select 1 from playbook_runs
                  where playbook_id is not null
                    and not coalesce(steps_total > 0 and steps_completed is not null, false))
),

step_summaries as (
    select run_id,
           count(*) as step_rows,                                  -- every step, any status
           count(*) filter (where status = 'done') as step_rows_done
    from steps
    group by run_id
),

counted as (
    -- Runs without a playbook (no adherence) and runs with step counts: no join needed, so
    -- most runs never meet run_steps.
    select * exclude (has_step_counts),
           case when playbook_id is not null
                then least(steps_completed, steps_total)::double / steps_total
           end as adherence,
           case when playbook_id is not null then 'step_counts' end as adherence_source
    from runs
    where playbook_id is null or has_step_counts
),

stepped as (
    -- Playbook runs without step counts: done steps over all their step rows (none: NULL).
    select runs.* exclude (has_step_counts),
           step_summaries.step_rows_done::double / step_summaries.step_rows as adherence,
           case when step_summaries.step_rows > 0 then 'run_steps' end as adherence_source
    from runs
    left join step_summaries on step_summaries.run_id = runs.run_id
    where runs.playbook_id is not null and not runs.has_step_counts
),

final as (
    select * from counted
    union all
    select * from stepped
)

select * from final
