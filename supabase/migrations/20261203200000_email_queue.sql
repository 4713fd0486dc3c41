-- The sending pipeline in SQL: fan-out of a queued message into deliveries, whole-batch claims of
-- email deliveries under rolling rate budgets, recording what the provider answered, retries with
-- backoff, and finishing messages. The drain (TypeScript) only orchestrates these calls; it never
-- loops over users. Every function that reads the clock takes p_now, so tests drive time.
--
-- All of these run as the caller (security invoker). The drain calls them as service_role, which
-- bypasses row-level security and holds Supabase's default grants on public tables, so nothing
-- here needs to run as its owner; anon and authenticated may not execute them.

alter table public.message_deliveries
  add column email_address text check (char_length(email_address) <= 320);

comment on column public.message_deliveries.email_address is
  'The address the email was claimed for. A re-claimed batch goes to these addresses again, so '
  'its payload stays the same even if the user changed their address meanwhile.';

-- Claims read queued email rows of one message in id order; only those rows are in this index, so
-- it stays small however many deliveries have finished.
create index message_deliveries_email_claim_idx on public.message_deliveries (message_id, id)
  where channel = 'email' and status = 'queued';

-- Batches in flight or waiting for a retry: found by lease expiry, and as a whole by batch id.
create index message_deliveries_lease_idx on public.message_deliveries (lease_expires_at)
  where status = 'sending';
create index message_deliveries_sending_batch_idx on public.message_deliveries (batch_id)
  where status = 'sending';

-- Rolling windows count reservations by time.
create index message_deliveries_reserved_at_idx on public.message_deliveries (reserved_at)
  where reserved_at is not null;

create table public.email_send_budget (
  id boolean primary key default true check (id),
  last_reserved_at timestamptz
);

comment on table public.email_send_budget is
  'A single row that every email claim locks first, so reservations against the rolling rate '
  'windows are made one at a time and stay exact across any number of concurrent drainers.';
comment on column public.email_send_budget.last_reserved_at is 'When the last batch was reserved.';

insert into public.email_send_budget (id) values (true);

alter table public.email_send_budget enable row level security;
revoke all on table public.email_send_budget from anon, authenticated;

-- "cause: detail" errors are summarised by cause.
create function public.delivery_error_cause(p_error text) returns text
language sql immutable
set search_path = ''
as $$
  select coalesce(nullif(btrim(split_part(p_error, ':', 1)), ''), 'unknown')
$$;

comment on function public.delivery_error_cause(text) is
  'The cause of a delivery error written as "cause: detail", for summaries by cause.';

-- Reservations in (p_now - p_window, p_now and later], counted only up to p_cap: enough to tell
-- whether the window is full, and bounded however many emails a lifted limit lets through.
create function public.count_email_reservations(
  p_window interval,
  p_cap integer,
  p_now timestamptz default now()
) returns integer
language sql stable
set search_path = ''
as $$
  select count(*)::integer from (
    select 1 from public.message_deliveries
    where reserved_at > p_now - p_window
    limit greatest(p_cap, 0)
  ) r
$$;

comment on function public.count_email_reservations(interval, integer, timestamptz) is
  'Email reservations inside a rolling window ending at p_now, counted up to p_cap.';

-- When a full window frees a slot: the oldest reservation that must leave it, plus the window.
create function public.email_window_frees_at(
  p_window interval,
  p_limit integer,
  p_now timestamptz default now()
) returns timestamptz
language sql stable
set search_path = ''
as $$
  select r.reserved_at + p_window from (
    select reserved_at from public.message_deliveries
    where reserved_at > p_now - p_window
    order by reserved_at
    offset greatest(
      (select count(*) from public.message_deliveries where reserved_at > p_now - p_window)
        - p_limit,
      0
    )
    limit 1
  ) r
$$;

comment on function public.email_window_frees_at(interval, integer, timestamptz) is
  'When the rolling window next holds fewer than p_limit reservations, if it is full now.';

-- Every final delivery error of a message, counted by status and cause, kept within 512
-- characters, most frequent first, so an admin sees at a glance what happened.
create function public.refresh_error_summary(p_message_id bigint, p_prefix text default null)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_counts text;
  v_summary text;
