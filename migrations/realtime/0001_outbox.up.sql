-- The realtime schema: the outbox, the publish function and commit-ordered offsets.
--
-- Offsets. realtime.events.id is assigned when a row is inserted, so ids are not in commit
-- order: a transaction that inserts id 10 may commit after one that inserted id 11. A client
-- that saw 11 and asks for "everything after 11" would never get 10. So every event also gets
-- a position, pos, assigned *at commit*: a deferred constraint trigger takes a transaction-level
-- advisory lock and draws the next value of realtime.events_pos_seq. The lock is held until the
-- transaction has committed and become visible, so positions are handed out in commit order, and
-- any snapshot that sees position P sees every position below P. "Every event after position
-- X" (WHERE pos > X ORDER BY pos) is then exactly what a listener receives live after X.
-- Notifying transactions already commit one at a time (PostgreSQL serializes NOTIFY at commit),
-- so the lock adds little; see docs/ for the measured cost.

CREATE SCHEMA IF NOT EXISTS realtime;

CREATE TABLE realtime.settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO realtime.settings (key, value) VALUES ('max_event_bytes', '1048576');

CREATE SEQUENCE realtime.events_pos_seq AS bigint;

CREATE TABLE realtime.events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pos          bigint UNIQUE,                -- commit-ordered offset, NULL until commit
    event        text NOT NULL CHECK (event <> ''),
    users        text[] NOT NULL DEFAULT '{}',
    rooms        text[] NOT NULL DEFAULT '{}',
    payload      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    committed_at timestamptz
);
CREATE INDEX events_created_at_idx ON realtime.events (created_at);

COMMENT ON TABLE realtime.events IS
    'Outbox of realtime events. Write with realtime.publish(); pos is the commit-ordered offset.';

-- realtime.publish is the only function a rule calls. It returns the event id, or NULL when
-- there is nobody to send it to.
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

-- realtime.on_commit runs for each new event when its transaction commits: it assigns the
-- commit-ordered position and notifies listeners. Envelopes that would not fit NOTIFY's
-- 8000-byte limit are sent as a reference that the listener resolves by reading the row.
CREATE OR REPLACE FUNCTION realtime.on_commit()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    new_pos bigint;
    committed timestamptz := clock_timestamp();
    envelope text;
BEGIN
    -- 'realtime' in ASCII: one lock for the whole stream, held until this transaction ends.
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

CREATE CONSTRAINT TRIGGER events_on_commit
    AFTER INSERT ON realtime.events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION realtime.on_commit();

-- Helpers for rules.

-- realtime.camel turns a snake_case name into camelCase: family_id → familyId.
CREATE OR REPLACE FUNCTION realtime.camel(name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT string_agg(CASE WHEN ord = 1 THEN part ELSE upper(left(part, 1)) || substr(part, 2) END,
                      '' ORDER BY ord)
    FROM unnest(string_to_array(name, '_')) WITH ORDINALITY AS t(part, ord)
$$;

-- realtime.entity turns a row (to_jsonb(NEW)) into the object clients expect: camelCase keys.
CREATE OR REPLACE FUNCTION realtime.entity(obj jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(jsonb_object_agg(realtime.camel(key), value), '{}'::jsonb)
    FROM jsonb_each(obj)
$$;

-- realtime.prune deletes committed events older than the retention period.
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
