-- Who administers messaging, and the database layer of the email kill switch.

create table public.admins (
  user_id uuid primary key references auth.users (id) on delete cascade,
  created_at timestamptz not null default now()
);

comment on table public.admins is
  'Users allowed to administer messaging; HiveSync has one. Never derived from user metadata.';

-- Runs as its owner because callers may not read the admins table; it reveals one bit about the
-- caller only. Policies call it as (select public.is_admin()) so it is evaluated once per query.
create function public.is_admin() returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.admins where user_id = (select auth.uid()))
$$;

comment on function public.is_admin() is
  'Whether the caller (auth.uid() of the request) is a messaging admin; used by policies and the API.';

revoke execute on function public.is_admin() from public, anon;
grant execute on function public.is_admin() to authenticated, service_role;

create table public.messaging_settings (
  id boolean primary key default true check (id),
  email_disabled boolean not null default false,
  email_disabled_changed_by uuid references auth.users (id) on delete set null,
  email_disabled_changed_at timestamptz
);

comment on table public.messaging_settings is
  'Single-row settings of messaging: the kill switch the admin toggles, with who and when.';
comment on column public.messaging_settings.email_disabled is
  'When true no email batch is sent; HIVESYNC_EMAIL_DISABLED=true has the same effect.';

insert into public.messaging_settings (id) values (true);

create function public.messaging_settings_before_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.email_disabled is distinct from old.email_disabled then
    new.email_disabled_changed_by := (select auth.uid());
    new.email_disabled_changed_at := now();
  end if;

  return new;
end
$$;

create trigger messaging_settings_before_update
before update on public.messaging_settings
for each row execute function public.messaging_settings_before_update();
