-- Decided renewals: renewals whose outcome is renewed or churned (DESIGN.md: renewal_rate is
-- "renewed / decided, by renewal_date"); a renewal without a decided outcome counts nowhere.
with

all_renewals as (
    select * from renewals
),

final as (
    select *,
           outcome = 'renewed' as renewed
    from all_renewals
    where outcome in ('renewed', 'churned')
)

select * from final
