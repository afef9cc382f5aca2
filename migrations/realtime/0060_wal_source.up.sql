-- The wal source (docs/delivery.md, "The wal source"). realtime.settings 'source' says how
-- realtime.publish hands events on:
--  * 'notify' (the default, as before): an outbox row, positioned at commit by
--    realtime.on_commit under the stream's advisory lock, and a NOTIFY;
--  * 'wal': one transactional logical message (pg_logical_emit_message, prefix 'realtime'),
--    and nothing else in the writer's transaction: no row, no commit trigger, no lock, no
--    NOTIFY. The node elected to read the logical replication slot decodes the messages of
--    each committed transaction and appends them to realtime.events in commit order, under the
--    same advisory lock, with positions from the same sequence.
-- realtimed sets the source at start (REALTIME_SOURCE); rules never change.

INSERT INTO realtime.settings (key, value) VALUES ('source', 'notify') ON CONFLICT (key) DO NOTHING;
ALTER TABLE realtime.settings ADD CONSTRAINT settings_source_check
    CHECK (key <> 'source' OR value IN ('notify', 'wal'));

-- Where an appended event came from: its transaction's commit LSN and its index among the
-- transaction's events (0, 1, …). NULL for events of the notify source. The reader appends a
-- transaction's events together, in one transaction, so a transaction's first event (index 0)
-- identifies the whole transaction: unique on the commit LSN of first events, an append
-- replayed after a crash (before the slot's position was confirmed) cannot add a transaction
-- twice. One index entry per transaction rather than per event (a full (commit_lsn,
-- commit_index) index cost the reader a third of its insert time for large transactions);
-- partial, so notify writers do not pay for it.
ALTER TABLE realtime.events ADD COLUMN commit_lsn pg_lsn, ADD COLUMN commit_index integer;
CREATE UNIQUE INDEX events_commit_lsn_idx ON realtime.events (commit_lsn) WHERE commit_index = 0;

-- The commit LSN of the last transaction the reader appended (the reader skips transactions at
-- or below it: they are in the stream already, even when retention has pruned them since).
INSERT INTO realtime.settings (key, value) VALUES ('wal_appended_lsn', '0/0') ON CONFLICT (key) DO NOTHING;

-- The reader inserts rows that already have a position: the commit trigger leaves them alone.
DROP TRIGGER events_on_commit ON realtime.events;
CREATE CONSTRAINT TRIGGER events_on_commit
    AFTER INSERT ON realtime.events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.pos IS NULL) EXECUTE FUNCTION realtime.on_commit();

-- pgoutput needs a publication to start; this one publishes no table (only the messages).
CREATE PUBLICATION realtime_messages;

-- realtime.publish, same contract as before in both sources: NULL when there is nobody to send
-- the event to, an error for an empty name, SQLSTATE 54000 (with a hint) over the size limit,
-- delivered only if the transaction commits. It returns, with the notify source, the event's
-- id in realtime.events; with the wal source, the WAL position (LSN) of the logical message as
-- a number (pg_lsn - '0/0'), since the event's row only exists once the reader has appended it
-- (that row then has commit_lsn set: the message's transaction's commit LSN). Both settings are
-- read in one index scan of realtime.settings (the maximum size was read before too).
CREATE OR REPLACE FUNCTION realtime.publish(event text, users text[], rooms text[], payload jsonb)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    recipients_users text[] := coalesce(array_remove(users, NULL), '{}');
    recipients_rooms text[] := coalesce(array_remove(rooms, NULL), '{}');
    body jsonb := coalesce(payload, '{}'::jsonb);
    max_bytes bigint;
    mode text;
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
    SELECT value INTO mode FROM realtime.settings WHERE key = 'source';
    size := octet_length(body::text);
    IF max_bytes IS NOT NULL AND size > max_bytes THEN
        RAISE EXCEPTION 'realtime.publish: payload of event "%" is % bytes, over the limit of % bytes',
            event, size, max_bytes
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Publish less (an id the client can fetch) or raise REALTIME_MAX_EVENT_BYTES.';
    END IF;
    IF mode = 'wal' THEN
        RETURN (pg_logical_emit_message(true, 'realtime',
            '{"event":' || to_json(event)::text || ',"users":' || to_json(recipients_users)::text ||
            ',"rooms":' || to_json(recipients_rooms)::text || ',"payload":' || body::text || '}') - '0/0'::pg_lsn)::bigint;
    END IF;
    INSERT INTO realtime.events (event, users, rooms, payload)
    VALUES (event, recipients_users, recipients_rooms, body)
    RETURNING id INTO new_id;
    RETURN new_id;
END;
$$;
