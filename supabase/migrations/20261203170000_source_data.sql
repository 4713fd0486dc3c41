-- The data HiveSync's apps and backend write and the messaging feature reads: one row per
-- account, login sessions per client, and telemetry events. Created by HiveSync, not by Supabase.

create table public.users (
  id uuid primary key references auth.users (id) on delete cascade,
  email text,
  plan text not null default 'free' check (plan in ('free', 'trial', 'paid')),
  trial_ends_at timestamptz,
  downgraded_at timestamptz,
  email_opt_out boolean not null default false,
  email_bounced boolean not null default false,
  email_invalid boolean not null default false,
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.users is
  'One row per HiveSync account, created and kept in sync from auth.users by triggers.';
comment on column public.users.email is 'Copied from auth.users.email; null for accounts without one.';
comment on column public.users.trial_ends_at is 'When the current or last trial ends or ended.';
comment on column public.users.downgraded_at is
  'When the account last moved from paid to a lower plan; set by a trigger when plan leaves paid.';
comment on column public.users.email_opt_out is 'No broadcasts; system emails are outside this flag.';
comment on column public.users.email_bounced is 'The provider reported a hard bounce for the address.';
comment on column public.users.email_invalid is
  'The address fails a syntax check, or a provider rejected it as invalid.';
comment on column public.users.deleted_at is 'Soft deletion: a deleted user never receives anything.';

-- A deliberately loose syntax check: one @, something on each side, a dot in the domain, no
-- whitespace. Providers do the strict check; this only keeps obvious garbage out of batches.
create function public.is_plausible_email(p_email text) returns boolean
language sql immutable
set search_path = ''
as $$
  select p_email is not null
    and char_length(p_email) <= 254
    and p_email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'
$$;

comment on function public.is_plausible_email(text) is
  'Whether an address passes the syntax check behind users.email_invalid.';

create function public.users_before_write() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    new.email_invalid := new.email_invalid or not public.is_plausible_email(new.email);
  elsif new.email is distinct from old.email then
    -- A new address starts fresh: only its own syntax decides, not the old address's history.
    new.email_invalid := not public.is_plausible_email(new.email);
  end if;

  if tg_op = 'UPDATE' then
    if old.plan = 'paid' and new.plan <> 'paid'
        and new.downgraded_at is not distinct from old.downgraded_at then
      new.downgraded_at := now();
    end if;
    new.updated_at := now();
  end if;

  return new;
end
$$;

create trigger users_before_write
before insert or update on public.users
for each row execute function public.users_before_write();

-- Runs as its owner because the signing-up user's role cannot write public.users.
create function public.sync_user_from_auth() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    insert into public.users (id, email, created_at)
    values (new.id, new.email, coalesce(new.created_at, now()))
    on conflict (id) do update set email = excluded.email;
  elsif new.email is distinct from old.email then
    update public.users set email = new.email where id = new.id;
  end if;

  return new;
end
$$;

revoke execute on function public.sync_user_from_auth() from public, anon, authenticated;

create trigger sync_user_from_auth
after insert or update of email on auth.users
for each row execute function public.sync_user_from_auth();

create table public.user_sessions (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.users (id) on delete cascade,
  client text not null check (client in ('desktop', 'ipad', 'mobile', 'vscode')),
  started_at timestamptz not null,
  last_seen_at timestamptz not null,
  check (last_seen_at >= started_at)
);

comment on table public.user_sessions is
  'Login sessions of HiveSync clients; last_seen_at advances while the session is in use.';

create index user_sessions_user_id_idx on public.user_sessions (user_id);

create table public.telemetry_events (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.users (id) on delete cascade,
  kind text not null check (char_length(kind) between 1 and 64),
  client text check (client in ('desktop', 'ipad', 'mobile', 'vscode')),
  occurred_at timestamptz not null
);

comment on table public.telemetry_events is
  'Product telemetry (ai_request, preview_used, live_view_joined, ...); may arrive late.';
comment on column public.telemetry_events.kind is
  'Open set written by the apps; the messaging feature reads ai_request, preview_used and '
  'live_view_joined.';

create index telemetry_events_user_id_idx on public.telemetry_events (user_id, occurred_at);
