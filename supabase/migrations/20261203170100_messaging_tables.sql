-- The messaging feature's own tables: messages the admin composes, one delivery row per
-- recipient and channel (which is also the email queue), and each user's banner state.

create table public.messages (
  id bigint generated always as identity primary key,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  created_by_admin_id uuid references auth.users (id) on delete set null,
  subject text not null default '' check (char_length(subject) <= 200),
  body_markdown text not null default '' check (char_length(body_markdown) <= 50000),
  channel text not null check (channel in ('in_app', 'email', 'both')),
  filters_json jsonb not null default '{}' check (jsonb_typeof(filters_json) = 'object'),
  status text not null default 'draft'
    check (status in ('draft', 'queued', 'sending', 'sent', 'failed', 'cancelled')),
  target_count_estimate integer check (target_count_estimate >= 0),
  target_count_in_app integer check (target_count_in_app >= 0),
  target_count_email integer check (target_count_email >= 0),
  error_summary text check (char_length(error_summary) <= 512),
  queued_at timestamptz,
  completed_at timestamptz,
  expires_at timestamptz,
  retracted_at timestamptz,
  in_app_queued integer not null default 0,
  in_app_sending integer not null default 0,
  in_app_sent integer not null default 0,
  in_app_failed integer not null default 0,
  in_app_skipped integer not null default 0,
  in_app_cancelled integer not null default 0,
  email_queued integer not null default 0,
  email_sending integer not null default 0,
  email_sent integer not null default 0,
  email_failed integer not null default 0,
  email_skipped integer not null default 0,
  email_cancelled integer not null default 0,
  check (status = 'draft' or queued_at is not null),
  check (expires_at is null or expires_at > created_at),
  check (retracted_at is null or channel in ('in_app', 'both'))
);

comment on table public.messages is
  'A broadcast the admin composes: a draft until sent, then queued, sending and sent or failed.';
comment on column public.messages.filters_json is 'The recipient filter set, version 1.';
comment on column public.messages.target_count_estimate is
  'Distinct users reached on at least one channel, counted when the message was queued.';
comment on column public.messages.error_summary is 'Failure counts by cause, at most 512 characters.';
comment on column public.messages.queued_at is 'When the admin sent it; the drain works oldest first.';
comment on column public.messages.completed_at is 'When it reached sent, failed or cancelled.';
comment on column public.messages.expires_at is 'After this instant its banners are no longer active.';
comment on column public.messages.retracted_at is 'When the admin withdrew its banners.';
comment on column public.messages.email_queued is
  'Per-channel delivery counters, one per status, kept exact by triggers on message_deliveries.';

create index messages_created_at_idx on public.messages (created_at desc, id desc);
create index messages_queued_at_idx on public.messages (queued_at, id)
  where status in ('queued', 'sending');

create table public.message_deliveries (
  id bigint generated always as identity primary key,
  message_id bigint not null references public.messages (id) on delete cascade,
  user_id uuid not null references public.users (id) on delete cascade,
  channel text not null check (channel in ('in_app', 'email')),
  status text not null default 'queued'
    check (status in ('queued', 'sending', 'sent', 'failed', 'skipped', 'cancelled')),
  error text check (char_length(error) <= 1000),
  created_at timestamptz not null default now(),
  sent_at timestamptz,
  batch_id uuid,
  idempotency_key text,
  lease_expires_at timestamptz,
  reserved_at timestamptz,
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz,
  provider_message_id text,
  unique (message_id, user_id, channel),
  check (status <> 'sent' or sent_at is not null),
  check (status <> 'sending' or (batch_id is not null and lease_expires_at is not null)),
  check (channel = 'email' or batch_id is null)
);

comment on table public.message_deliveries is
  'One row per recipient and channel of a message; email rows are the send queue, claimed in '
  'whole batches.';
comment on column public.message_deliveries.error is 'Why the delivery failed or was skipped.';
comment on column public.message_deliveries.batch_id is 'The batch this row was claimed into.';
comment on column public.message_deliveries.idempotency_key is
  'Sent with the batch to the provider; unchanged when a batch is re-claimed.';
comment on column public.message_deliveries.lease_expires_at is
  'Until then the claiming drainer owns the batch; afterwards another drainer may re-claim it.';
comment on column public.message_deliveries.reserved_at is
  'When the email took a slot in the rate budget; rolling windows count these.';
comment on column public.message_deliveries.next_attempt_at is 'Earliest retry after backoff.';

create index message_deliveries_user_id_idx on public.message_deliveries (user_id, message_id);
create index message_deliveries_message_status_idx
  on public.message_deliveries (message_id, status, id);

