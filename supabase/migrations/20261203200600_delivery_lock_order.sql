-- A fixed lock order for everything that writes deliveries, found by the four-drainer test when a
-- drainer's lease ran out while it was still recording and another drainer took its batch over:
-- both updated the same rows in different orders and deadlocked. Now
--  * the rows of a batch are locked in id order before they change (record, retry, close);
--  * re-claiming an expired batch locks its rows without waiting and skips a batch that is still
--    being recorded; closing a batch ends the claim, so no claim holds a message row while it
--    waits for delivery rows;
--  * a new claim, fail_message and cancel_message take the message row before any delivery row.
-- Behaviour is otherwise unchanged. The drain calls these functions as the role it connects
-- with (the tables' owner), one statement each; they stay granted to service_role as well.

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

    select array_agg(id order by id) into v_ids from (
      select d.id from public.message_deliveries d
      where d.message_id = v_message_id and d.channel = 'email' and d.status = 'queued'
      order by d.id
      limit v_allowed
      for update skip locked
    ) c;
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


create or replace function public.retry_email_batch_later(
  p_batch_id uuid,
  p_error text,
  p_retry_after_seconds integer,
  p_max_attempts integer,
  p_base_seconds integer,
  p_cap_seconds integer,
  p_retry_after_cap_seconds integer,
  p_now timestamptz default now()
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_attempts integer;
  v_delay numeric;
  v_at timestamptz;
begin
  -- Rows of one batch are always locked in id order, so two writers of the same batch (a late
  -- drainer and the one that took its batch over) wait for each other instead of deadlocking.
  perform 1 from public.message_deliveries
  where batch_id = p_batch_id and status = 'sending'
  order by id
  for update;

  select max(attempts) into v_attempts from public.message_deliveries
  where batch_id = p_batch_id and status = 'sending';

  if v_attempts is null then
    return jsonb_build_object('outcome', 'gone');
  end if;

  if v_attempts >= p_max_attempts then
    perform public.close_email_batch(
      p_batch_id, 'failed', format('%s (gave up after %s attempts)', p_error, v_attempts), p_now
    );
    return jsonb_build_object('outcome', 'failed', 'attempts', v_attempts);
  end if;

  v_delay := greatest(
    least(p_cap_seconds::numeric, p_base_seconds * power(2::numeric, v_attempts - 1)),
    least(coalesce(p_retry_after_seconds, 0), p_retry_after_cap_seconds)
  );
  v_at := p_now + make_interval(secs => v_delay::double precision);

  update public.message_deliveries set
    lease_expires_at = v_at,
    next_attempt_at = v_at,
    error = left(p_error, 1000)
  where batch_id = p_batch_id and status = 'sending';

  return jsonb_build_object('outcome', 'retry', 'attempts', v_attempts, 'next_attempt_at', v_at);
end
$$;


create or replace function public.close_email_batch(
  p_batch_id uuid,
  p_status text,
  p_error text,
  p_now timestamptz default now()
) returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_rows integer;
  v_message_id bigint;
begin
  if p_status not in ('failed', 'cancelled') then
    raise exception 'close_email_batch ends a batch as failed or cancelled, not %', p_status;
  end if;

  -- Rows of one batch are always locked in id order, so two writers of the same batch (a late
  -- drainer and the one that took its batch over) wait for each other instead of deadlocking.
  perform 1 from public.message_deliveries
  where batch_id = p_batch_id and status = 'sending'
  order by id
  for update;

  update public.message_deliveries set
    status = p_status,
    error = left(coalesce(p_error, error), 1000),
    lease_expires_at = null,
    next_attempt_at = null
  where batch_id = p_batch_id and status = 'sending';
  get diagnostics v_rows = row_count;

  select message_id into v_message_id from public.message_deliveries
  where batch_id = p_batch_id limit 1;
  if v_rows > 0 and p_status = 'failed' then
    perform public.refresh_error_summary(v_message_id);
  end if;
  perform public.complete_email_message(v_message_id, p_now);

  return v_rows;
end
$$;


create or replace function public.fail_message(
  p_message_id bigint,
  p_error text,
  p_now timestamptz default now()
) returns void
language plpgsql
set search_path = ''
as $$
begin
  -- The message row first, as cancel_message and the claim do; then every unfinished delivery
  -- that nobody else holds. A batch another drainer is recording right now is left to it.
  perform 1 from public.messages where id = p_message_id for update;

  update public.message_deliveries set
    status = 'failed',
    error = left(p_error, 1000),
    lease_expires_at = null,
    next_attempt_at = null
  where id in (
    select id from public.message_deliveries
    where message_id = p_message_id and status in ('queued', 'sending')
    order by id
    for update skip locked
  );

  update public.messages set status = 'failed', completed_at = p_now, updated_at = p_now
  where id = p_message_id and status in ('queued', 'sending');

  perform public.refresh_error_summary(p_message_id, 'job failed: ' || public.delivery_error_cause(p_error));
end
$$;

