-- Rules for public.sessions: live revocation of session-authenticated sockets.
--
-- A session deleted, or whose token or user changes, disconnects on every node the sockets
-- that authenticated with it (realtime.revoke_session); a changed expiry moves the moment they
-- are disconnected (realtime.session_expires: at once when it has passed). Sessions are named by
-- the hash of their token (realtime.session_hash): no token travels in a notification.

CREATE OR REPLACE FUNCTION realtime.rule_sessions()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM realtime.revoke_session(OLD.user_id::text, realtime.session_hash(OLD.token));
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.token IS DISTINCT FROM OLD.token OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
            PERFORM realtime.revoke_session(OLD.user_id::text, realtime.session_hash(OLD.token));
        ELSIF NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
            PERFORM realtime.session_expires(NEW.user_id::text, realtime.session_hash(NEW.token), NEW.expires_at);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS realtime_rules ON public.sessions;
CREATE TRIGGER realtime_rules
    AFTER UPDATE OR DELETE ON public.sessions
    FOR EACH ROW EXECUTE FUNCTION realtime.rule_sessions();
