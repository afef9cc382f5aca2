-- Rules for public.chats. See docs/events.md for the catalogue.
--
--   UPDATE of anything a client shows (not updated_at alone)   chat.updated → every member
-- A new chat has no members yet (chat_members.sql announces them); deleting a chat removes
-- its members, and each removal is announced by chat_members.sql.
--
-- Payload: chatId, familyId, chat (the row, camelCase keys).

CREATE OR REPLACE FUNCTION realtime.rule_chats()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF to_jsonb(NEW) - 'updated_at' IS NOT DISTINCT FROM to_jsonb(OLD) - 'updated_at' THEN
        RETURN NULL;
    END IF;
    PERFORM realtime.publish(
        'chat.updated',
        ARRAY(SELECT user_id::text FROM public.chat_members WHERE chat_id = NEW.id),
        '{}',
        jsonb_build_object(
            'chatId', NEW.id,
            'familyId', NEW.family_id,
            'chat', realtime.entity(to_jsonb(NEW))));
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS realtime_rules ON public.chats;
CREATE TRIGGER realtime_rules
    AFTER UPDATE ON public.chats
    FOR EACH ROW EXECUTE FUNCTION realtime.rule_chats();
