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
