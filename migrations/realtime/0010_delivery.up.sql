-- Delivery guarantees (docs/delivery.md): a shorter commit-order critical section, retention by
-- commit order, and the sessions that connection-state recovery resumes on any node.

-- realtime.on_commit, as in 0001, with two changes:
--  * everything that does not depend on the position (the envelope's text) is built before the
--    commit-order lock is taken, so that the lock, which serializes committing writers, is held
--    for as little as possible: nextval, one UPDATE, pg_notify and the commit itself;
--  * committed_at is read after the lock is taken, so that it never decreases along positions
--    (retention relies on it).
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

-- Retention. Events are pruned as a prefix of the stream: every position below the first event
-- committed within the retention period. Walking the position index from its start finds it
-- (committed_at grows with pos), so no index on a time column is needed (every index costs
-- writers twice: at insert and at the commit-time UPDATE). realtime.settings keeps the highest
-- pruned position: a client asking to recover from an offset below it missed events that are
-- gone, and is told so (socket.recovered === false).
DROP INDEX realtime.events_created_at_idx;
INSERT INTO realtime.settings (key, value) VALUES ('pruned_through', '0') ON CONFLICT (key) DO NOTHING;

CREATE OR REPLACE FUNCTION realtime.prune(older_than interval)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    cutoff timestamptz := now() - older_than;
    keep_from bigint;
    n bigint;
    m bigint;
BEGIN
    SELECT pos INTO keep_from FROM realtime.events
    WHERE pos IS NOT NULL AND committed_at >= cutoff ORDER BY pos LIMIT 1;
    IF keep_from IS NULL THEN
        SELECT coalesce(max(pos), 0) + 1 INTO keep_from FROM realtime.events;
    END IF;
    DELETE FROM realtime.events WHERE pos < keep_from;
    GET DIAGNOSTICS n = ROW_COUNT;
    -- Rows that never got a position (written while triggers were disabled) go by insert time.
    DELETE FROM realtime.events WHERE pos IS NULL AND created_at < cutoff;
    GET DIAGNOSTICS m = ROW_COUNT;
    IF n > 0 THEN
        UPDATE realtime.settings SET value = greatest(value::bigint, keep_from - 1)::text
        WHERE key = 'pruned_through';
    END IF;
    RETURN n + m;
END;
$$;

-- realtime.pruned_through returns the highest position retention has deleted.
CREATE OR REPLACE FUNCTION realtime.pruned_through()
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT coalesce((SELECT value::bigint FROM realtime.settings WHERE key = 'pruned_through'), 0)
$$;

-- Connection-state recovery. A node records each Socket.IO session (pid) of its clients: the
-- user, the rooms, where in the stream the session began, and which node and socket hold it.
-- A client that reconnects to any node with its pid resumes the session there, within the
-- recovery window: counted from the disconnection, or, for the sessions of a node that died
-- without saying goodbye, from that node's last heartbeat in realtime.nodes (0030, kept fresh
-- by every running node).
CREATE TABLE realtime.sessions (
    pid             text PRIMARY KEY,
    user_id         text NOT NULL,
    rooms           text[] NOT NULL DEFAULT '{}',
    rooms_version   bigint NOT NULL DEFAULT 0,      -- orders concurrent room updates of one socket
    pos             bigint NOT NULL,                -- stream position when the session began
    node            text NOT NULL,                  -- the node holding the session
    sid             text NOT NULL,                  -- the socket holding it
    created_at      timestamptz NOT NULL DEFAULT now(),
    disconnected_at timestamptz                     -- NULL while a socket holds it
);
CREATE INDEX sessions_node_idx ON realtime.sessions (node);
CREATE INDEX sessions_disconnected_idx ON realtime.sessions (disconnected_at) WHERE disconnected_at IS NOT NULL;

COMMENT ON TABLE realtime.sessions IS
    'Socket.IO sessions (pid) for connection-state recovery; written by realtimed.';

-- realtime.prune_sessions deletes the sessions that can no longer be recovered: disconnected
-- longer than the window ago, or held by a node that has been silent (no heartbeat for
-- node_silence) for longer than the window, or that is gone; then the rows of those nodes.
-- (realtime.nodes is created by a later migration; PL/pgSQL resolves it when the function runs.)
CREATE OR REPLACE FUNCTION realtime.prune_sessions(recovery_window interval, node_silence interval DEFAULT interval '30 seconds')
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    cutoff timestamptz := now() - recovery_window;
    n bigint;
    m bigint;
BEGIN
    DELETE FROM realtime.sessions WHERE disconnected_at < cutoff;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM realtime.sessions s
    WHERE s.disconnected_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM realtime.nodes d WHERE d.id = s.node AND d.seen_at + node_silence >= cutoff);
    GET DIAGNOSTICS m = ROW_COUNT;
    DELETE FROM realtime.nodes WHERE seen_at + node_silence < cutoff;
    RETURN n + m;
END;
$$;