begin
  select string_agg(format('%s %s %s (%s)', n, channel, status, cause), ', '
                    order by n desc, channel, status, cause)
  into v_counts
  from (
    select d.channel, d.status, public.delivery_error_cause(d.error) as cause, count(*) as n
    from public.message_deliveries d
    where d.message_id = p_message_id and d.status in ('failed', 'skipped')
    group by 1, 2, 3
  ) s;

  v_summary := nullif(concat_ws('; ', p_prefix, v_counts), '');
  if char_length(v_summary) > 512 then
    v_summary := left(v_summary, 511) || '…';
  end if;

  update public.messages set error_summary = coalesce(v_summary, error_summary)
  where id = p_message_id and error_summary is distinct from coalesce(v_summary, error_summary);

  return v_summary;
end
$$;

comment on function public.refresh_error_summary(bigint, text) is
  'Recomputes a message''s error_summary (≤ 512 characters) from its failed and skipped deliveries.';

-- Fans the oldest queued message out into deliveries, in one set-based statement: the audience is
-- resolved now, in-app rows are sent at once, email rows wait in the queue. Messages go first in,
-- first out. The conflict clause makes a re-run add nothing. A message whose audience cannot be
-- resolved fails as a whole. Returns null when no message is queued.
create function public.fan_out_next_message(p_now timestamptz default now())
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_message public.messages;
  v_rows bigint;
  v_error text;
begin
  select * into v_message from public.messages
  where status = 'queued'
  order by queued_at, id
  limit 1
  for update skip locked;

  if not found then
    return null;
  end if;

  begin
    insert into public.message_deliveries (message_id, user_id, channel, status, sent_at, created_at)
    select v_message.id, a.user_id, a.channel,
           case when a.channel = 'in_app' then 'sent' else 'queued' end,
           case when a.channel = 'in_app' then p_now end,
           p_now
    from public.resolve_audience(v_message.filters_json, p_now) a
    where v_message.channel = 'both' or a.channel = v_message.channel
    on conflict (message_id, user_id, channel) do nothing;
    get diagnostics v_rows = row_count;
  exception
    when query_canceled then
      raise;
    when others then
      v_error := left('audience_unresolved: ' || sqlerrm, 512);
  end;

  if v_error is not null then
    update public.messages set status = 'failed', completed_at = p_now, updated_at = p_now,
      error_summary = v_error
    where id = v_message.id;
    return jsonb_build_object('message_id', v_message.id, 'status', 'failed', 'error', v_error);
  end if;

  -- The counters were moved by the insert's trigger; a message with nothing left to email is done.
  update public.messages m set
    status = case when m.email_queued = 0 then 'sent' else 'sending' end,
    completed_at = case when m.email_queued = 0 then p_now end,
    updated_at = p_now
  where m.id = v_message.id
  returning * into v_message;

  return jsonb_build_object(
    'message_id', v_message.id,
    'status', v_message.status,
    'inserted', v_rows,
    'in_app', v_message.in_app_sent,
    'email', v_message.email_queued
  );
end
$$;

comment on function public.fan_out_next_message(timestamptz) is
  'Fans the oldest queued message out into message_deliveries (set-based, idempotent); null if none.';

