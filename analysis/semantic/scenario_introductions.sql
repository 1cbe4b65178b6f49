-- The introduction date of each scenario's first playbook: (scenario, introduced_on).
-- DESIGN.md "Usage": playbook_share counts only runs opened on or after the introduction of
-- their scenario's first playbook. A playbook that a `rollouts` export dates group by group
-- (it has rollouts rows; rollout_kinds lists exactly these) is not introduced to everyone at
-- once: it reaches each group on that group's rollout (scenario_rollouts), so it is left out
-- here. A run of the scenario is reached on the earliest of this date and its group's dates
-- in scenario_rollouts; without a rollouts export this date alone, DESIGN.md's rule.
-- A table macro: the catalogue is built in Python (playbook YAML plus the playbooks seen in
-- runs), so the caller registers its (playbook_id, scenario, introduced_on) rows under a name
-- and passes that name: `from scenario_introductions('registered_name')`.
-- macro: scenario_introductions(playbook_introductions)
with

playbooks as (
    select playbook_id, scenario, cast(introduced_on as date) as introduced_on
    from query_table(playbook_introductions)
),

rolled_out as (
    -- read off the table itself, not rollout_kinds: this runs on every usage request, and
    -- with no rollouts export it must cost no more than the introduction alone
    select playbook_id from rollouts
),

final as (
    select scenario, min(introduced_on) as introduced_on
    from playbooks
    where scenario is not null and introduced_on is not null
      and playbook_id not in (select playbook_id from rolled_out)
    group by scenario
)

select * from final
