-- Which kind of group each playbook's rollouts name: (playbook_id, group_kind, first_on, last_on).
-- DESIGN.md "Effects and claims": a `rollouts` export gives team- or segment-level adoption
-- dates. A row names a team (matched to csms.team) or a segment (accounts.segment); a playbook
-- whose rows name both kinds is read by the kind more of its rows name (a tie: teams), and its
-- rows naming only the other kind date no group (rollout_adoptions).
-- One row per playbook with at least one rollouts row: group_kind ('team' | 'segment'),
-- first_on and last_on (its first and last rolled_out_on over all its rows). A playbook listed
-- here "has a rollouts export": it reaches a group on that group's rollout date, not at its
-- introduction (scenario_introductions).
with

rolled as (
    select playbook_id, team, segment, rolled_out_on from rollouts
),

final as (
    select playbook_id,
           case when count(team) >= count(segment) then 'team' else 'segment' end
               as group_kind,
           min(rolled_out_on) as first_on,
           max(rolled_out_on) as last_on
    from rolled
    group by playbook_id
)

select * from final
