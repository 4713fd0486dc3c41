-- The fan-out of a large audience in chunks, one transaction each, so that no single statement
-- outlasts the drain's time budget (a million users took about a minute in one statement) and a
-- crash loses at most the chunk in progress. A message's audience is cut into ranges of user ids,
-- about p_chunk_users users each, by the leading 32 bits of the uuid; user ids are random, so the
-- ranges hold about as many users each. The message stays queued until its last chunk is in,
-- then goes sending (or sent, with nothing to email) as before. Each chunk's rows and the count of
-- chunks done commit together, so a re-run never inserts a range twice; a range that somehow
-- has rows already is inserted with a conflict clause that adds nothing.

alter table public.messages
  add column fan_out_chunks integer check (fan_out_chunks between 1 and 4096),
  add column fan_out_chunks_done integer not null default 0 check (fan_out_chunks_done >= 0);

comment on column public.messages.fan_out_chunks is
  'Into how many user id ranges the fan-out cuts the audience; set by its first chunk.';
comment on column public.messages.fan_out_chunks_done is 'Ranges fanned out so far.';

-- Where range p_chunk of p_chunks starts in uuid order (the first starts at the lowest uuid).
create function public.fan_out_range_start(p_chunk integer, p_chunks integer) returns uuid
language sql immutable
set search_path = ''
as $$
  select (lpad(to_hex((p_chunk::bigint * 4294967296) / p_chunks), 8, '0')
          || '-0000-0000-0000-000000000000')::uuid
$$;

comment on function public.fan_out_range_start(integer, integer) is
  'The first user id of fan-out range p_chunk (from 0) when the uuid space is cut into p_chunks.';

-- resolve_audience restricted to user ids in [p_from, p_before); a null p_before is unbounded.
create function public.resolve_audience_range(
  p_filters jsonb,
  p_now timestamptz,
  p_from uuid,
  p_before uuid
)
returns table (user_id uuid, channel text)
language plpgsql stable
set search_path = ''
set jit = off
as $$
begin
  return query execute format(
    'select a.user_id, unnest(case when a.email_reachable then array[''in_app'', ''email'']'
    ' else array[''in_app''] end) from public.user_activity a'
    ' where a.user_id >= $3 and ($4::uuid is null or a.user_id < $4) and %s',
    public.audience_predicate(p_filters)
  ) using p_now, public.hour_number(p_now), p_from, p_before;
end
$$;

comment on function public.resolve_audience_range(jsonb, timestamptz, uuid, uuid) is
  'resolve_audience for the users whose id is in [p_from, p_before), for a chunked fan-out.';

drop function public.fan_out_next_message(timestamptz);

