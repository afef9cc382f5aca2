-- Rules for public.messages. See docs/events.md for the catalogue.
--
--   INSERT                               message.new      → chat:<chatId>
--   UPDATE that sets deleted_at          message.deleted  → chat:<chatId>
--   UPDATE of anything else              message.updated  → chat:<chatId>
--   DELETE of a message not yet deleted  message.deleted  → chat:<chatId>
-- A deleted message publishes nothing more; an update that changes nothing publishes nothing.
--
-- Payload: messageId, chatId, familyId, userId (the sender), message (the row, camelCase keys).

-- realtime.message_payload builds the payload of every message event; m is the row as jsonb.
CREATE OR REPLACE FUNCTION realtime.message_payload(m jsonb)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'messageId', m->'id',
        'chatId', m->'chat_id',
        'familyId', (SELECT family_id FROM public.chats WHERE id = (m->>'chat_id')::uuid),
        'userId', m->'user_id',
        'message', realtime.entity(m))
$$;

CREATE OR REPLACE FUNCTION realtime.rule_messages()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.deleted_at IS NULL THEN
            PERFORM realtime.publish('message.deleted', '{}', ARRAY['chat:' || OLD.chat_id],
                                     realtime.message_payload(to_jsonb(OLD)));
        END IF;
    ELSIF TG_OP = 'INSERT' THEN
        IF NEW.deleted_at IS NULL THEN
            PERFORM realtime.publish('message.new', '{}', ARRAY['chat:' || NEW.chat_id],
                                     realtime.message_payload(to_jsonb(NEW)));
        END IF;
    ELSIF OLD.deleted_at IS NOT NULL OR to_jsonb(NEW) = to_jsonb(OLD) THEN
        NULL; -- already deleted, or nothing changed
    ELSIF NEW.deleted_at IS NOT NULL THEN
        PERFORM realtime.publish('message.deleted', '{}', ARRAY['chat:' || NEW.chat_id],
                                 realtime.message_payload(to_jsonb(NEW)));
    ELSE
        PERFORM realtime.publish('message.updated', '{}', ARRAY['chat:' || NEW.chat_id],
                                 realtime.message_payload(to_jsonb(NEW)));
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS realtime_rules ON public.messages;
CREATE TRIGGER realtime_rules
    AFTER INSERT OR UPDATE OR DELETE ON public.messages
    FOR EACH ROW EXECUTE FUNCTION realtime.rule_messages();
