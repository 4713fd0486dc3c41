-- Claims that do not queue behind each other, a fan-out without a lock per recipient, and
-- retraction that reaches the email queue. Measured by the pipeline benchmark:
--  * A claim used to lock its message row first and hold it to the commit, so concurrent
--    drainers took turns; now the message row is locked only by the counters trigger at the end of
--    the claim's update, and the claim cursor is written last. Delivery rows are still locked
--    before the message row everywhere a writer may wait for them (claim, record, retry, close).
--    cancel_message, retract_message and fail_message take the message row first and then touch
--    only queued rows nobody holds (skip locked), so they never wait for a delivery row while
--    holding it. A row a claim held at that moment is either sent with its batch (the claim
--    commits) or goes back to the queue (it rolls back): the next claim then cancels it.
--  * The foreign key from deliveries to users locked each recipient's users row during the
--    fan-out, which cost more than the insert itself. A statement trigger on users now removes a
--    user's deliveries, as the cascade did. A user removed while a fan-out that selected them is
--    still running can leave a delivery behind; its claim finds no user and skips it as deleted.
--  * The counters trigger sums the old and new rows of an update without joining them.
--  * Rolling windows count a ledger of reservations, one row per claim, instead of an index on
--    deliveries.reserved_at that every claim and every record had to update, once per email.
--  * Retracting a message that is still sending cancels its emails not yet claimed.
--  * A claim that ends an expired batch as failed (out of attempts) says how many rows it failed.
--  * A claim carries the user ids of the rows it locks instead of reading the rows again.

alter table public.message_deliveries drop constraint message_deliveries_user_id_fkey;

create function public.remove_deleted_users_deliveries() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.message_deliveries d
  using old_users o
  where d.user_id = o.id;
  return null;
end
$$;

comment on function public.remove_deleted_users_deliveries() is
  'Removes the deliveries of deleted users rows, in place of a per-row foreign key.';

revoke execute on function public.remove_deleted_users_deliveries()
  from public, anon, authenticated;

create trigger users_remove_deliveries
after delete on public.users
referencing old table as old_users
for each statement execute function public.remove_deleted_users_deliveries();

create table public.email_reservations (
  id bigint generated always as identity primary key,
  reserved_at timestamptz not null,
  emails integer not null check (emails > 0)
);

comment on table public.email_reservations is
  'One row per email claim: when it reserved budget and for how many deliveries (the rows it set '
  'reserved_at on). Rolling rate windows sum these; rows older than a day are purged.';

create index email_reservations_reserved_at_idx on public.email_reservations (reserved_at);

-- The admin's status request counts the windows as authenticated, under RLS.
alter table public.email_reservations enable row level security;
revoke all on table public.email_reservations from anon, authenticated;
grant select on table public.email_reservations to authenticated;
create policy "email_reservations: the admin reads every reservation" on public.email_reservations
for select to authenticated using ((select public.is_admin()));

drop index public.message_deliveries_reserved_at_idx;

create or replace function public.count_email_reservations(
  p_window interval,
  p_cap integer,
  p_now timestamptz default now()
) returns integer
language sql stable
set search_path = ''
as $$
  select least(coalesce(sum(emails), 0), greatest(p_cap, 0))::integer
  from public.email_reservations
  -- A lifted limit (null) counts nothing, as before: the ledger of a long unlimited drain grows
  -- by a row a claim, and summing it for every claim would slow each claim down a little more.
  where p_cap > 0 and reserved_at > p_now - p_window
$$;

-- The oldest reservations leave the window first; it holds fewer than p_limit once the running
-- total of those that left reaches the excess.
create or replace function public.email_window_frees_at(
  p_window interval,
  p_limit integer,
  p_now timestamptz default now()
) returns timestamptz
language sql stable
set search_path = ''
as $$
  select r.reserved_at + p_window from (
    select reserved_at,
      sum(emails) over (order by reserved_at, id) as leaving,
      sum(emails) over () as total
    from public.email_reservations
    where reserved_at > p_now - p_window
  ) r
  where r.leaving >= r.total - p_limit + 1
  order by r.reserved_at
  limit 1
