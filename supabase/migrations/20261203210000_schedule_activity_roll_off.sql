-- The activity summary's hourly roll-off, scheduled wherever pg_cron now exists. The summary's own
-- migration could schedule it only where pg_cron was installed before it ran; on a project where
-- the drain schedule's migration installed pg_cron, the roll-off was left out. Counts are exact
-- without it: the roll-off only frees the space of AI buckets older than the 7-day window.
-- cron.schedule() replaces a job of the same name, so this is safe where the job already exists.

do $$
begin
  if not exists (select 1 from pg_extension where extname = 'pg_cron') then
    raise notice 'pg_cron is not installed: user_activity roll-off is not scheduled';
    return;
  end if;

  perform cron.schedule(
    'hivesync-user-activity-roll-off',
    '17 * * * *',
    'select public.roll_off_user_activity()'
  );
end
$$;
