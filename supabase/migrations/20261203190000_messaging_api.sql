-- The database side of the messaging API: the banners a user sees, and the admin's state changes
-- of a message (queue, cancel, retract), each one atomic. Their expected failures raise SQLSTATE
-- HS400, HS404 or HS409 with the API's stable error code in DETAIL and, where one field is at
-- fault, its name in HINT; the functions answer them as 400, 404 and 409.

-- Runs as its owner because users have no access to messages at all: it exposes only what a
-- banner shows (id, subject, body, created and expiry) of messages delivered in-app to the caller.
create function public.active_banners(p_now timestamptz default now())
returns table (
  id bigint,
  subject text,
  body_markdown text,
  created_at timestamptz,
  expires_at timestamptz
)
language sql stable
security definer
set search_path = ''
as $$
  select m.id, m.subject, m.body_markdown, m.created_at, m.expires_at
  from public.message_deliveries d
  join public.messages m on m.id = d.message_id
  where d.user_id = (select auth.uid())
    and d.channel = 'in_app'
    and d.status = 'sent'
    and m.retracted_at is null
    and (m.expires_at is null or m.expires_at > p_now)
    and not exists (
      select 1 from public.user_message_state s
      where s.user_id = d.user_id and s.message_id = d.message_id and s.dismissed
    )
  order by m.queued_at desc nulls last, m.id desc
$$;

comment on function public.active_banners(timestamptz) is
  'The caller''s active banners, newest first: delivered in-app, not dismissed, expired or '
  'retracted.';

revoke execute on function public.active_banners(timestamptz) from public, anon;
grant execute on function public.active_banners(timestamptz) to authenticated, service_role;

-- Security invoker: the admin queues under RLS. The row is locked first, so two sends of the same
-- draft cannot both queue it, and the estimate is taken in the same transaction as the change.
create function public.queue_message(p_message_id bigint, p_now timestamptz default now())
returns public.messages
language plpgsql
set search_path = ''
as $$
declare
  v_message public.messages;
  v_in_app bigint;
  v_email bigint;
  v_distinct bigint;
  v_target bigint;
begin
  select * into v_message from public.messages where id = p_message_id for update;
  if not found then
    raise exception 'Message % does not exist.', p_message_id
      using errcode = 'HS404', detail = 'message_not_found';
  end if;

  if v_message.status <> 'draft' then
    raise exception 'Message % is %; only a draft can be sent.', p_message_id, v_message.status
      using errcode = 'HS409', detail = 'invalid_state';
  end if;

  if btrim(v_message.subject) = '' then
    raise exception 'The subject is empty; write a subject before sending.'
      using errcode = 'HS400', detail = 'invalid_content', hint = 'subject';
  end if;

  if btrim(v_message.body_markdown) = '' then
    raise exception 'The body is empty; write the message before sending.'
      using errcode = 'HS400', detail = 'invalid_content', hint = 'body_markdown';
  end if;

  if v_message.expires_at is not null and v_message.expires_at <= p_now then
    raise exception 'The expiry % is already past; clear it or choose a later one.',
      v_message.expires_at
      using errcode = 'HS400', detail = 'invalid_content', hint = 'expires_at';
  end if;

  select e.in_app, e.email, e.distinct_users into v_in_app, v_email, v_distinct
  from public.estimate_audience(v_message.filters_json, p_now) e;

  v_target := case v_message.channel
    when 'in_app' then v_in_app
    when 'email' then v_email
    else v_distinct
  end;

  if coalesce(v_target, 0) = 0 then
    raise exception 'The filters match nobody who can receive this message by %; widen the '
      'filters or choose another channel.', replace(v_message.channel, '_', '-')
      using errcode = 'HS400', detail = 'empty_audience', hint = 'filters';
  end if;

  update public.messages set
    status = 'queued',
    queued_at = p_now,
    updated_at = p_now,
    target_count_estimate = v_target,
    target_count_in_app = case when v_message.channel in ('in_app', 'both') then v_in_app end,
    target_count_email = case when v_message.channel in ('email', 'both') then v_email end
  where id = p_message_id
  returning * into v_message;

  return v_message;
end
$$;

comment on function public.queue_message(bigint, timestamptz) is
  'Sends a draft: checks its content, estimates its audience and marks it queued for the drain.';

revoke execute on function public.queue_message(bigint, timestamptz) from public, anon;
grant execute on function public.queue_message(bigint, timestamptz) to authenticated, service_role;

-- Runs as its owner because the admin has no write access to deliveries (the drain alone writes
-- them); it checks public.is_admin() itself. Batches already claimed (status sending) are in
-- flight at the provider and are left for the drain to finish; only queued rows are cancelled.
create function public.cancel_message(p_message_id bigint, p_now timestamptz default now())
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
  where message_id = p_message_id and status = 'queued';

  update public.messages set status = 'cancelled', completed_at = p_now, updated_at = p_now
  where id = p_message_id
  returning * into v_message;

  return v_message;
end
$$;

comment on function public.cancel_message(bigint, timestamptz) is
  'Cancels a queued or sending message and its deliveries not yet claimed by the drain.';

revoke execute on function public.cancel_message(bigint, timestamptz) from public, anon;
grant execute on function public.cancel_message(bigint, timestamptz) to authenticated, service_role;

-- Security invoker: the admin may update messages under RLS. Retracting twice keeps the first
-- instant, so the call is idempotent.
create function public.retract_message(p_message_id bigint, p_now timestamptz default now())
returns public.messages
language plpgsql
set search_path = ''
as $$
declare
  v_message public.messages;
begin
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

  if v_message.retracted_at is null then
    update public.messages set retracted_at = p_now, updated_at = p_now
    where id = p_message_id
    returning * into v_message;
  end if;

  return v_message;
end
$$;

comment on function public.retract_message(bigint, timestamptz) is
  'Withdraws the banners of a sending or sent in-app message; they stop being active at once.';

revoke execute on function public.retract_message(bigint, timestamptz) from public, anon;
grant execute on function public.retract_message(bigint, timestamptz) to authenticated, service_role;
