-- Demo data for local use only: a deterministic, seeded, set-based generator of users, sessions
-- and 30 days of telemetry at the rates of design section 4 (about 5 % of users active a day,
-- about 15 events each). It lives in pg_temp, so it disappears with the session that loaded it and
-- never reaches a migrated database. Same users, seed and p_now give identical rows.
--
-- The bulk load runs with session_replication_role = replica: the per-row summary triggers and
-- the foreign-key checks are skipped (every reference is correct by construction), and
-- user_activity is then built set-based by public.rebuild_user_activity(). This is what makes a
-- million users with 22 million events load in minutes.

-- A uniform number in [0, 1) from a seed, a stream (what it is for) and a key (whose it is).
create or replace function pg_temp.demo_random(p_seed integer, p_stream integer, p_key bigint)
returns double precision
language sql immutable
as $$
  select (hashint8extended(p_key, p_seed::bigint * 64 + p_stream) & 4294967295)::double precision
         / 4294967296
$$;

-- The clients a bitmask of user_activity.devices holds.
create or replace function pg_temp.demo_clients(p_devices integer)
returns text[]
language sql immutable
as $$
  select array_remove(array[
    case when p_devices & 1 > 0 then 'desktop' end,
    case when p_devices & 2 > 0 then 'ipad' end,
    case when p_devices & 4 > 0 then 'mobile' end,
    case when p_devices & 8 > 0 then 'vscode' end
  ], null)
$$;

-- One client among those a bitmask holds. Written as one expression so the planner inlines it.
create or replace function pg_temp.demo_pick_client(p_devices integer, p_random double precision)
returns text
language sql immutable
as $$
  select (pg_temp.demo_clients(p_devices))[
    1 + floor(p_random * cardinality(pg_temp.demo_clients(p_devices)))::integer
  ]
$$;

create or replace function pg_temp.demo_generate(p_users integer, p_seed integer, p_now timestamptz)
returns void
language plpgsql
as $$
declare
  v_day constant interval := interval '24 hours';
  v_bulk_tables constant regclass[] := array['public.user_sessions', 'public.telemetry_events'];
  v_restore text[];
  v_statement text;
  v_session_base bigint;
  v_event_base bigint;
