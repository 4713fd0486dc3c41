-- The per-user activity summary that recipient filters read: one narrow row per user holding
-- everything a filter needs, kept current by triggers on users, user_sessions and
-- telemetry_events. Counting an audience is then one sequential scan of this table, which is
-- what keeps the live count exact and instant at a million users (a join of users with a summary,
-- or an aggregate over raw events, costs several times that).

-- Column order matters for a scan of a million rows: the fixed-width columns that are never null
-- come first, so every filter reads them at known offsets.
create table public.user_activity (
  user_id uuid primary key references public.users (id) on delete cascade,
  deleted boolean not null default false,
  email_reachable boolean not null default false,
  joined_live_view boolean not null default false,
  devices smallint not null default 0,
  plan text not null,
  last_active_at timestamptz,
  trial_ends_at timestamptz,
  downgraded_at timestamptz,
  last_preview_at timestamptz,
  ai_hours integer[],
  ai_cumulative integer[],
  check (coalesce(cardinality(ai_hours), 0) = coalesce(cardinality(ai_cumulative), 0))
);

comment on table public.user_activity is
  'Per-user summary read by recipient filters: copies of the users columns filters need, plus '
  'activity derived from user_sessions and telemetry_events. Kept current by triggers; rebuilt '
  'set-based by rebuild_user_activity().';
comment on column public.user_activity.plan is 'Copy of users.plan.';
comment on column public.user_activity.deleted is 'users.deleted_at is set: never a recipient.';
comment on column public.user_activity.email_reachable is
  'Has an address and is not email_opt_out, email_bounced or email_invalid.';
comment on column public.user_activity.last_active_at is
  'Latest user_sessions.last_seen_at or telemetry occurred_at, exact; null if never active.';
comment on column public.user_activity.last_preview_at is 'Latest preview_used event.';
comment on column public.user_activity.joined_live_view is
  'Ever had a live_view_joined event; kept after the events themselves are deleted.';
comment on column public.user_activity.devices is
  'Clients ever used, as bits: desktop 1, ipad 2, mobile 4, vscode 8 (see client_bit()).';
comment on column public.user_activity.ai_hours is
  'Hours (see hour_number()) in which the user made AI requests, ascending; only the 192 hours up '
  'to the newest request are kept, so 7-day counts for any instant no earlier than a day before '
  'that request are exact.';
comment on column public.user_activity.ai_cumulative is
  'Running total of AI requests over ai_hours: element i counts the requests of ai_hours[1..i]. '
  'The count of any hour range is the difference of two elements found by width_bucket() '
  '(a binary search), so a filter reads it in a handful of operations per row.';

-- Hours since the epoch, the unit of the AI buckets. This function and client_bit() have no
-- search_path setting on purpose: a function with one is never inlined, and these run once per
-- event in rebuilds; they name only pg_catalog, schema-qualified, so no search_path can change them.
-- The epoch is read from an interval because date_part() of a timestamptz is only stable, and an
-- immutable function with a stable body is not inlined either (four times slower per event).
create function public.hour_number(p_at timestamptz) returns integer
language sql immutable parallel safe
as $$
  select pg_catalog.floor(
    pg_catalog.date_part(
      'epoch', p_at operator(pg_catalog.-) '1970-01-01 00:00:00+00'::pg_catalog.timestamptz
    ) operator(pg_catalog./) 3600
  )::integer
$$;

comment on function public.hour_number(timestamptz) is
  'The AI bucket an instant falls in: whole hours since 1970-01-01 00:00 UTC.';

create function public.client_bit(p_client text) returns smallint
language sql immutable parallel safe
as $$
  select case p_client
    when 'desktop' then 1 when 'ipad' then 2 when 'mobile' then 4 when 'vscode' then 8 else 0
  end::smallint
$$;

comment on function public.client_bit(text) is 'The bit of a client in user_activity.devices.';

-- Adds requests made in one hour to a user's AI buckets, whatever order events arrive in. Keeps
-- the 192 hours up to the newest request: the 168 of a 7-day window plus a day of slack, so a count
-- for an instant up to 24 h before the newest request is still exact.
create function public.activity_ai_add(
  p_hours integer[],
  p_cumulative integer[],
  p_hour integer,
  p_count integer,
  out hours integer[],
  out cumulative integer[]
)
language plpgsql immutable parallel safe
set search_path = ''
as $$
declare
  v_kept_hours constant integer := 192;
  v_position integer;
  v_drop integer;