create table public.user_message_state (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.users (id) on delete cascade,
  message_id bigint not null references public.messages (id) on delete cascade,
  dismissed boolean not null default false,
  dismissed_at timestamptz,
  unique (user_id, message_id),
  check (dismissed = (dismissed_at is not null))
);

comment on table public.user_message_state is 'Per-user state of an in-app banner (dismissal).';

-- Counters move with the deliveries in the same statement, so a page view never counts deliveries.
-- Statement-level triggers with transition tables keep a fan-out of a million rows one update per
-- message instead of a million. Retention deletes old deliveries but keeps their message's
-- counters: it sets hivesync.keep_counters for its transaction. Runs as its owner so the counters
-- move whichever role changed the deliveries; it only adds what the statement itself changed.
create function public.apply_delivery_counts() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_changes text;
begin
  if tg_op = 'DELETE' and current_setting('hivesync.keep_counters', true) = 'on' then
    return null;
  end if;

  -- Each event has only its own transition tables, so the source of the changes is chosen here
  -- and the query runs dynamically (transition tables are visible to execute).
  v_changes := case tg_op
    when 'INSERT' then 'select message_id, channel, status, 1 as delta from new_rows'
    when 'DELETE' then 'select message_id, channel, status, -1 as delta from old_rows'
    -- Only rows whose status moved change a counter; lease or retry bookkeeping changes none.
    else 'select n.message_id, n.channel, n.status, 1 as delta '
      || 'from new_rows n join old_rows o using (id) where n.status <> o.status '
      || 'union all select o.message_id, o.channel, o.status, -1 '
      || 'from old_rows o join new_rows n using (id) where n.status <> o.status'
  end;

  execute format($q$
  with changes as (%s),
  per_message as (
    select
      message_id,
      sum(delta) filter (where channel = 'in_app' and status = 'queued') as in_app_queued,
      sum(delta) filter (where channel = 'in_app' and status = 'sending') as in_app_sending,
      sum(delta) filter (where channel = 'in_app' and status = 'sent') as in_app_sent,
      sum(delta) filter (where channel = 'in_app' and status = 'failed') as in_app_failed,
      sum(delta) filter (where channel = 'in_app' and status = 'skipped') as in_app_skipped,
      sum(delta) filter (where channel = 'in_app' and status = 'cancelled') as in_app_cancelled,
      sum(delta) filter (where channel = 'email' and status = 'queued') as email_queued,
      sum(delta) filter (where channel = 'email' and status = 'sending') as email_sending,
      sum(delta) filter (where channel = 'email' and status = 'sent') as email_sent,
      sum(delta) filter (where channel = 'email' and status = 'failed') as email_failed,
      sum(delta) filter (where channel = 'email' and status = 'skipped') as email_skipped,
      sum(delta) filter (where channel = 'email' and status = 'cancelled') as email_cancelled
    from changes
    group by message_id
  )
  update public.messages m set
    in_app_queued = m.in_app_queued + coalesce(p.in_app_queued, 0),
    in_app_sending = m.in_app_sending + coalesce(p.in_app_sending, 0),
    in_app_sent = m.in_app_sent + coalesce(p.in_app_sent, 0),
    in_app_failed = m.in_app_failed + coalesce(p.in_app_failed, 0),
    in_app_skipped = m.in_app_skipped + coalesce(p.in_app_skipped, 0),
    in_app_cancelled = m.in_app_cancelled + coalesce(p.in_app_cancelled, 0),
    email_queued = m.email_queued + coalesce(p.email_queued, 0),
    email_sending = m.email_sending + coalesce(p.email_sending, 0),
    email_sent = m.email_sent + coalesce(p.email_sent, 0),
    email_failed = m.email_failed + coalesce(p.email_failed, 0),
    email_skipped = m.email_skipped + coalesce(p.email_skipped, 0),
    email_cancelled = m.email_cancelled + coalesce(p.email_cancelled, 0)
  from per_message p
  where m.id = p.message_id
  $q$, v_changes);

  return null;
end
$$;

revoke execute on function public.apply_delivery_counts() from public, anon, authenticated;

-- PostgreSQL allows transition tables only on single-event triggers, hence three of them.
create trigger message_deliveries_count_insert
after insert on public.message_deliveries
referencing new table as new_rows
for each statement execute function public.apply_delivery_counts();

create trigger message_deliveries_count_update
after update on public.message_deliveries
referencing old table as old_rows new table as new_rows
for each statement execute function public.apply_delivery_counts();

create trigger message_deliveries_count_delete
after delete on public.message_deliveries
referencing old table as old_rows
for each statement execute function public.apply_delivery_counts();
