-- Recipient resolution and the live estimate. Both read only user_activity, in one scan, with a
-- predicate built from exactly the filter keys present (so the planner sees a plain qual with
-- constants, and a million rows cost what counting them costs). Filters are validated here too,
-- because the drain resolves stored filters without passing through the API.

-- Whether a JSON number is a whole number within bounds (1e2 and 7.0 count as whole).
create function public.audience_integer_in(p_value numeric, p_min integer, p_max integer)
returns boolean
language sql immutable parallel safe
set search_path = ''
as $$
  select p_value = trunc(p_value) and p_value between p_min and p_max
$$;

comment on function public.audience_integer_in(numeric, integer, integer) is
  'Whether a filter value is a whole number from p_min to p_max.';

-- Raises 22023 (invalid_parameter_value) naming the offending key; returns nothing when valid.
-- The rules mirror filtersSchema in shared/filters.ts.
create function public.audience_filters_check(p_filters jsonb) returns void
language plpgsql immutable parallel safe
set search_path = ''
as $$
declare
  v_allowed constant text[] := array[
    'plan', 'trial_expires_within_days', 'trial_expired_not_upgraded', 'downgraded_within_days',
    'active_within', 'inactive_for', 'ai_requests_7d_above', 'ai_requests_7d_below',
    'used_preview_30d', 'joined_live_view', 'devices'
  ];
  v_key text;
  v_value jsonb;
  v_min integer;
  v_max integer;
  v_devices text[];
begin
  if p_filters is null or jsonb_typeof(p_filters) <> 'object' then
    raise exception using errcode = '22023',
      message = 'filters must be a JSON object, for example {"plan": "paid"}; {} means all users';
  end if;

  for v_key, v_value in select key, value from jsonb_each(p_filters) loop
    if not v_key = any (v_allowed) then
      raise exception using errcode = '22023',
        message = format('filters: unknown key "%s"; allowed keys are %s', v_key,
                         array_to_string(v_allowed, ', '));
    end if;

    case v_key
      when 'plan' then
        if v_value not in ('"paid"', '"free"', '"trial"') then
          raise exception using errcode = '22023',
            message = 'filters.plan must be one of "paid", "free", "trial"';
        end if;

      when 'active_within' then
        if v_value not in ('"24h"', '"7d"', '"30d"') then
          raise exception using errcode = '22023',
            message = 'filters.active_within must be one of "24h", "7d", "30d"';
        end if;

      when 'inactive_for' then
        if v_value not in ('"7d"', '"30d"') then
          raise exception using errcode = '22023',
            message = 'filters.inactive_for must be one of "7d", "30d"';
        end if;

      when 'trial_expired_not_upgraded', 'used_preview_30d', 'joined_live_view' then
        if v_value <> 'true' then
          raise exception using errcode = '22023',
            message = format('filters.%s must be true; leave the key out to not filter on it',
                             v_key);
        end if;

      when 'devices' then
        if jsonb_typeof(v_value) <> 'array' or jsonb_array_length(v_value) = 0
            or exists (
              select 1 from jsonb_array_elements(v_value) as d
              where d not in ('"desktop"', '"ipad"', '"mobile"', '"vscode"')
            ) then
          raise exception using errcode = '22023',
            message = 'filters.devices must be a non-empty array of "desktop", "ipad", "mobile", '
                      '"vscode"';
        end if;

      else
        -- The integer keys.
        v_min := case v_key when 'ai_requests_7d_above' then 0 else 1 end;
        v_max := case when v_key like 'ai_requests%' then 2147483647 else 365 end;
        if jsonb_typeof(v_value) <> 'number'
            or not public.audience_integer_in(v_value::numeric, v_min, v_max) then
          raise exception using errcode = '22023',
            message = format('filters.%s must be a whole number from %s to %s', v_key, v_min,
                             v_max);
        end if;
    end case;
  end loop;
end
$$;

comment on function public.audience_filters_check(jsonb) is
  'Validates a recipient filter set (version 1); raises 22023 naming the key when it is invalid.';

-- The where clause over user_activity a for a valid filter set. $1 is p_now, $2 its hour number.
-- Values are inlined as literals only after validation, so they are plain numbers and enum words.
create function public.audience_predicate(p_filters jsonb) returns text
language plpgsql immutable parallel safe
set search_path = ''
as $$
declare
  v_window constant jsonb := '{"24h": "24 hours", "7d": "168 hours", "30d": "720 hours"}';
  -- public.ai_requests_7d() inlined: the running total at the hour of p_now minus the one 168
  -- hours before, each found by binary search in the user's hours.
  v_ai_7d constant text :=
    '(coalesce(a.ai_cumulative[width_bucket($2, a.ai_hours)], 0)'
    ' - coalesce(a.ai_cumulative[width_bucket($2 - 168, a.ai_hours)], 0))';
  v_parts text[] := array['not a.deleted'];
  v_mask integer;
