-- Rules for public.message_reads (read receipts). See docs/events.md for the catalogue.
--
--   INSERT   message.read → chat:<chatId>
-- Reading again (an update of read_at) and deletes publish nothing.
--
-- Payload: messageId, chatId, familyId, userId (the reader), readAt, receipt (the row,
-- camelCase keys).

CREATE OR REPLACE FUNCTION realtime.rule_message_reads()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    chat uuid;
    family uuid;
BEGIN
    SELECT m.chat_id, c.family_id INTO chat, family
    FROM public.messages m JOIN public.chats c ON c.id = m.chat_id
    WHERE m.id = NEW.message_id;
    PERFORM realtime.publish(
        'message.read',
        '{}',
        ARRAY['chat:' || chat],
        jsonb_build_object(
            'messageId', NEW.message_id,
            'chatId', chat,
            'familyId', family,
            'userId', NEW.user_id,
            'readAt', NEW.read_at,
            'receipt', realtime.entity(to_jsonb(NEW))));
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS realtime_rules ON public.message_reads;
CREATE TRIGGER realtime_rules
    AFTER INSERT ON public.message_reads
    FOR EACH ROW EXECUTE FUNCTION realtime.rule_message_reads();