-- Fans the next range of the oldest queued message out. Returns null when no message is queued;
-- otherwise the message, its status afterwards (queued while ranges remain) and the rows added.
create function public.fan_out_next_message(
  p_now timestamptz default now(),
  p_chunk_users integer default 100000
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_message public.messages;
  v_chunks integer;
  v_chunk integer;
  v_from uuid;
  v_before uuid;
  v_rows bigint;
  v_error text;
begin
  if p_chunk_users < 1 then
    raise exception 'fan_out_next_message: p_chunk_users must be positive';
  end if;

  select * into v_message from public.messages
  where status = 'queued'
  order by queued_at, id
  limit 1
  for update skip locked;

  if not found then
    return null;
  end if;

  v_chunks := coalesce(
    v_message.fan_out_chunks,
    least(4096, greatest(1, ceil(coalesce(v_message.target_count_estimate, 0)::numeric
                                 / p_chunk_users)::integer))
  );
  v_chunk := v_message.fan_out_chunks_done;
  v_from := public.fan_out_range_start(v_chunk, v_chunks);
  v_before := case when v_chunk + 1 < v_chunks
    then public.fan_out_range_start(v_chunk + 1, v_chunks) end;

  begin
    -- Rows go in in user id order, so delivery ids follow user ids: claims take rows in id order,
    -- and the new index entries each claim and record writes for its rows (every index gets
    -- one, as a status change is never a HOT update) land on neighbouring pages of the indexes
    -- keyed by user id instead of on a hundred random ones.
    -- A range with no rows yet (every first run) takes the plain insert; speculative insertion
    -- (on conflict) costs about as much again per row. Every range done already (a message put
    -- back to queued by hand) adds nothing and only settles the status.
    if v_chunk >= v_chunks then
      v_rows := 0;
    elsif not exists (
      select 1 from public.message_deliveries
      where message_id = v_message.id and user_id >= v_from
        and (v_before is null or user_id < v_before)
    ) then
      insert into public.message_deliveries
        (message_id, user_id, channel, status, sent_at, created_at)
      select v_message.id, a.user_id, a.channel,
             case when a.channel = 'in_app' then 'sent' else 'queued' end,
             case when a.channel = 'in_app' then p_now end,
             p_now
      from public.resolve_audience_range(v_message.filters_json, p_now, v_from, v_before) a
      where v_message.channel = 'both' or a.channel = v_message.channel
      order by a.user_id, a.channel;
      get diagnostics v_rows = row_count;
    else
      insert into public.message_deliveries
        (message_id, user_id, channel, status, sent_at, created_at)
      select v_message.id, a.user_id, a.channel,
             case when a.channel = 'in_app' then 'sent' else 'queued' end,
             case when a.channel = 'in_app' then p_now end,
             p_now
      from public.resolve_audience_range(v_message.filters_json, p_now, v_from, v_before) a
      where v_message.channel = 'both' or a.channel = v_message.channel
      order by a.user_id, a.channel
      on conflict (message_id, user_id, channel) do nothing;
      get diagnostics v_rows = row_count;
    end if;
  exception
    when query_canceled then
      raise;
    when others then
      v_error := left('audience_unresolved: ' || sqlerrm, 512);
  end;

  if v_error is not null then
    -- Emails of the ranges already fanned out fail with the message; nothing claims them now.
    update public.message_deliveries set status = 'failed', error = v_error
    where message_id = v_message.id and status = 'queued';
    update public.messages set status = 'failed', completed_at = p_now, updated_at = p_now,
      error_summary = v_error
    where id = v_message.id;
    return jsonb_build_object('message_id', v_message.id, 'status', 'failed', 'error', v_error);
  end if;

  -- The counters were moved by the insert's trigger. After the last range, a message with
  -- nothing left to email is done.
  update public.messages m set
    fan_out_chunks = v_chunks,
    fan_out_chunks_done = least(v_chunk + 1, v_chunks),
    status = case
      when v_chunk + 1 < v_chunks then 'queued'
      when m.email_queued = 0 then 'sent'
      else 'sending'
    end,
    completed_at = case when v_chunk + 1 >= v_chunks and m.email_queued = 0 then p_now end,
    updated_at = p_now
  where m.id = v_message.id
  returning * into v_message;

  return jsonb_build_object(
    'message_id', v_message.id,
    'status', v_message.status,
    'inserted', v_rows,
    'chunk', least(v_chunk + 1, v_chunks),
    'chunks', v_chunks,
    'in_app', v_message.in_app_sent,
    'email', v_message.email_queued
  );
end
$$;

comment on function public.fan_out_next_message(timestamptz, integer) is
  'Fans the next user id range of the oldest queued message out into deliveries.';

revoke execute on function
  public.fan_out_range_start(integer, integer),
  public.resolve_audience_range(jsonb, timestamptz, uuid, uuid),
  public.fan_out_next_message(timestamptz, integer)
from public, anon, authenticated;

grant execute on function
  public.fan_out_range_start(integer, integer),
  public.resolve_audience_range(jsonb, timestamptz, uuid, uuid),
  public.fan_out_next_message(timestamptz, integer)
to service_role;
