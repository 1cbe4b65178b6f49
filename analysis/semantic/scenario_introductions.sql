-- The introduction date of each scenario's first playbook: (scenario, introduced_on).
-- DESIGN.md "Usage": playbook_share counts only runs opened on or after the introduction of
-- their scenario's first playbook.
-- A table macro: the catalogue is built in Python (playbook YAML plus the playbooks seen in
-- runs), so the caller registers its (playbook_id, scenario, introduced_on) rows under a name
-- and passes that name: `from scenario_introductions('registered_name')`.
-- macro: scenario_introductions(playbook_introductions)
with

playbooks as (
    select scenario, cast(introduced_on as date) as introduced_on
    from query_table(playbook_introductions)
),

final as (
    select scenario, min(introduced_on) as introduced_on
    from playbooks
    where scenario is not null and introduced_on is not null
    group by scenario
)

select * from final
