-- Rules for public.claims (reward claims). See docs/events.md for the catalogue.
--
--   INSERT                          claim.created    → the claimant
--       (the schema creates the parents' approval task with the claim: approval_task.created)
--   UPDATE status → approved        claim.approved   → the claimant and the family's parents
--   UPDATE status → rejected        claim.rejected   → the claimant and the family's parents
--   UPDATE status → completed       claim.completed  → the claimant and the family's parents
--   UPDATE status → cancelled       claim.cancelled  → the claimant and the family's parents
-- Other updates and deletes publish nothing.
--
-- Payload: claimId, familyId, userId (the claimant), rewardId, status, claim (the row,
-- camelCase keys), reward (the claimed reward); approved and rejected also decidedBy.

-- realtime.claim_payload builds the payload of every claim event; c is the row as jsonb.
CREATE OR REPLACE FUNCTION realtime.claim_payload(c jsonb)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'claimId', c->'id',
        'familyId', c->'family_id',
        'userId', c->'user_id',
        'rewardId', c->'reward_id',
        'status', c->'status',
        'claim', realtime.entity(c),
        'reward', (SELECT realtime.entity(to_jsonb(r)) FROM public.rewards r WHERE r.id = (c->>'reward_id')::uuid))
$$;

CREATE OR REPLACE FUNCTION realtime.rule_claims()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    recipients text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM realtime.publish('claim.created', ARRAY[NEW.user_id::text], '{}', realtime.claim_payload(to_jsonb(NEW)));
        RETURN NULL;
    END IF;
    IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NULL;
    END IF;
    recipients := ARRAY[NEW.user_id::text] || ARRAY(
        SELECT id::text FROM public.users
        WHERE family_id = NEW.family_id AND role = 'parent' AND id <> NEW.user_id);
    CASE NEW.status
        WHEN 'approved' THEN
            PERFORM realtime.publish('claim.approved', recipients, '{}',
                realtime.claim_payload(to_jsonb(NEW)) || jsonb_build_object('decidedBy', NEW.decided_by));
        WHEN 'rejected' THEN
            PERFORM realtime.publish('claim.rejected', recipients, '{}',
                realtime.claim_payload(to_jsonb(NEW)) || jsonb_build_object('decidedBy', NEW.decided_by));
        WHEN 'completed' THEN
            PERFORM realtime.publish('claim.completed', recipients, '{}', realtime.claim_payload(to_jsonb(NEW)));
        WHEN 'cancelled' THEN
            PERFORM realtime.publish('claim.cancelled', recipients, '{}', realtime.claim_payload(to_jsonb(NEW)));
        ELSE
            NULL;
    END CASE;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS realtime_rules ON public.claims;
CREATE TRIGGER realtime_rules
    AFTER INSERT OR UPDATE ON public.claims
    FOR EACH ROW EXECUTE FUNCTION realtime.rule_claims();