begin
  hours := coalesce(p_hours, '{}');
  cumulative := coalesce(p_cumulative, '{}');

  -- Older than anything a count can still need (last_active_at is kept elsewhere).
  if cardinality(hours) > 0 and p_hour <= hours[cardinality(hours)] - v_kept_hours then
    return;
  end if;

  -- How many kept hours are at or before the new one; the request counts from there onwards.
  v_position := width_bucket(p_hour, hours);
  if v_position = 0 or hours[v_position] <> p_hour then
    hours := hours[1 : v_position] || p_hour || hours[v_position + 1 :];
    cumulative := cumulative[1 : v_position] || coalesce(cumulative[v_position], 0)
      || cumulative[v_position + 1 :];
    v_position := v_position + 1;
  end if;
  cumulative := cumulative[1 : v_position - 1] || array(
    select c + p_count from unnest(cumulative[v_position :]) with ordinality as u (c, i) order by i
  );

  -- Drop hours that fell out of the kept range; differences between the rest stay the same.
  v_drop := width_bucket(hours[cardinality(hours)] - v_kept_hours, hours);
  if v_drop > 0 then
    hours := hours[v_drop + 1 :];
    cumulative := array(
      select c - cumulative[v_drop] from unnest(cumulative[v_drop + 1 :]) with ordinality as u (c, i)
      order by i
    );
  end if;
end
$$;

comment on function public.activity_ai_add(integer[], integer[], integer, integer) is
  'Adds AI requests made in one hour to user_activity AI buckets, in any order of arrival.';

-- The AI requests in the 168 hourly buckets ending with the bucket of p_now: the running total at
-- that hour minus the running total 168 hours earlier. Filters inline the same expression so a
-- scan pays no function call per row; this function is for tests and ad hoc use.
create function public.ai_requests_7d(p_hours integer[], p_cumulative integer[], p_now timestamptz)
returns integer
language sql immutable parallel safe
set search_path = ''
as $$
  select coalesce(p_cumulative[width_bucket(public.hour_number(p_now), p_hours)], 0)
       - coalesce(p_cumulative[width_bucket(public.hour_number(p_now) - 168, p_hours)], 0)
$$;

comment on function public.ai_requests_7d(integer[], integer[], timestamptz) is
  'AI requests of a user_activity row in the 168 hourly buckets ending with the hour of p_now.';

-- Triggers. Each changes one summary row with a single update whose new values are computed from
-- the row's current values, so concurrent events for the same user serialise on the row lock and
-- none is lost; events arriving late or out of order fold in the same way (greatest, bit or,
-- bucket add). Deleting source rows (retention) does not rewind the summary: it records what
-- happened, which is what "ever joined Live View" and "last active" mean.

create function public.user_activity_from_users() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  insert into public.user_activity as a (
    user_id, plan, trial_ends_at, downgraded_at, deleted, email_reachable
  ) values (
    new.id, new.plan, new.trial_ends_at, new.downgraded_at, new.deleted_at is not null,
    new.email is not null and not (new.email_opt_out or new.email_bounced or new.email_invalid)
  )
  on conflict (user_id) do update set
    plan = excluded.plan,
    trial_ends_at = excluded.trial_ends_at,
    downgraded_at = excluded.downgraded_at,
    deleted = excluded.deleted,
    email_reachable = excluded.email_reachable;

  return null;
end
$$;

create trigger user_activity_from_users
after insert or update of
  plan, trial_ends_at, downgraded_at, deleted_at, email, email_opt_out, email_bounced, email_invalid
on public.users
for each row execute function public.user_activity_from_users();

create function public.user_activity_from_sessions() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.user_activity set
    last_active_at = greatest(last_active_at, new.last_seen_at),
    devices = devices | public.client_bit(new.client)
  where user_id = new.user_id;

  return null;
end
$$;

create trigger user_activity_from_sessions
after insert or update of client, last_seen_at on public.user_sessions
for each row execute function public.user_activity_from_sessions();

create function public.user_activity_from_telemetry() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.kind = 'ai_request' then
    update public.user_activity a set
      last_active_at = greatest(a.last_active_at, new.occurred_at),
      devices = a.devices | public.client_bit(new.client),
      (ai_hours, ai_cumulative) = (
        select b.hours, b.cumulative
        from public.activity_ai_add(
          a.ai_hours, a.ai_cumulative, public.hour_number(new.occurred_at), 1
        ) b
      )
    where a.user_id = new.user_id;
  else
    update public.user_activity a set
      last_active_at = greatest(a.last_active_at, new.occurred_at),
      devices = a.devices | public.client_bit(new.client),
      last_preview_at = case
        when new.kind = 'preview_used' then greatest(a.last_preview_at, new.occurred_at)
        else a.last_preview_at
      end,
      joined_live_view = a.joined_live_view or new.kind = 'live_view_joined'
    where a.user_id = new.user_id;
  end if;

  return null;
end
$$;

create trigger user_activity_from_telemetry
after insert on public.telemetry_events
for each row execute function public.user_activity_from_telemetry();