-- Ends the batch a claim cannot send any more: rows of a cancelled message are cancelled, rows
-- that used up their attempts fail with their last error.
create function public.close_email_batch(
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

comment on function public.close_email_batch(uuid, text, text, timestamptz) is
  'Ends every in-flight row of a batch as failed (with its error) or cancelled.';

-- A sending message whose deliveries are all final is sent.
create function public.complete_email_message(p_message_id bigint, p_now timestamptz default now())
returns boolean
language sql
set search_path = ''
as $$
  with done as (
    update public.messages set status = 'sent', completed_at = p_now, updated_at = p_now
    where id = p_message_id and status = 'sending'
      and email_queued = 0 and email_sending = 0 and in_app_queued = 0 and in_app_sending = 0
    returning 1
  )
  select exists (select 1 from done)
$$;

comment on function public.complete_email_message(bigint, timestamptz) is
  'Marks a sending message sent once none of its deliveries is queued or in flight.';

-- Claims the next email batch, whole. The budget row is locked first, which serialises claims:
-- the rolling windows are then counted and reserved without a race, whatever the number of
-- drainers. Order of preference:
--  1. a batch whose lease expired (its drainer died, or it waits for a retry after backoff and the
--     backoff is over): re-claimed whole, with the same id, key and members, so the provider sees
--     the same request again; it already holds its reservation;
--  2. new rows of the oldest sending message, as many as the batch size and both windows allow.
--     Consent is re-checked here: rows whose user opted out, bounced, became invalid or was
--     deleted since queueing are skipped (still using their slot, so the windows only ever
--     over-count) and leave the batch.
-- The claim commits before the provider is called, so a crash never loses a reservation.
create function public.claim_email_batch(
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
begin
  if p_batch_size < 1 or p_lease_seconds < 1 or p_max_attempts < 1
      or p_max_per_minute < 0 or p_max_per_hour < 0 then
    raise exception 'claim_email_batch: batch size, lease and attempts must be positive and '
      'limits not negative';
  end if;

  perform 1 from public.email_send_budget where id for update;

  if (select email_disabled from public.messaging_settings where id) then
    return jsonb_build_object('outcome', 'disabled');
  end if;

  -- 1. Expired leases, oldest first; a batch that cannot be sent any more is closed and the next
  -- one looked at.
  loop
    select d.batch_id, d.message_id, d.attempts, d.error, m.status
    into v_batch_id, v_message_id, v_attempts, v_error, v_message_status
    from public.message_deliveries d
    join public.messages m on m.id = d.message_id
    where d.status = 'sending' and d.lease_expires_at <= p_now
    order by d.lease_expires_at, d.id
    limit 1
    for update of d skip locked;

    exit when not found;

    if v_message_status = 'cancelled' then
      perform public.close_email_batch(v_batch_id, 'cancelled', 'cancelled: the message was cancelled', p_now);
    elsif v_attempts >= p_max_attempts then
      perform public.close_email_batch(
        v_batch_id, 'failed',
        coalesce(v_error, 'outcome_unknown: the drainer stopped before recording the result')
          || format(' (gave up after %s attempts)', v_attempts),
        p_now
      );
    else
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
    end if;
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
    join public.users u on u.id = d.user_id
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

  update public.email_send_budget set last_reserved_at = p_now where id;

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

comment on function public.claim_email_batch(integer, integer, integer, integer, integer, timestamptz) is
  'Claims the next whole email batch under the rolling rate budgets (or re-claims an expired one).';

-- Records what the provider answered for each email of a batch: sent with its provider id, or
-- failed with the provider's reason. Only rows still in flight in this batch change, so a late
-- answer for a batch another drainer already finished changes nothing.
create function public.record_email_batch(
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

comment on function public.record_email_batch(uuid, jsonb, timestamptz) is
  'Records per delivery of a batch: sent with sent_at and provider id, or failed with the error.';

-- A transient failure (429, 5xx, timeout, reset) keeps the batch whole and in flight: its lease
-- is moved to the moment of the retry, so the claim re-takes it then with the same key and
-- payload. Backoff doubles from p_base_seconds up to p_cap_seconds; a Retry-After from the
-- provider is honoured up to p_retry_after_cap_seconds. No jitter: claims are serialised by the
-- budget lock anyway, so retries of different batches cannot stampede. When the attempts are used
-- up the batch fails with the last error.
create function public.retry_email_batch_later(
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

comment on function public.retry_email_batch_later(uuid, text, integer, integer, integer, integer, integer, timestamptz) is
  'Schedules a whole batch for another attempt after backoff, or fails it when attempts are used up.';

-- The job as a whole failed (the provider rejected our credentials): the message is failed, and
-- every delivery of it not yet final fails with the same cause.
create function public.fail_message(
  p_message_id bigint,
  p_error text,
  p_now timestamptz default now()
) returns void
language plpgsql
set search_path = ''
as $$
begin
  update public.message_deliveries set
    status = 'failed',
    error = left(p_error, 1000),
    lease_expires_at = null,
    next_attempt_at = null
  where message_id = p_message_id and status in ('queued', 'sending');

  update public.messages set status = 'failed', completed_at = p_now, updated_at = p_now
  where id = p_message_id and status in ('queued', 'sending');

  perform public.refresh_error_summary(p_message_id, 'job failed: ' || public.delivery_error_cause(p_error));
end
$$;

comment on function public.fail_message(bigint, text, timestamptz) is
  'Fails a message as a whole, with its unfinished deliveries, when the job cannot go on.';

-- What is left of each budget, for GET /messaging/status. Counts are capped at the limits they
-- are compared with, so the answer stays cheap at any volume.
create function public.email_budget_usage(
  p_max_per_minute integer,
  p_max_per_hour integer,
  p_now timestamptz default now()
) returns table (
  minute_used integer,
  hour_used integer,
  messages_last_24h integer,
  next_slot_at timestamptz
)
language sql stable
set search_path = ''
as $$
  with used as (
    select public.count_email_reservations(interval '1 minute', p_max_per_minute, p_now) as m,
           public.count_email_reservations(interval '1 hour', p_max_per_hour, p_now) as h
  )
  select used.m, used.h,
    (select count(*)::integer from public.messages
     where queued_at > p_now - interval '24 hours' and queued_at <= p_now),
    greatest(
      case when used.m >= p_max_per_minute
        then public.email_window_frees_at(interval '1 minute', p_max_per_minute, p_now) end,
      case when used.h >= p_max_per_hour
        then public.email_window_frees_at(interval '1 hour', p_max_per_hour, p_now) end
    )
  from used
$$;

comment on function public.email_budget_usage(integer, integer, timestamptz) is
  'Reservations in the minute and hour windows (capped at the limits), messages queued in 24 h.';

-- The daily cap on messages is checked in the admin's send transaction. The advisory lock makes
-- concurrent sends take turns until their transactions end, so two of them cannot both see one
-- slot left; the count runs after the lock, on a fresh snapshot.
create function public.lock_and_count_messages_queued(p_now timestamptz default now())
returns integer
language plpgsql
set search_path = ''
as $$
begin
  perform pg_advisory_xact_lock(hashtext('hivesync.daily_message_cap'));

  return (
    select count(*) from public.messages
    where queued_at > p_now - interval '24 hours' and queued_at <= p_now
  );
end
$$;

comment on function public.lock_and_count_messages_queued(timestamptz) is
  'Takes the daily-cap lock for the transaction and counts messages queued in the last 24 hours.';

revoke execute on function
  public.delivery_error_cause(text),
  public.count_email_reservations(interval, integer, timestamptz),
  public.email_window_frees_at(interval, integer, timestamptz),
  public.refresh_error_summary(bigint, text),
  public.fan_out_next_message(timestamptz),
  public.close_email_batch(uuid, text, text, timestamptz),
  public.complete_email_message(bigint, timestamptz),
  public.claim_email_batch(integer, integer, integer, integer, integer, timestamptz),
  public.record_email_batch(uuid, jsonb, timestamptz),
  public.retry_email_batch_later(uuid, text, integer, integer, integer, integer, integer, timestamptz),
  public.fail_message(bigint, text, timestamptz),
  public.email_budget_usage(integer, integer, timestamptz),
  public.lock_and_count_messages_queued(timestamptz)
from public, anon, authenticated;

grant execute on function
  public.delivery_error_cause(text),
  public.count_email_reservations(interval, integer, timestamptz),
  public.email_window_frees_at(interval, integer, timestamptz),
  public.refresh_error_summary(bigint, text),
  public.fan_out_next_message(timestamptz),
  public.close_email_batch(uuid, text, text, timestamptz),
  public.complete_email_message(bigint, timestamptz),
  public.claim_email_batch(integer, integer, integer, integer, integer, timestamptz),
  public.record_email_batch(uuid, jsonb, timestamptz),
  public.retry_email_batch_later(uuid, text, integer, integer, integer, integer, integer, timestamptz),
  public.fail_message(bigint, text, timestamptz),
  public.email_budget_usage(integer, integer, timestamptz),
  public.lock_and_count_messages_queued(timestamptz)
to service_role;

-- The admin's send and status requests run as authenticated under RLS (the admin reads every
-- message and delivery), so they may count.
grant execute on function
  public.delivery_error_cause(text),
  public.count_email_reservations(interval, integer, timestamptz),
  public.email_window_frees_at(interval, integer, timestamptz),
  public.email_budget_usage(integer, integer, timestamptz),
  public.lock_and_count_messages_queued(timestamptz)
to authenticated;
