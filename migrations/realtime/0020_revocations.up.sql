-- Revocations that take effect on live connections, and control messages between nodes.
--
-- Revocations travel in the event stream, so that they are ordered with the events: once the
-- transaction that removes a chat member has committed, the member's sockets leave the chat's
-- room on every node before any later event of that chat is delivered. They are internal
-- events: published to the room realtime:internal, which no client can join, and handled by
-- realtimed itself, never delivered to clients. Rules call the functions below (see
-- sql/triggers/chat_members.sql and sessions.sql).

-- realtime.session_hash identifies a session token without revealing it: sessions are revoked
-- by hash, so no token ever travels in a notification or reaches a log.
CREATE OR REPLACE FUNCTION realtime.session_hash(token text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT encode(sha256(convert_to(token, 'UTF8')), 'hex') $$;

-- realtime.revoke_chat_member: user_id leaves chat:<chat_id> on every node, at this
-- transaction's place in the stream.
CREATE OR REPLACE FUNCTION realtime.revoke_chat_member(chat_id text, user_id text)
RETURNS bigint
LANGUAGE sql
AS $$
    SELECT realtime.publish('realtime.revoke_chat_member', '{}', ARRAY['realtime:internal'],
        jsonb_build_object('chatId', chat_id, 'userId', user_id))
    WHERE chat_id IS NOT NULL AND user_id IS NOT NULL
$$;

-- realtime.revoke_session: the sockets of user_id that authenticated with the session whose
-- token hashes to token_hash (realtime.session_hash) are disconnected on every node; their
-- clients reconnect and must authenticate again.
CREATE OR REPLACE FUNCTION realtime.revoke_session(user_id text, token_hash text)
RETURNS bigint
LANGUAGE sql
AS $$
    SELECT realtime.publish('realtime.revoke_session', '{}', ARRAY['realtime:internal'],
        jsonb_build_object('userId', user_id, 'sessionHash', token_hash))
    WHERE user_id IS NOT NULL AND token_hash IS NOT NULL
$$;

-- realtime.session_expires: the session's expiry changed; its sockets are disconnected at
-- expires_at (at once when it has passed) instead of at the expiry they authenticated with.
CREATE OR REPLACE FUNCTION realtime.session_expires(user_id text, token_hash text, expires_at timestamptz)
RETURNS bigint
LANGUAGE sql
AS $$
    SELECT realtime.publish('realtime.session_expires', '{}', ARRAY['realtime:internal'],
        jsonb_build_object('userId', user_id, 'sessionHash', token_hash,
            'expiresAt', (extract(epoch FROM expires_at) * 1000)::bigint))
    WHERE user_id IS NOT NULL AND token_hash IS NOT NULL AND expires_at IS NOT NULL
$$;

-- realtime.notify_all sends payloads on channel in array order, in the caller's transaction: one
-- round trip for a batch of control messages (typing indicators) from a node to every node.
CREATE OR REPLACE FUNCTION realtime.notify_all(channel text, payloads text[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    payload text;
BEGIN
    FOREACH payload IN ARRAY coalesce(payloads, '{}') LOOP
        PERFORM pg_notify(channel, payload);
    END LOOP;
END;
$$;
