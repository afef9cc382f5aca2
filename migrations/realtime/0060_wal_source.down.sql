-- realtime.publish as in 0001; the trigger without its condition; the wal source's columns,
-- settings and publication gone. (Drop the replication slot yourself if one was created:
-- SELECT pg_drop_replication_slot('realtimed').)
CREATE OR REPLACE FUNCTION realtime.publish(event text, users text[], rooms text[], payload jsonb)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    recipients_users text[] := coalesce(array_remove(users, NULL), '{}');
    recipients_rooms text[] := coalesce(array_remove(rooms, NULL), '{}');
    max_bytes bigint;
    size bigint;
    new_id bigint;
BEGIN
    IF cardinality(recipients_users) = 0 AND cardinality(recipients_rooms) = 0 THEN
        RETURN NULL;
    END IF;
    IF event IS NULL OR event = '' THEN
        RAISE EXCEPTION 'realtime.publish: the event name is empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT value::bigint INTO max_bytes FROM realtime.settings WHERE key = 'max_event_bytes';
    size := octet_length(coalesce(payload, '{}'::jsonb)::text);
    IF max_bytes IS NOT NULL AND size > max_bytes THEN
        RAISE EXCEPTION 'realtime.publish: payload of event "%" is % bytes, over the limit of % bytes',
            event, size, max_bytes
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Publish less (an id the client can fetch) or raise REALTIME_MAX_EVENT_BYTES.';
    END IF;
    INSERT INTO realtime.events (event, users, rooms, payload)
    VALUES (event, recipients_users, recipients_rooms, coalesce(payload, '{}'::jsonb))
    RETURNING id INTO new_id;
    RETURN new_id;
END;
$$;
DROP PUBLICATION IF EXISTS realtime_messages;
DROP TRIGGER events_on_commit ON realtime.events;
CREATE CONSTRAINT TRIGGER events_on_commit
    AFTER INSERT ON realtime.events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION realtime.on_commit();
DROP INDEX IF EXISTS realtime.events_commit_lsn_idx;
ALTER TABLE realtime.events DROP COLUMN IF EXISTS commit_lsn, DROP COLUMN IF EXISTS commit_index;
ALTER TABLE realtime.settings DROP CONSTRAINT IF EXISTS settings_source_check;
DELETE FROM realtime.settings WHERE key IN ('source', 'wal_appended_lsn');