$$;


create or replace function public.apply_delivery_counts() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    update public.messages m set
      in_app_queued = m.in_app_queued + c.in_app_queued,
      email_queued = m.email_queued + c.email_queued,
      in_app_sending = m.in_app_sending + c.in_app_sending,
      email_sending = m.email_sending + c.email_sending,
      in_app_sent = m.in_app_sent + c.in_app_sent,
      email_sent = m.email_sent + c.email_sent,
      in_app_failed = m.in_app_failed + c.in_app_failed,
      email_failed = m.email_failed + c.email_failed,
      in_app_skipped = m.in_app_skipped + c.in_app_skipped,
      email_skipped = m.email_skipped + c.email_skipped,
      in_app_cancelled = m.in_app_cancelled + c.in_app_cancelled,
      email_cancelled = m.email_cancelled + c.email_cancelled
    from (
      select message_id,
        count(*) filter (where channel = 'in_app' and status = 'queued') as in_app_queued,
        count(*) filter (where channel = 'email' and status = 'queued') as email_queued,
        count(*) filter (where channel = 'in_app' and status = 'sending') as in_app_sending,
        count(*) filter (where channel = 'email' and status = 'sending') as email_sending,
        count(*) filter (where channel = 'in_app' and status = 'sent') as in_app_sent,
        count(*) filter (where channel = 'email' and status = 'sent') as email_sent,
        count(*) filter (where channel = 'in_app' and status = 'failed') as in_app_failed,
        count(*) filter (where channel = 'email' and status = 'failed') as email_failed,
        count(*) filter (where channel = 'in_app' and status = 'skipped') as in_app_skipped,
        count(*) filter (where channel = 'email' and status = 'skipped') as email_skipped,
        count(*) filter (where channel = 'in_app' and status = 'cancelled') as in_app_cancelled,
        count(*) filter (where channel = 'email' and status = 'cancelled') as email_cancelled
      from new_rows
      group by message_id
    ) c
    where m.id = c.message_id;

  elsif tg_op = 'DELETE' then
    -- Retention removes old deliveries but keeps their message's counters.
    if current_setting('hivesync.keep_counters', true) = 'on' then
      return null;
    end if;

    update public.messages m set
      in_app_queued = m.in_app_queued + c.in_app_queued,
      email_queued = m.email_queued + c.email_queued,
      in_app_sending = m.in_app_sending + c.in_app_sending,
      email_sending = m.email_sending + c.email_sending,
      in_app_sent = m.in_app_sent + c.in_app_sent,
      email_sent = m.email_sent + c.email_sent,
      in_app_failed = m.in_app_failed + c.in_app_failed,
      email_failed = m.email_failed + c.email_failed,
      in_app_skipped = m.in_app_skipped + c.in_app_skipped,
      email_skipped = m.email_skipped + c.email_skipped,
      in_app_cancelled = m.in_app_cancelled + c.in_app_cancelled,
      email_cancelled = m.email_cancelled + c.email_cancelled
    from (
      select message_id,
        -count(*) filter (where channel = 'in_app' and status = 'queued') as in_app_queued,
        -count(*) filter (where channel = 'email' and status = 'queued') as email_queued,
        -count(*) filter (where channel = 'in_app' and status = 'sending') as in_app_sending,
        -count(*) filter (where channel = 'email' and status = 'sending') as email_sending,
        -count(*) filter (where channel = 'in_app' and status = 'sent') as in_app_sent,
        -count(*) filter (where channel = 'email' and status = 'sent') as email_sent,
        -count(*) filter (where channel = 'in_app' and status = 'failed') as in_app_failed,
        -count(*) filter (where channel = 'email' and status = 'failed') as email_failed,
        -count(*) filter (where channel = 'in_app' and status = 'skipped') as in_app_skipped,
        -count(*) filter (where channel = 'email' and status = 'skipped') as email_skipped,
        -count(*) filter (where channel = 'in_app' and status = 'cancelled') as in_app_cancelled,
        -count(*) filter (where channel = 'email' and status = 'cancelled') as email_cancelled
      from old_rows
      group by message_id
    ) c
    where m.id = c.message_id;

  else
    -- Each old row counts -1 and each new row +1 under its status; a row whose status did not
    -- move cancels out, and a message none of whose rows moved is not touched (lease and retry
    -- bookkeeping change no counter and take no lock on the message).
    update public.messages m set
      in_app_queued = m.in_app_queued + c.in_app_queued,
      email_queued = m.email_queued + c.email_queued,
      in_app_sending = m.in_app_sending + c.in_app_sending,
      email_sending = m.email_sending + c.email_sending,
      in_app_sent = m.in_app_sent + c.in_app_sent,
      email_sent = m.email_sent + c.email_sent,
      in_app_failed = m.in_app_failed + c.in_app_failed,
      email_failed = m.email_failed + c.email_failed,
      in_app_skipped = m.in_app_skipped + c.in_app_skipped,
      email_skipped = m.email_skipped + c.email_skipped,
      in_app_cancelled = m.in_app_cancelled + c.in_app_cancelled,
      email_cancelled = m.email_cancelled + c.email_cancelled
    from (
      select message_id,
        coalesce(sum(n) filter (where k = 'in_app:queued'), 0) as in_app_queued,
        coalesce(sum(n) filter (where k = 'email:queued'), 0) as email_queued,
        coalesce(sum(n) filter (where k = 'in_app:sending'), 0) as in_app_sending,
        coalesce(sum(n) filter (where k = 'email:sending'), 0) as email_sending,
        coalesce(sum(n) filter (where k = 'in_app:sent'), 0) as in_app_sent,
        coalesce(sum(n) filter (where k = 'email:sent'), 0) as email_sent,
        coalesce(sum(n) filter (where k = 'in_app:failed'), 0) as in_app_failed,
        coalesce(sum(n) filter (where k = 'email:failed'), 0) as email_failed,
        coalesce(sum(n) filter (where k = 'in_app:skipped'), 0) as in_app_skipped,
        coalesce(sum(n) filter (where k = 'email:skipped'), 0) as email_skipped,
        coalesce(sum(n) filter (where k = 'in_app:cancelled'), 0) as in_app_cancelled,
        coalesce(sum(n) filter (where k = 'email:cancelled'), 0) as email_cancelled
      from (
        select message_id, channel || ':' || status as k, sum(delta) as n
        from (
          select message_id, channel, status, 1 as delta from new_rows
          union all
          select message_id, channel, status, -1 as delta from old_rows
        ) moved
        group by message_id, channel, status
        having sum(delta) <> 0
      ) s
      group by message_id
    ) c
    where m.id = c.message_id;
  end if;

  return null;