begin
  perform public.audience_filters_check(p_filters);

  if p_filters ? 'plan' then
    v_parts := v_parts || format('a.plan = %L', p_filters ->> 'plan');
  end if;

  -- "Ends after now and within N days": the instant of p_now itself is not inside.
  if p_filters ? 'trial_expires_within_days' then
    v_parts := v_parts || format(
      'a.plan = ''trial'' and a.trial_ends_at > $1 and a.trial_ends_at <= $1 + interval ''%s hours''',
      24 * (p_filters ->> 'trial_expires_within_days')::integer);
  end if;

  if p_filters ? 'trial_expired_not_upgraded' then
    v_parts := v_parts || 'a.trial_ends_at <= $1 and a.plan <> ''paid'''::text;
  end if;

  -- downgraded_at is set when the plan leaves paid; being on paid now means paid again since.
  if p_filters ? 'downgraded_within_days' then
    v_parts := v_parts || format(
      'a.downgraded_at >= $1 - interval ''%s hours'' and a.plan <> ''paid''',
      24 * (p_filters ->> 'downgraded_within_days')::integer);
  end if;

  if p_filters ? 'active_within' then
    v_parts := v_parts || format('a.last_active_at >= $1 - interval %L',
                                 v_window ->> (p_filters ->> 'active_within'));
  end if;

  if p_filters ? 'inactive_for' then
    v_parts := v_parts || format(
      '(a.last_active_at is null or a.last_active_at < $1 - interval %L)',
      v_window ->> (p_filters ->> 'inactive_for'));
  end if;

  -- More than X needs at least one request, so rows without buckets are skipped before the sum.
  if p_filters ? 'ai_requests_7d_above' then
    v_parts := v_parts || format('a.ai_cumulative is not null and %s > %s', v_ai_7d,
                                 (p_filters ->> 'ai_requests_7d_above')::integer);
  end if;

  -- Most users have no recent requests: they are below any Y without reading their buckets.
  if p_filters ? 'ai_requests_7d_below' then
    v_parts := v_parts || format('(a.ai_hours is null or %s < %s)', v_ai_7d,
                                 (p_filters ->> 'ai_requests_7d_below')::integer);
  end if;

  if p_filters ? 'used_preview_30d' then
    v_parts := v_parts || 'a.last_preview_at >= $1 - interval ''720 hours'''::text;
  end if;

  if p_filters ? 'joined_live_view' then
    v_parts := v_parts || 'a.joined_live_view'::text;
  end if;

  if p_filters ? 'devices' then
    select bit_or(public.client_bit(d)) into v_mask
    from jsonb_array_elements_text(p_filters -> 'devices') as d;
    v_parts := v_parts || format('a.devices & %s = %s', v_mask, v_mask);
  end if;

  return array_to_string(v_parts, ' and ');
end
$$;

comment on function public.audience_predicate(jsonb) is
  'The where clause over user_activity a for a recipient filter set; $1 = p_now, $2 = its hour.';

-- Both functions turn JIT off: their one query is planned afresh on every call, so compiling it
-- would be paid every time, and on a scan of narrow rows it costs more than it saves (tens of
-- milliseconds at a million users, against an estimate meant to be instant).
create function public.resolve_audience(p_filters jsonb, p_now timestamptz default now())
returns table (user_id uuid, channel text)
language plpgsql stable
set search_path = ''
set jit = off
as $$
begin
  return query execute format(
    'select a.user_id, unnest(case when a.email_reachable then array[''in_app'', ''email'']'
    ' else array[''in_app''] end) from public.user_activity a where %s',
    public.audience_predicate(p_filters)
  ) using p_now, public.hour_number(p_now);
end
$$;

comment on function public.resolve_audience(jsonb, timestamptz) is
  'Recipients of a filter set, one row per user and channel: in_app for every matching user not '
  'deleted; email for those of them with a reachable address (not opted out, bounced or invalid).';

create function public.estimate_audience(p_filters jsonb, p_now timestamptz default now())
returns table (in_app bigint, email bigint, distinct_users bigint)
language plpgsql stable
set search_path = ''
set jit = off
as $$
begin
  -- Email recipients are a subset of in-app ones, so the distinct users are the in-app count.
  return query execute format(
    'select count(*), count(*) filter (where a.email_reachable), count(*)'
    ' from public.user_activity a where %s',
    public.audience_predicate(p_filters)
  ) using p_now, public.hour_number(p_now);
end
$$;

comment on function public.estimate_audience(jsonb, timestamptz) is
  'How many recipients resolve_audience would return: per channel, and distinct users.';

revoke execute on function
  public.audience_integer_in(numeric, integer, integer),
  public.audience_filters_check(jsonb),
  public.audience_predicate(jsonb),
  public.resolve_audience(jsonb, timestamptz),
  public.estimate_audience(jsonb, timestamptz)
from public, anon;

grant execute on function
  public.audience_integer_in(numeric, integer, integer),
  public.audience_filters_check(jsonb),
  public.audience_predicate(jsonb),
  public.resolve_audience(jsonb, timestamptz),
  public.estimate_audience(jsonb, timestamptz)
to authenticated, service_role;
