-- Rules for public.karma_transactions. See docs/events.md for the catalogue.
--
--   INSERT, amount > 0   karma.awarded   → the member whose karma it is
--   INSERT, amount < 0   karma.deducted  → the member whose karma it is
-- Transactions are never changed: updates and deletes publish nothing.
--
-- Payload: transactionId, familyId, userId, amount (signed), balance (the member's balance
-- after this transaction), reason, actorId, transaction (the row, camelCase keys).

CREATE OR REPLACE FUNCTION realtime.rule_karma_transactions()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    payload jsonb := jsonb_build_object(
        'transactionId', NEW.id,
        'familyId', NEW.family_id,
        'userId', NEW.user_id,
        'amount', NEW.amount,
        'balance', NEW.balance_after,
        'reason', NEW.reason,
        'actorId', NEW.actor_id,
        'transaction', realtime.entity(to_jsonb(NEW)));
BEGIN
    IF NEW.amount > 0 THEN
        PERFORM realtime.publish('karma.awarded', ARRAY[NEW.user_id::text], '{}', payload);
    ELSIF NEW.amount < 0 THEN
        PERFORM realtime.publish('karma.deducted', ARRAY[NEW.user_id::text], '{}', payload);
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS realtime_rules ON public.karma_transactions;
CREATE TRIGGER realtime_rules
    AFTER INSERT ON public.karma_transactions
    FOR EACH ROW EXECUTE FUNCTION realtime.rule_karma_transactions();
