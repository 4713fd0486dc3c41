-- Who may do what. Supabase grants anon and authenticated everything on new tables in public by
-- default; every table here narrows that to what the design's access table allows, and row-level
-- security decides which rows. The service role bypasses RLS and keeps its default grants.
-- One policy per operation and role; auth.uid() and is_admin() are wrapped in a select so the
-- planner evaluates them once per statement rather than once per row.

alter table public.users enable row level security;
alter table public.user_sessions enable row level security;
alter table public.telemetry_events enable row level security;
alter table public.messages enable row level security;
alter table public.message_deliveries enable row level security;
alter table public.user_message_state enable row level security;
alter table public.admins enable row level security;
alter table public.messaging_settings enable row level security;

revoke all on table
  public.users, public.user_sessions, public.telemetry_events, public.messages,
  public.message_deliveries, public.user_message_state, public.admins, public.messaging_settings
from anon, authenticated;

revoke all on all sequences in schema public from anon, authenticated;
revoke execute on function public.is_plausible_email(text) from anon;

-- Source data: a user sees their own account row; the admin reads everything to resolve and count
-- audiences.
grant select on table public.users, public.user_sessions, public.telemetry_events to authenticated;

create policy "users: a user reads their own row" on public.users
for select to authenticated using (id = (select auth.uid()));

create policy "users: the admin reads every row" on public.users
for select to authenticated using ((select public.is_admin()));

create policy "user_sessions: the admin reads every row" on public.user_sessions
for select to authenticated using ((select public.is_admin()));

create policy "telemetry_events: the admin reads every row" on public.telemetry_events
for select to authenticated using ((select public.is_admin()));

-- Admins and settings: the admin reads them and toggles the kill switch; nobody else sees them.
grant select on table public.admins, public.messaging_settings to authenticated;
grant update (email_disabled) on table public.messaging_settings to authenticated;

create policy "admins: the admin reads the list" on public.admins
for select to authenticated using ((select public.is_admin()));

create policy "messaging_settings: the admin reads the settings" on public.messaging_settings
for select to authenticated using ((select public.is_admin()));

create policy "messaging_settings: the admin toggles the kill switch" on public.messaging_settings
for update to authenticated
using ((select public.is_admin()))
with check ((select public.is_admin()));

-- Messages: the admin's alone. Users see banners only through what the user API exposes, never
-- filters_json or error_summary. Counters are not granted: only the delivery triggers move them.
grant select, delete on table public.messages to authenticated;
grant insert (created_by_admin_id, subject, body_markdown, channel, filters_json, expires_at)
  on table public.messages to authenticated;
grant update (
  updated_at, subject, body_markdown, channel, filters_json, expires_at, status,
  target_count_estimate, target_count_in_app, target_count_email, error_summary, queued_at,
  completed_at, retracted_at
) on table public.messages to authenticated;

create policy "messages: the admin reads every message" on public.messages
for select to authenticated using ((select public.is_admin()));

create policy "messages: the admin composes as themself" on public.messages
for insert to authenticated
with check ((select public.is_admin()) and created_by_admin_id = (select auth.uid()));

create policy "messages: the admin edits messages" on public.messages
for update to authenticated
using ((select public.is_admin()))
with check ((select public.is_admin()));

create policy "messages: the admin deletes drafts" on public.messages
for delete to authenticated using ((select public.is_admin()) and status = 'draft');

-- Deliveries: read-only for people. A user reads their own; the admin reads all. Only the service
-- (the drain) and security-definer functions write them.
grant select on table public.message_deliveries to authenticated;

create policy "message_deliveries: a user reads their own" on public.message_deliveries
for select to authenticated using (user_id = (select auth.uid()));

create policy "message_deliveries: the admin reads every delivery" on public.message_deliveries
for select to authenticated using ((select public.is_admin()));

-- Banner state: a user reads and writes their own, and only for banners delivered to them.
grant select on table public.user_message_state to authenticated;
grant insert (user_id, message_id, dismissed, dismissed_at)
  on table public.user_message_state to authenticated;
grant update (dismissed, dismissed_at) on table public.user_message_state to authenticated;

create policy "user_message_state: a user reads their own" on public.user_message_state
for select to authenticated using (user_id = (select auth.uid()));

create policy "user_message_state: a user records state of a banner delivered to them"
on public.user_message_state
for insert to authenticated
with check (
  user_id = (select auth.uid())
  and exists (
    select 1 from public.message_deliveries d
    where d.message_id = user_message_state.message_id
      and d.user_id = (select auth.uid())
      and d.channel = 'in_app'
  )
);

create policy "user_message_state: a user updates their own" on public.user_message_state
for update to authenticated
using (user_id = (select auth.uid()))
with check (user_id = (select auth.uid()));

create policy "user_message_state: the admin reads every row" on public.user_message_state
for select to authenticated using ((select public.is_admin()));
