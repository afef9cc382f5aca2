-- How much reading the source costs realtime.publish (migration 0060): settings lookups against a
-- GUC, in a PL/pgSQL loop, 3 rounds. Run on a migrated database:
--   psql "$DATABASE_URL" -f scripts/source-lookup-bench.sql
SET realtime.source = 'wal';
DO $$
DECLARE t0 timestamptz; v text; a text; b text; i int; n int := 200000; r int;
BEGIN
  FOR r IN 1..3 LOOP
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP SELECT value INTO v FROM realtime.settings WHERE key = 'max_event_bytes'; END LOOP;
  RAISE NOTICE 'round %: one-key lookup (0001, what publish already did): % us/call', r, round(extract(epoch FROM clock_timestamp()-t0)*1e6/n, 3);
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP SELECT max(value) FILTER (WHERE key = 'max_event_bytes'), max(value) FILTER (WHERE key = 'source') INTO a, b FROM realtime.settings WHERE key IN ('max_event_bytes', 'source'); END LOOP;
  RAISE NOTICE 'round %: two-key lookup (0060): % us/call', r, round(extract(epoch FROM clock_timestamp()-t0)*1e6/n, 3);
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP SELECT value INTO v FROM realtime.settings WHERE key = 'max_event_bytes'; SELECT value INTO b FROM realtime.settings WHERE key = 'source'; END LOOP;
  RAISE NOTICE 'round %: two one-key lookups: % us/call', r, round(extract(epoch FROM clock_timestamp()-t0)*1e6/n, 3);
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP SELECT value INTO v FROM realtime.settings WHERE key = 'max_event_bytes'; b := current_setting('realtime.source', true); END LOOP;
  RAISE NOTICE 'round %: one-key lookup + GUC: % us/call', r, round(extract(epoch FROM clock_timestamp()-t0)*1e6/n, 3);
  END LOOP;
END $$;