-- Set-based rebuild from the source tables, for bulk loads that bypass the triggers and for
-- recovery. Activity already summarised but no longer in the sources (deleted by retention) is
-- lost by a rebuild; joined_live_view is kept from the existing row for that reason.
create function public.rebuild_user_activity() returns void
language plpgsql
set search_path = ''
as $$
begin
  drop table if exists pg_temp.rebuild_sessions, pg_temp.rebuild_events, pg_temp.rebuild_ai;

  create temporary table pg_temp.rebuild_sessions on commit drop as
    select user_id, max(last_seen_at) as last_seen_at, bit_or(public.client_bit(client)) as devices
    from public.user_sessions
    group by user_id;

  create temporary table pg_temp.rebuild_events on commit drop as
    select user_id,
           max(occurred_at) as last_event_at,
           coalesce(bit_or(public.client_bit(client)), 0)::smallint as devices,
           max(occurred_at) filter (where kind = 'preview_used') as last_preview_at,
           bool_or(kind = 'live_view_joined') as joined_live_view
    from public.telemetry_events
    group by user_id;

  -- AI buckets: per user, the hours with requests among the 192 up to their newest request, and
  -- the running total over them.
  create temporary table pg_temp.rebuild_ai on commit drop as
    with hours as (
      select user_id, public.hour_number(occurred_at) as hour, count(*)::integer as requests
      from public.telemetry_events
      where kind = 'ai_request'
      group by 1, 2
    ),
    kept as (
      select user_id, hour,
             sum(requests) over (partition by user_id order by hour)::integer as cumulative
      from (
        select *, max(hour) over (partition by user_id) as newest_hour from hours
      ) as h
      where hour > newest_hour - 192
    )
    select user_id, array_agg(hour order by hour) as hours,
           array_agg(cumulative order by hour) as cumulative
    from kept
    group by user_id;

  insert into public.user_activity as a (
    user_id, plan, trial_ends_at, downgraded_at, deleted, email_reachable, last_active_at,
    last_preview_at, joined_live_view, devices, ai_hours, ai_cumulative
  )
  select u.id, u.plan, u.trial_ends_at, u.downgraded_at, u.deleted_at is not null,
         u.email is not null and not (u.email_opt_out or u.email_bounced or u.email_invalid),
         nullif(greatest(coalesce(s.last_seen_at, '-infinity'), coalesce(e.last_event_at, '-infinity')),
                '-infinity'),
         e.last_preview_at,
         coalesce(e.joined_live_view, false),
         coalesce(s.devices, 0)::smallint | coalesce(e.devices, 0)::smallint,
         ai.hours, ai.cumulative
  from public.users u
  left join pg_temp.rebuild_sessions s on s.user_id = u.id
  left join pg_temp.rebuild_events e on e.user_id = u.id
  left join pg_temp.rebuild_ai ai on ai.user_id = u.id
  on conflict (user_id) do update set
    plan = excluded.plan,
    trial_ends_at = excluded.trial_ends_at,
    downgraded_at = excluded.downgraded_at,
    deleted = excluded.deleted,
    email_reachable = excluded.email_reachable,
    last_active_at = excluded.last_active_at,
    last_preview_at = excluded.last_preview_at,
    joined_live_view = a.joined_live_view or excluded.joined_live_view,
    devices = excluded.devices,
    ai_hours = excluded.ai_hours,
    ai_cumulative = excluded.ai_cumulative;
end
$$;

comment on function public.rebuild_user_activity() is
  'Recomputes every user_activity row from users, user_sessions and telemetry_events set-based.';

-- Roll-off: buckets older than any 7-day window that can still be asked about are dropped, so the
-- summary stays small. Counts never depend on it (a count reads only the buckets of its window);
-- it only reclaims space, so running it late or twice is harmless.
create function public.roll_off_user_activity(p_now timestamptz default now()) returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_oldest_needed integer := public.hour_number(p_now) - 191;
  v_rows integer;
begin
  update public.user_activity set ai_hours = null, ai_cumulative = null
  where ai_hours is not null and ai_hours[cardinality(ai_hours)] < v_oldest_needed;
  get diagnostics v_rows = row_count;
  return v_rows;
end
$$;

comment on function public.roll_off_user_activity(timestamptz) is
  'Drops AI buckets of users whose newest request is older than every window still asked about.';

revoke execute on function
  public.activity_ai_add(integer[], integer[], integer, integer),
  public.rebuild_user_activity(),
  public.roll_off_user_activity(timestamptz),
  public.user_activity_from_users(),
  public.user_activity_from_sessions(),
  public.user_activity_from_telemetry()
from public, anon, authenticated;

revoke execute on function
  public.hour_number(timestamptz), public.client_bit(text),
  public.ai_requests_7d(integer[], integer[], timestamptz)
from public, anon;

-- Existing accounts and their history, for databases migrated with data already in them.
select public.rebuild_user_activity();

-- The admin reads the summary to resolve and count audiences; nobody else sees it.
alter table public.user_activity enable row level security;
revoke all on table public.user_activity from anon, authenticated;
grant select on table public.user_activity to authenticated;

create policy "user_activity: the admin reads every row" on public.user_activity
for select to authenticated using ((select public.is_admin()));

-- is_admin() only reads a setting and the admins table, which parallel workers see as the leader
-- does; marked parallel safe so policies that call it do not forbid parallel scans of a million
-- rows.
alter function public.is_admin() parallel safe;

-- Hourly roll-off where pg_cron exists (hosted Supabase); elsewhere the function is called by
-- whatever schedules the local stack, and counts stay exact without it.
do $$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron') then
    perform cron.schedule('hivesync-user-activity-roll-off', '17 * * * *',
                          'select public.roll_off_user_activity()');
  else
    raise notice 'pg_cron is not installed: user_activity roll-off is not scheduled';
  end if;
end
$$;
