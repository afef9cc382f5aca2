-- Back to 0010's realtime.on_commit.
CREATE OR REPLACE FUNCTION realtime.on_commit()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    new_pos bigint;
    committed timestamptz;
    head text := '{"id":' || NEW.id || ',"pos":';
    tail text := ',"event":' || to_json(NEW.event)::text || ',"users":' || to_json(NEW.users)::text ||
                 ',"rooms":' || to_json(NEW.rooms)::text || ',"payload":' || NEW.payload::text || '}';
    ts text;
    envelope text;
BEGIN
    -- 'realtime' in ASCII: one lock for the whole stream, held until this transaction has
    -- committed and become visible. Positions are therefore handed out in commit order.
    PERFORM pg_advisory_xact_lock(8243113893085555045);
    new_pos := nextval('realtime.events_pos_seq');
    committed := clock_timestamp();
    UPDATE realtime.events SET pos = new_pos, committed_at = committed WHERE id = NEW.id;
    ts := ',"ts":' || (extract(epoch FROM committed) * 1000000)::bigint;
    envelope := head || new_pos || ts || tail;
    -- NOTIFY refuses payloads of 8000 bytes or more (and fails the transaction): send a reference.
    IF octet_length(envelope) >= 8000 THEN
        envelope := head || new_pos || ts || ',"ref":true}';
    END IF;
    PERFORM pg_notify('realtime', envelope);
    RETURN NULL;
END;
$$;

-- And 0060's realtime.publish.
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