end
$$;


create or replace function public.claim_email_batch(
  p_batch_size integer,
  p_lease_seconds integer,
  p_max_per_minute integer,
  p_max_per_hour integer,
  p_max_attempts integer,
  p_now timestamptz default now()
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_batch_id uuid;
  v_message_id bigint;
  v_message_status text;
  v_attempts integer;
  v_error text;
  v_minute integer;
  v_hour integer;
  v_allowed integer;
  v_ids bigint[];
  v_skipped integer := 0;
  v_deliveries jsonb;
  v_next timestamptz;
  v_tried uuid[] := '{}';
  v_cursor bigint;
  v_stopped text;
  v_closed integer;
  v_users uuid[];
begin
  if p_batch_size < 1 or p_lease_seconds < 1 or p_max_attempts < 1
      or p_max_per_minute < 0 or p_max_per_hour < 0 then
    raise exception 'claim_email_batch: batch size, lease and attempts must be positive and '
      'limits not negative';
  end if;

  -- The lock makes counting and reserving against the windows one atomic step across drainers.
  -- With both limits lifted there is nothing to count, and the claims of concurrent drainers
  -- stay disjoint through skip locked alone, so they need not wait for each other.
  -- Re-claiming an expired batch takes the lock in every case: the batch is found through one of
  -- its rows, and two drainers must not both take it over.
  if p_max_per_minute is not null or p_max_per_hour is not null or exists (
    select 1 from public.message_deliveries
    where status = 'sending' and lease_expires_at <= p_now
  ) then
    perform 1 from public.email_send_budget where id for update;
  end if;

  if (select email_disabled from public.messaging_settings where id) then
    return jsonb_build_object('outcome', 'disabled');
  end if;

  -- 1. Expired leases, oldest first. The batch is found without locking, then all its rows are
  -- locked in id order without waiting: if its first drainer is still recording it (its lease ran
  -- out while it worked), that drainer finishes it and this claim moves on. A batch that cannot be
  -- sent any more is closed, and the claim ends there so that it holds no message lock while
  -- waiting for anything else.
  loop
    select d.batch_id into v_batch_id
    from public.message_deliveries d
    where d.status = 'sending' and d.lease_expires_at <= p_now
      and d.batch_id <> all (v_tried)
    order by d.lease_expires_at, d.id
    limit 1;

    exit when not found;
    v_tried := v_tried || v_batch_id;

    begin
      perform 1 from public.message_deliveries
      where batch_id = v_batch_id and status = 'sending'
      order by id
      for update nowait;
    exception
      when lock_not_available then
        continue;
    end;

    select d.message_id, max(d.attempts), max(d.error), m.status
    into v_message_id, v_attempts, v_error, v_message_status
    from public.message_deliveries d
    join public.messages m on m.id = d.message_id
    where d.batch_id = v_batch_id and d.status = 'sending' and d.lease_expires_at <= p_now
    group by d.message_id, m.status;

    -- Recorded or moved on between the search and the lock.
    continue when not found;

    if v_message_status = 'cancelled' or v_attempts >= p_max_attempts then
      if v_message_status = 'cancelled' then
        perform public.close_email_batch(
          v_batch_id, 'cancelled', 'cancelled: the message was cancelled', p_now
        );
      else
        v_closed := public.close_email_batch(
          v_batch_id, 'failed',
          coalesce(v_error, 'outcome_unknown: the drainer stopped before recording the result')
            || format(' (gave up after %s attempts)', v_attempts),
          p_now
        );
      end if;
      -- failed: what this claim ended as failed, so the drain's summary counts it.
      return jsonb_build_object(
        'outcome', 'claimed', 'batch_id', null, 'idempotency_key', null,
        'message_id', v_message_id, 'attempt', v_attempts, 'deliveries', '[]'::jsonb,
        'skipped', 0, 'failed', coalesce(v_closed, 0)
      );
    end if;

    with reclaimed as (
      update public.message_deliveries set
        attempts = attempts + 1,
        lease_expires_at = p_now + make_interval(secs => p_lease_seconds),
        next_attempt_at = null
      where batch_id = v_batch_id and status = 'sending'
      returning id, user_id, email_address, idempotency_key
    )
    select jsonb_agg(jsonb_build_object('id', id, 'user_id', user_id, 'email', email_address)
                     order by id),
           min(idempotency_key)
    into v_deliveries, v_error
    from reclaimed;

    return jsonb_build_object(
      'outcome', 'reclaimed', 'batch_id', v_batch_id, 'idempotency_key', v_error,
      'message_id', v_message_id, 'attempt', v_attempts + 1, 'deliveries', v_deliveries,
      'skipped', 0
    );
  end loop;

  -- 2. Anything new to send at all? Otherwise the budget is not the reason nothing goes.
  if not exists (
    select 1 from public.messages
    where status in ('sending', 'cancelled') and email_queued > 0
  ) then
    return jsonb_build_object('outcome', 'idle');
  end if;

  v_minute := public.count_email_reservations(interval '1 minute', p_max_per_minute, p_now);
  v_hour := public.count_email_reservations(interval '1 hour', p_max_per_hour, p_now);
  v_allowed := least(p_batch_size, p_max_per_minute - v_minute, p_max_per_hour - v_hour);

  if v_allowed <= 0 then
    v_next := greatest(
      case when v_minute >= p_max_per_minute
        then public.email_window_frees_at(interval '1 minute', p_max_per_minute, p_now) end,
      case when v_hour >= p_max_per_hour
        then public.email_window_frees_at(interval '1 hour', p_max_per_hour, p_now) end
    );
    return jsonb_build_object('outcome', 'deferred', 'next_batch_at', v_next);
  end if;

  -- Cancelled and retracted messages come too: a row a claim held while the message was being
  -- cancelled or retracted, and that went back to the queue when that claim rolled back, is
  -- cancelled here instead of sent.
  for v_message_id, v_stopped in
    select id, case when status = 'cancelled' then 'cancelled: the message was cancelled'
                    when retracted_at is not null
                      then 'cancelled: the message was retracted before this email went out' end
    from public.messages
    where status in ('sending', 'cancelled') and email_queued > 0
    order by queued_at, id
  loop
    -- Start after the last row claimed for this message: the rows before it have left the
    -- queue, and their index entries stay behind until vacuum, so a scan from the start would
    -- step over more of them with every batch. Only when nothing is found after the cursor is
    -- the message scanned from its start, for a row a claim skipped while another transaction
    -- held it (one that then rolled back).
    select last_id into v_cursor from public.email_claim_cursors where message_id = v_message_id;

    select array_agg(id order by id), array_agg(user_id order by id) into v_ids, v_users
    from (
      select d.id, d.user_id from public.message_deliveries d
      where d.message_id = v_message_id and d.channel = 'email' and d.status = 'queued'
        and d.id > coalesce(v_cursor, 0)
      order by d.id
      limit v_allowed
      for update skip locked
    ) c;

    if v_ids is null and v_cursor is not null then
      select array_agg(id order by id), array_agg(user_id order by id)
      into v_ids, v_users from (
        select d.id, d.user_id from public.message_deliveries d
        where d.message_id = v_message_id and d.channel = 'email' and d.status = 'queued'
        order by d.id
        limit v_allowed
        for update skip locked
      ) c;
    end if;

    exit when v_ids is not null;
  end loop;

  if v_ids is null then
    return jsonb_build_object('outcome', 'idle');
  end if;

  if v_stopped is not null then
    update public.message_deliveries set status = 'cancelled', error = v_stopped
    where id = any (v_ids);
    perform public.complete_email_message(v_message_id, p_now);
    return jsonb_build_object(
      'outcome', 'claimed', 'batch_id', null, 'idempotency_key', null,
      'message_id', v_message_id, 'attempt', 1, 'deliveries', '[]'::jsonb, 'skipped', 0
    );
  end if;

  v_batch_id := gen_random_uuid();

  with candidates as (
    select d.id, u.email,
      case
        when u.present is null or u.deleted_at is not null then
          'deleted: the account was deleted after queueing'
        when u.email_opt_out then 'opted_out: the user opted out of email after queueing'
        when u.email_bounced then 'bounced: the address bounced after queueing'
        when u.email_invalid or u.email is null then 'invalid_address: the address is not valid'
      end as reason
    -- The rows were read when they were locked; their user ids came along.
    from unnest(v_ids, v_users) as d(id, user_id)
    -- One index lookup per claimed row: the limit keeps the planner from turning this into a
    -- hash join over every user, which it may pick when the statistics are thin. A user removed
    -- while the fan-out that queued them was still running has no row any more (see the users
    -- delete trigger): the lookup finds nothing and the delivery is skipped as deleted.
    left join lateral (
      select true as present, x.email, x.deleted_at, x.email_opt_out, x.email_bounced,
        x.email_invalid
      from public.users x where x.id = d.user_id limit 1
    ) u on true
  ),
  claimed as (
    update public.message_deliveries d set
      status = case when c.reason is null then 'sending' else 'skipped' end,
      error = c.reason,
      batch_id = case when c.reason is null then v_batch_id end,
      idempotency_key = case when c.reason is null then 'hivesync-batch-' || v_batch_id end,
      lease_expires_at = case when c.reason is null
        then p_now + make_interval(secs => p_lease_seconds) end,
      reserved_at = p_now,
      attempts = case when c.reason is null then 1 else 0 end,
      email_address = c.email
    from candidates c
    where d.id = c.id
    returning d.id, d.user_id, d.email_address, d.status
  )
  select
    jsonb_agg(jsonb_build_object('id', id, 'user_id', user_id, 'email', email_address) order by id)
      filter (where status = 'sending'),
    count(*) filter (where status = 'skipped')
  into v_deliveries, v_skipped
  from claimed;

  if p_max_per_minute is not null or p_max_per_hour is not null then
    update public.email_send_budget set last_reserved_at = p_now where id;
  end if;

  insert into public.email_reservations (reserved_at, emails)
  values (p_now, cardinality(v_ids));

  -- Last, so that the cursor row is held only from here to the commit: claims of one message
  -- wait for each other no longer than that. Concurrent claims may finish in any order, and the
  -- cursor only moves forward.
  insert into public.email_claim_cursors (message_id, last_id)
  values (v_message_id, v_ids[array_upper(v_ids, 1)])
  on conflict (message_id) do update
    set last_id = greatest(public.email_claim_cursors.last_id, excluded.last_id);

  if v_skipped > 0 then
    perform public.refresh_error_summary(v_message_id);
    if v_deliveries is null then
      perform public.complete_email_message(v_message_id, p_now);
    end if;
  end if;

  return jsonb_build_object(
    'outcome', 'claimed',
    'batch_id', case when v_deliveries is not null then v_batch_id end,
    'idempotency_key', case when v_deliveries is not null then 'hivesync-batch-' || v_batch_id end,
    'message_id', v_message_id, 'attempt', 1,
    'deliveries', coalesce(v_deliveries, '[]'::jsonb), 'skipped', v_skipped
  );
end
$$;


-- The message row first, then only queued rows nobody holds: a claim holding some of them waits
-- for this message row in its counters trigger, so waiting for its rows here would deadlock.
create or replace function public.cancel_message(
  p_message_id bigint,
  p_now timestamptz default now()
)
returns public.messages
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_message public.messages;
begin
  if not (select public.is_admin()) then
    raise exception 'Only a messaging admin can cancel a message.' using errcode = '42501';
  end if;

  select * into v_message from public.messages where id = p_message_id for update;
  if not found then
    raise exception 'Message % does not exist.', p_message_id
      using errcode = 'HS404', detail = 'message_not_found';
  end if;

  if v_message.status not in ('queued', 'sending') then
    raise exception 'Message % is %; only a queued or sending message can be cancelled.',
      p_message_id, v_message.status
      using errcode = 'HS409', detail = 'invalid_state';
  end if;

  update public.message_deliveries set status = 'cancelled'
  where id in (
    select id from public.message_deliveries
    where message_id = p_message_id and status = 'queued'
    for update skip locked
  );

  update public.messages set status = 'cancelled', completed_at = p_now, updated_at = p_now
  where id = p_message_id
  returning * into v_message;

  return v_message;
end
$$;

-- Runs as its owner, as cancel_message does, because it cancels the message's emails not yet
-- claimed and the admin has no write access to deliveries; it checks public.is_admin() itself.
-- Retracting twice keeps the first instant, so the call is idempotent.
create or replace function public.retract_message(
  p_message_id bigint,
  p_now timestamptz default now()
)
returns public.messages
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_message public.messages;
begin
  if not (select public.is_admin()) then
    raise exception 'Only a messaging admin can retract a message.' using errcode = '42501';
  end if;

  select * into v_message from public.messages where id = p_message_id for update;
  if not found then
    raise exception 'Message % does not exist.', p_message_id
      using errcode = 'HS404', detail = 'message_not_found';
  end if;

  if v_message.channel = 'email' then
    raise exception 'Message % went by email only; it has no banners to retract.', p_message_id
      using errcode = 'HS409', detail = 'invalid_state';
  end if;

  if v_message.status not in ('sending', 'sent') then
    raise exception 'Message % is %; only a sending or sent message can be retracted.',
      p_message_id, v_message.status
      using errcode = 'HS409', detail = 'invalid_state';
  end if;

  if v_message.retracted_at is not null then
    return v_message;
  end if;

  -- Emails not yet claimed are withdrawn with the banners; batches already claimed are in flight
  -- at the provider and finish.
  update public.message_deliveries
  set status = 'cancelled',
    error = 'cancelled: the message was retracted before this email went out'
  where id in (
    select id from public.message_deliveries
    where message_id = p_message_id and channel = 'email' and status = 'queued'
    for update skip locked
  );

  update public.messages set retracted_at = p_now, updated_at = p_now
  where id = p_message_id;
  perform public.complete_email_message(p_message_id, p_now);

  select * into v_message from public.messages where id = p_message_id;
  return v_message;
end
$$;

comment on function public.retract_message(bigint, timestamptz) is
  'Withdraws the banners of a sending or sent message, and its emails not yet claimed.';

-- Retention also clears reservations that no rate window reaches any more.
create or replace function public.purge_expired_deliveries(
  p_retention_days integer,
  p_limit integer,
  p_now timestamptz default now()
) returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_cutoff timestamptz;
  v_rows integer;
  v_previous text := current_setting('hivesync.keep_counters', true);
begin
  if p_retention_days < 1 or p_limit < 1 then
    raise exception 'purge_expired_deliveries: retention days and limit must be positive';
  end if;
  v_cutoff := p_now - make_interval(days => p_retention_days);

  perform set_config('hivesync.keep_counters', 'on', true);

  -- Through messages queued before the cutoff: their deliveries are found by the
  -- (message_id, status, id) index, with no index on created_at to slow every fan-out down.
  delete from public.message_deliveries
  where id in (
    select d.id
    from public.messages m
    join public.message_deliveries d on d.message_id = m.id
    where m.queued_at < v_cutoff
      and d.created_at < v_cutoff
      and d.status in ('sent', 'failed', 'skipped', 'cancelled')
    limit p_limit
  );
  get diagnostics v_rows = row_count;

  -- No rate window is longer than an hour; a day of reservations is kept for whoever looks.
  delete from public.email_reservations where reserved_at < p_now - interval '1 day';

  perform set_config('hivesync.keep_counters', coalesce(v_previous, ''), true);
  return v_rows;
end
$$;


create or replace function public.record_email_batch(
  p_batch_id uuid,
  p_results jsonb,
  p_now timestamptz default now()
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_sent integer;
  v_failed integer;
  v_message_id bigint;
begin
  -- Rows of one batch are always locked in id order, so two writers of the same batch (a late
  -- drainer and the one that took its batch over) wait for each other instead of deadlocking.
  -- A pass of its own: joined into the update, the locked rows made the planner, which expects
  -- about one row in flight per batch, compare every result with every row.
  perform 1 from public.message_deliveries
  where batch_id = p_batch_id and status = 'sending'
  order by id
  for update;

  with recorded as (
    update public.message_deliveries d set
      status = case when r.error is null then 'sent' else 'failed' end,
      sent_at = case when r.error is null then p_now end,
      provider_message_id = r.provider_message_id,
      error = left(r.error, 1000),
      lease_expires_at = null,
      next_attempt_at = null
    from jsonb_to_recordset(p_results) as r(id bigint, provider_message_id text, error text)
    where d.id = r.id and d.batch_id = p_batch_id and d.status = 'sending'
    returning d.status, d.message_id
  )
  select count(*) filter (where status = 'sent'), count(*) filter (where status = 'failed'),
         min(message_id)
  into v_sent, v_failed, v_message_id
  from recorded;

  if v_failed > 0 then
    perform public.refresh_error_summary(v_message_id);
  end if;
  if v_message_id is not null then
    perform public.complete_email_message(v_message_id, p_now);
  end if;

  return jsonb_build_object('sent', v_sent, 'failed', v_failed);
end
$$;
