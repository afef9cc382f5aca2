-- Rules for public.chat_members. See docs/events.md for the catalogue.
--
--   INSERT   chat.member_added    → every member, the new one included
--   DELETE   chat.member_removed  → every remaining member and the removed one
--   UPDATE that moves a membership (chat_id or user_id): removed for the old, added for the new
--
-- Payload: chatId, familyId, userId (the member added or removed), member (the membership
-- row, camelCase keys), chat (the chat, null when the chat itself is being deleted).
--
-- Live revocation: a member removed (or moved) also leaves chat:<chatId> on every node, ordered
-- with the events (realtime.revoke_chat_member): the removed user receives chat.member_removed,
-- then no later event of the chat. Deleting a chat or a user cascades here, so their members
-- leave too.

-- realtime.chat_member_event publishes event for the membership m (the row as jsonb) to the
-- chat's members and m's user. The row is already in (INSERT) or out of (DELETE) the table.
CREATE OR REPLACE FUNCTION realtime.chat_member_event(event text, m jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    member_chat uuid := (m->>'chat_id')::uuid;
    member_user uuid := (m->>'user_id')::uuid;
    chat jsonb;
    family uuid;
BEGIN
    SELECT to_jsonb(c) INTO chat FROM public.chats c WHERE c.id = member_chat;
    family := coalesce((chat->>'family_id')::uuid, (SELECT u.family_id FROM public.users u WHERE u.id = member_user));
    IF family IS NULL THEN
        RETURN; -- the family is being deleted: nobody is left to tell
    END IF;
    PERFORM realtime.publish(
        event,
        ARRAY(SELECT cm.user_id::text FROM public.chat_members cm
              WHERE cm.chat_id = member_chat AND cm.user_id <> member_user)
            || member_user::text,
        '{}',
        jsonb_build_object(
            'chatId', member_chat,
            'familyId', family,
            'userId', member_user,
            'member', realtime.entity(m),
            'chat', CASE WHEN chat IS NOT NULL THEN realtime.entity(chat) END));
END;
$$;

CREATE OR REPLACE FUNCTION realtime.rule_chat_members()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.chat_id, NEW.user_id) IS NOT DISTINCT FROM (OLD.chat_id, OLD.user_id) THEN
        RETURN NULL; -- joined_at alone: nothing a client shows
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        -- The user is out of the chat.
        PERFORM realtime.chat_member_event('chat.member_removed', to_jsonb(OLD));
        PERFORM realtime.revoke_chat_member(OLD.chat_id::text, OLD.user_id::text);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        -- The user is in the chat.
        PERFORM realtime.chat_member_event('chat.member_added', to_jsonb(NEW));
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS realtime_rules ON public.chat_members;
CREATE TRIGGER realtime_rules
    AFTER INSERT OR UPDATE OR DELETE ON public.chat_members
    FOR EACH ROW EXECUTE FUNCTION realtime.rule_chat_members();
