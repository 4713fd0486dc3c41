-- Retention: deliveries older than the retention are removed in bounded chunks, so the queue table
-- does not grow without bound. Their messages keep their counters (the delete sets
-- hivesync.keep_counters for its statement), so history still shows how a message went. Only
-- final deliveries go; anything still queued or in flight stays, whatever its age. The drain runs
-- this once per call, which makes it a scheduled job wherever the drain is scheduled.

create function public.purge_expired_deliveries(
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

  perform set_config('hivesync.keep_counters', coalesce(v_previous, ''), true);
  return v_rows;
end
$$;

comment on function public.purge_expired_deliveries(integer, integer, timestamptz) is
  'Deletes up to p_limit final deliveries older than the retention, keeping message counters.';

revoke execute on function public.purge_expired_deliveries(integer, integer, timestamptz)
from public, anon, authenticated;
grant execute on function public.purge_expired_deliveries(integer, integer, timestamptz)
to service_role;
