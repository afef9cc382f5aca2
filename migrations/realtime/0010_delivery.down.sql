DROP FUNCTION IF EXISTS realtime.prune_sessions(interval, interval);
DROP TABLE IF EXISTS realtime.sessions;
DROP FUNCTION IF EXISTS realtime.pruned_through();
DELETE FROM realtime.settings WHERE key = 'pruned_through';
CREATE INDEX IF NOT EXISTS events_created_at_idx ON realtime.events (created_at);

-- realtime.prune and realtime.on_commit as in 0001.
CREATE OR REPLACE FUNCTION realtime.prune(older_than interval)
RETURNS bigint
LANGUAGE sql
AS $$
    WITH gone AS (
        DELETE FROM realtime.events
        WHERE created_at < now() - older_than AND pos IS NOT NULL
        RETURNING 1
    )
    SELECT count(*) FROM gone
$$;

CREATE OR REPLACE FUNCTION realtime.on_commit()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    new_pos bigint;
    committed timestamptz := clock_timestamp();
    envelope text;
BEGIN
    PERFORM pg_advisory_xact_lock(8243113893085555045);
    new_pos := nextval('realtime.events_pos_seq');
    UPDATE realtime.events SET pos = new_pos, committed_at = committed WHERE id = NEW.id;
    envelope := json_build_object(
        'id', NEW.id, 'pos', new_pos, 'event', NEW.event, 'users', NEW.users,
        'rooms', NEW.rooms, 'payload', NEW.payload,
        'ts', (extract(epoch FROM committed) * 1000000)::bigint)::text;
    IF octet_length(envelope) >= 8000 THEN
        envelope := json_build_object('id', NEW.id, 'pos', new_pos, 'ref', true,
            'ts', (extract(epoch FROM committed) * 1000000)::bigint)::text;
    END IF;
    PERFORM pg_notify('realtime', envelope);
    RETURN NULL;
END;
$$;
