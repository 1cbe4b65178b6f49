-- When each group adopted each playbook, as a `rollouts` export dates it: one row per playbook
-- and group, (playbook_id, group_kind, "group", label, rolled_out_on).
-- A group is named with case and spacing ignored ("group" = lower(trim(name))), as the runs
-- and outcomes it is matched to are: a team to lower(trim(csms.team)) of the run's CSM, a
-- segment to lower(trim(accounts.segment)) of its account. group_kind is the playbook's kind
-- (rollout_kinds); a row naming only the other kind dates no group. label is the group as the
-- export spells it (trimmed; the first in sort order when spellings differ) and rolled_out_on
-- the group's first date when it has several rows. A group the export does not name never
-- adopted the playbook.
with

rolled as (
    select playbook_id, lower(trim(team)) as team, lower(trim(segment)) as segment,
           trim(team) as team_label, trim(segment) as segment_label, rolled_out_on
    from rollouts
),

kinds as (
    select playbook_id, group_kind from rollout_kinds
),

named as (
    select r.playbook_id, k.group_kind,
           case when k.group_kind = 'team' then r.team else r.segment end as "group",
           case when k.group_kind = 'team' then r.team_label else r.segment_label end as label,
           r.rolled_out_on
    from rolled r
    join kinds k using (playbook_id)
),

final as (
    select playbook_id, group_kind, "group", min(label) as label,
           min(rolled_out_on) as rolled_out_on
    from named
    where "group" is not null
    group by playbook_id, group_kind, "group"
)

select * from final
