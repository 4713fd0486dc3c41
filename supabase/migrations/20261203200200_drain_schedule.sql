-- Schedules the drain every minute on hosted Supabase: pg_cron runs a job that POSTs the drain
-- function's URL through pg_net, with the URL and the bearer secret read from Vault at each run
-- (secrets named hivesync_drain_url and hivesync_drain_secret), so neither is written into the
-- job. Where pg_cron, pg_net or Vault is missing (the embedded database, a plain PostgreSQL) the
-- migration only says so in a notice and applies; the local stack calls the same URL on its own
-- timer instead. Running it again replaces the job rather than adding a second one.

do $migration$
declare
  v_missing text[] := '{}';
begin
  if not exists (select 1 from pg_extension where extname = 'pg_cron') then
    begin
      create extension if not exists pg_cron;
    exception
      when others then
        v_missing := v_missing || format('pg_cron (%s)', sqlerrm);
    end;
  end if;

  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    begin
      create extension if not exists pg_net;
    exception
      when others then
        v_missing := v_missing || format('pg_net (%s)', sqlerrm);
    end;
  end if;

  if to_regclass('vault.decrypted_secrets') is null then
    v_missing := v_missing || 'Vault (vault.decrypted_secrets)'::text;
  end if;

  if cardinality(v_missing) > 0 then
    raise notice 'The drain is not scheduled in the database: missing %. Call the drain URL '
      'from a scheduler of your own (the local stack does).', array_to_string(v_missing, ', ');
    return;
  end if;

  perform cron.schedule(
    'hivesync-drain',
    '* * * * *',
    $job$
    select net.http_post(
      url := (select decrypted_secret from vault.decrypted_secrets
              where name = 'hivesync_drain_url'),
      headers := jsonb_build_object(
        'Content-Type', 'application/json',
        'Authorization', 'Bearer ' || (select decrypted_secret from vault.decrypted_secrets
                                       where name = 'hivesync_drain_secret')
      ),
      body := '{}'::jsonb,
      timeout_milliseconds := 10000
    )
    $job$
  );
end
$migration$;
