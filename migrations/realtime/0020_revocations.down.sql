DROP FUNCTION IF EXISTS realtime.notify_all(text, text[]);
DROP FUNCTION IF EXISTS realtime.session_expires(text, text, timestamptz);
DROP FUNCTION IF EXISTS realtime.revoke_session(text, text);
DROP FUNCTION IF EXISTS realtime.revoke_chat_member(text, text);
DROP FUNCTION IF EXISTS realtime.session_hash(text);