begin
  if p_users < 1 or p_seed < 0 then
    raise exception 'demo data needs at least one user and a seed of 0 or more';
  end if;

  set local session_replication_role = replica;
  set local work_mem = '256MB';
  set local maintenance_work_mem = '512MB';

  -- Building the indexes of sessions and telemetry once after the load is about three times
  -- faster than maintaining them row by row; they are recreated from their own definitions.
  select coalesce(array_agg(format('alter table %s add constraint %I %s', conrelid::regclass,
                                   conname, pg_get_constraintdef(oid))), '{}')
    into v_restore
  from pg_constraint
  where conrelid = any (v_bulk_tables) and contype in ('p', 'u');

  select v_restore || coalesce(array_agg(pg_get_indexdef(i.indexrelid)), '{}')
    into v_restore
  from pg_index i
  where i.indrelid = any (v_bulk_tables)
    and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid);

  for v_statement in
    select format('alter table %s drop constraint %I', conrelid::regclass, conname)
    from pg_constraint where conrelid = any (v_bulk_tables) and contype in ('p', 'u')
    union all
    select format('drop index %s', i.indexrelid::regclass)
    from pg_index i
    where i.indrelid = any (v_bulk_tables)
      and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)
  loop
    execute v_statement;
  end loop;

  raise notice 'demo data: users';
  -- Who each user is. Streams: 1 plan, 2 trial, 3 downgrade, 4 email, 5 consent, 6 deletion,
  -- 7 cohort, 8 devices, 9 AI habit, 10 created, 11 dormant session.
  create temporary table demo_users on commit drop as
  with base as (
    select i,
           (lpad(to_hex(p_seed), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid
             as id,
           pg_temp.demo_random(p_seed, 1, i) as r_plan,
           pg_temp.demo_random(p_seed, 2, i) as r_trial,
           pg_temp.demo_random(p_seed, 3, i) as r_downgrade,
           pg_temp.demo_random(p_seed, 4, i) as r_email,
           pg_temp.demo_random(p_seed, 5, i) as r_consent,
           pg_temp.demo_random(p_seed, 6, i) as r_deleted,
           pg_temp.demo_random(p_seed, 7, i) as r_cohort,
           pg_temp.demo_random(p_seed, 9, i) as r_ai,
           pg_temp.demo_random(p_seed, 10, i) as r_created,
           hashint8extended(i, p_seed::bigint * 64 + 8) as h_devices
    from generate_series(1, p_users::bigint) as i
  )
  select i, id, r_email,
         case when r_plan < 0.18 then 'paid' when r_plan < 0.26 then 'trial' else 'free' end as plan,
         -- Trials: current ones end between 3 days ago and 14 days ahead; a third of free users
         -- and two in five paying ones had one that ended within the last year.
         case
           when r_plan >= 0.18 and r_plan < 0.26 then p_now + (r_trial * 17 - 3) * v_day
           when r_plan >= 0.26 and r_trial < 0.33 then p_now - (1 + r_trial * 1000) * v_day
           when r_plan < 0.18 and r_trial < 0.40 then p_now - (30 + r_trial * 800) * v_day
         end as trial_ends_at,
         -- Downgrades: 12 % of free users within the last 120 days; 3 % of paying users once
         -- downgraded and paid again.
         case
           when r_plan >= 0.26 and r_downgrade < 0.12 then p_now - r_downgrade * 1000 * v_day
           when r_plan < 0.18 and r_downgrade < 0.03 then p_now - (10 + r_downgrade * 3000) * v_day
         end as downgraded_at,
         case
           when r_email < 0.010 then null
           when r_email < 0.013 then 'user' || i || '@example'
           when r_email < 0.015 then 'user ' || i || '@example.com'
           else 'user' || i || '@example.' || (array['com', 'org', 'net'])[1 + i % 3]
         end as email,
         r_consent < 0.04 as email_opt_out,
         r_consent >= 0.04 and r_consent < 0.055 as email_bounced,
         case when r_deleted < 0.005 then p_now - r_deleted * 12000 * v_day end as deleted_at,
         p_now - (1 + r_created * 730) * v_day as created_at,
         -- Cohorts: 1 regulars (active most days), 2 occasional, 3 dormant (last seen 31 to 400
         -- days ago), 4 signed up and never used a client.
         case
           when r_cohort < 0.06 then 1 when r_cohort < 0.18 then 2 when r_cohort < 0.82 then 3
           else 4
         end as cohort,
         -- Devices: desktop 70 %, iPad 25 %, mobile 40 %, VS Code 20 %, never none.
         greatest(
           (case when (h_devices & 1023) < 716 then 1 else 0 end)
           | (case when (h_devices >> 10 & 1023) < 256 then 2 else 0 end)
           | (case when (h_devices >> 20 & 1023) < 410 then 4 else 0 end)
           | (case when (h_devices >> 30 & 1023) < 205 then 8 else 0 end),
           1
         ) as devices,
         -- Habit (see demo_habits): AI requests make 60 %, 20 % or 2 % of a user's events, and
         -- 15 % of users join Live View at all.
         case when r_ai < 0.55 then 30 when r_ai < 0.80 then 10 else 1 end
           + case when r_ai >= 0.85 then 100 else 0 end as habit
    from base;

  -- Each habit as 50 equally likely event kinds: AI requests, previews 6 %, Live View joins 2 %
  -- for those who join, the rest document and sync events. A lookup per event is cheaper than a
  -- comparison chain over a random number.
  create temporary table demo_habits on commit drop as
  select ai_slots + 100 * live_slots as habit,
         array_fill('ai_request'::text, array[ai_slots])
           || array_fill('preview_used'::text, array[3])
           || array_fill('live_view_joined'::text, array[live_slots])
           || array_fill('document_opened'::text, array[(47 - ai_slots - live_slots) / 2])
           || array_fill('sync_completed'::text, array[47 - ai_slots - live_slots
                                                       - (47 - ai_slots - live_slots) / 2])
           as kinds
  from unnest(array[30, 10, 1]) as ai_slots
  cross join unnest(array[0, 1]) as live_slots;

  -- Rows go in as generate_series made them, in user order, so every run writes the same rows in
  -- the same places.
  insert into auth.users (id, email, aud, role, created_at, updated_at)
  select id, email, 'authenticated', 'authenticated', created_at, created_at
  from demo_users;

  -- The triggers that would copy these rows from auth.users are off, so the rows are written
  -- whole. email_invalid marks exactly the addresses made malformed above (no dot in the domain,
  -- a space) and the missing ones, which is what is_plausible_email() decides for them.
  insert into public.users (
    id, email, plan, trial_ends_at, downgraded_at, email_opt_out, email_bounced, email_invalid,
    deleted_at, created_at, updated_at
  )
  select id, email, plan, trial_ends_at, downgraded_at, email_opt_out, email_bounced,
         r_email < 0.015, deleted_at, created_at, p_now
  from demo_users;

  raise notice 'demo data: sessions';
  -- Active days: one session each, on one of the user's clients, 10 minutes to 8 hours long.
  -- Streams: 20 active, 21 client, 22 start, 23 length, 24 events.
  create temporary table demo_sessions on commit drop as
  select u.i, u.id, d, u.habit,
         pg_temp.demo_pick_client(u.devices, pg_temp.demo_random(p_seed, 21, u.i * 100 + d))
           as client,
         -- Instants as epoch seconds: float arithmetic is much cheaper per event than intervals.
         extract(epoch from p_now)::double precision - (d + 1) * 86400
           + pg_temp.demo_random(p_seed, 22, u.i * 100 + d) * 57600 as started_epoch,
         600 + pg_temp.demo_random(p_seed, 23, u.i * 100 + d) * 28200 as length_seconds,
         5 + floor(pg_temp.demo_random(p_seed, 24, u.i * 100 + d) * 21)::integer as events
  from demo_users u
  cross join generate_series(0, 29) as d
  where u.cohort in (1, 2)
    and pg_temp.demo_random(p_seed, 20, u.i * 100 + d) < case u.cohort when 1 then 0.65::double precision else 0.09 end
  order by u.i, d;

  -- Ids follow from who and when (user, day, event), after any rows already there, so they are
  -- the same on every run and need no sequence call per row.
  select coalesce(max(id), 0) into v_session_base from public.user_sessions;
  select coalesce(max(id), 0) into v_event_base from public.telemetry_events;

  insert into public.user_sessions (id, user_id, client, started_at, last_seen_at)
  overriding system value
  select v_session_base + i * 100 + d, id, client, to_timestamp(started_epoch),
         to_timestamp(started_epoch + length_seconds)
  from demo_sessions;

  -- Dormant users were last seen 31 to 400 days ago, before telemetry retention.
  insert into public.user_sessions (id, user_id, client, started_at, last_seen_at)
  overriding system value
  select v_session_base + i * 100 + 99, id,
         pg_temp.demo_pick_client(devices, pg_temp.demo_random(p_seed, 11, i)),
         p_now - (31 + pg_temp.demo_random(p_seed, 12, i) * 369) * v_day,
         p_now - (31 + pg_temp.demo_random(p_seed, 12, i) * 369) * v_day + interval '25 minutes'
  from demo_users
  where cohort = 3;

  raise notice 'demo data: telemetry';
  -- Telemetry inside each session, spread evenly over it; stream 30 picks each event's kind.
  insert into public.telemetry_events (id, user_id, kind, client, occurred_at)
  overriding system value
  select v_event_base + (s.i * 100 + s.d) * 32 + j, s.id,
         h.kinds[1 + floor(pg_temp.demo_random(p_seed, 30, (s.i * 100 + s.d) * 32 + j) * 50)::integer],
         s.client,
         to_timestamp(s.started_epoch + (j - 0.5::double precision) / s.events * s.length_seconds)
  from demo_sessions s
  join demo_habits h on h.habit = s.habit
  cross join generate_series(1, s.events) as j;

  perform setval(pg_get_serial_sequence('public.user_sessions', 'id'), max(id))
  from public.user_sessions having count(*) > 0;
  perform setval(pg_get_serial_sequence('public.telemetry_events', 'id'), max(id))
  from public.telemetry_events having count(*) > 0;

  raise notice 'demo data: indexes';
  foreach v_statement in array v_restore loop
    execute v_statement;
  end loop;

  raise notice 'demo data: summary';
  perform public.rebuild_user_activity();
  raise notice 'demo data: statistics';
  analyze public.users;
  analyze public.user_activity;
  analyze public.user_sessions;
  analyze public.telemetry_events;
  raise notice 'demo data: done';
end
$$;
