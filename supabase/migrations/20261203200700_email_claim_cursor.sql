-- Claims of one message scan its queued rows from a cursor instead of from the start. Claimed
-- rows leave the partial index of queued email rows only when vacuum removes their old entries,
-- so over a long drain each claim stepped over more dead entries: the pipeline benchmark showed
-- claims slowing as a million-recipient send went on. The cursor is the last id claimed for the
-- message, kept in a table of its own and written under the message row's lock, which every claim
-- holds, so cursors never race.

create table public.email_claim_cursors (
  message_id bigint primary key references public.messages (id) on delete cascade,
  last_id bigint not null
);

comment on table public.email_claim_cursors is
  'Per message, the last delivery id an email claim took; the next claim scans after it.';

alter table public.email_claim_cursors enable row level security;
revoke all on table public.email_claim_cursors from anon, authenticated;

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
        perform public.close_email_batch(
          v_batch_id, 'failed',
          coalesce(v_error, 'outcome_unknown: the drainer stopped before recording the result')
            || format(' (gave up after %s attempts)', v_attempts),
          p_now
        );
      end if;
      return jsonb_build_object(
        'outcome', 'claimed', 'batch_id', null, 'idempotency_key', null,
        'message_id', v_message_id, 'attempt', v_attempts, 'deliveries', '[]'::jsonb,
        'skipped', 0
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
    select 1 from public.messages where status = 'sending' and email_queued > 0
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

  for v_message_id in
    select id from public.messages
    where status = 'sending' and email_queued > 0
    order by queued_at, id
  loop
    -- The message row first: every writer that holds it may then wait for delivery rows, and
    -- none waits for it while holding queued rows (cancel_message takes it first too).
    perform 1 from public.messages where id = v_message_id for update;

    -- Start after the last row claimed for this message: the rows before it have left the
    -- queue, and their index entries stay behind until vacuum, so a scan from the start would
    -- step over more of them with every batch. Only when nothing is found after the cursor is
    -- the message scanned from its start, for a row a claim skipped while another transaction
    -- held it (one that then rolled back).
    select last_id into v_cursor from public.email_claim_cursors where message_id = v_message_id;

    select array_agg(id order by id) into v_ids from (
      select d.id from public.message_deliveries d
      where d.message_id = v_message_id and d.channel = 'email' and d.status = 'queued'
        and d.id > coalesce(v_cursor, 0)
      order by d.id
      limit v_allowed
      for update skip locked
    ) c;

    if v_ids is null and v_cursor is not null then
      select array_agg(id order by id) into v_ids from (
        select d.id from public.message_deliveries d
        where d.message_id = v_message_id and d.channel = 'email' and d.status = 'queued'
        order by d.id
        limit v_allowed
        for update skip locked
      ) c;
    end if;

    if v_ids is not null then
      insert into public.email_claim_cursors (message_id, last_id)
      values (v_message_id, v_ids[array_upper(v_ids, 1)])
      on conflict (message_id) do update set last_id = excluded.last_id;
    end if;
    exit when v_ids is not null;
  end loop;

  if v_ids is null then
    return jsonb_build_object('outcome', 'idle');
  end if;

  v_batch_id := gen_random_uuid();

  with candidates as (
    select d.id, u.email,
      case
        when u.deleted_at is not null then 'deleted: the account was deleted after queueing'
        when u.email_opt_out then 'opted_out: the user opted out of email after queueing'
        when u.email_bounced then 'bounced: the address bounced after queueing'
        when u.email_invalid or u.email is null then 'invalid_address: the address is not valid'
      end as reason
    from public.message_deliveries d
    -- One index lookup per claimed row: the limit keeps the planner from turning this into a
    -- hash join over every user, which it may pick when the statistics are thin.
    cross join lateral (
      select x.email, x.deleted_at, x.email_opt_out, x.email_bounced, x.email_invalid
      from public.users x where x.id = d.user_id limit 1
    ) u
    where d.id = any (v_ids)
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

