-- When each scenario's rolled-out playbooks reached each group: (scenario, group_kind,
-- "group", introduced_on). DESIGN.md "Usage": playbook_share counts only runs opened on or
-- after the introduction of their scenario's first playbook; a playbook a `rollouts` export
-- dates group by group is introduced to each group on that group's rolled_out_on
-- (rollout_adoptions: a team or a segment, names lower case), and to no group the export
-- does not name.
-- One row per scenario and group: group_kind 'team' or 'segment', "group" lower(trim(name)),
-- introduced_on the first rolled_out_on in that group among the scenario's playbooks. A run of
-- the scenario is reached on the earliest of scenario_introductions' date (its playbooks
-- without rollouts), its CSM's team's date here (lower(trim(csms.team))) and its account's
-- segment's (lower(trim(accounts.segment))); none of them: not reached (metrics.usage reads
-- this, and when such a run still counts).
-- A table macro over the same registered catalogue as scenario_introductions:
-- `from scenario_rollouts('registered_name')`.
-- macro: scenario_rollouts(playbook_introductions)
with

playbooks as (
    select playbook_id, scenario
    from query_table(playbook_introductions)
),

adoptions as (
    select playbook_id, group_kind, "group", rolled_out_on from rollout_adoptions
),

final as (
    select p.scenario, a.group_kind, a."group", min(a.rolled_out_on) as introduced_on
    from playbooks p
    join adoptions a using (playbook_id)
    where p.scenario is not null
    group by p.scenario, a.group_kind, a."group"
)

select * from final
