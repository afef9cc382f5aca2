-- Rewards and claims. A member claims a reward; the claim waits for a parent's decision
-- through an approval task (tasks.kind = 'approval', tasks.claim_id), which the schema
-- creates with the claim and closes when the claim is decided or cancelled. Claim statuses:
--   pending → approved | rejected | cancelled;  approved → completed | cancelled.

CREATE TABLE rewards (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    family_id   uuid NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    name        text NOT NULL,
    description text,
    cost        integer NOT NULL DEFAULT 0 CHECK (cost >= 0),                  -- in karma
    active      boolean NOT NULL DEFAULT true,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rewards_family_idx ON rewards (family_id);

CREATE TABLE claims (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    family_id    uuid NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    reward_id    uuid NOT NULL REFERENCES rewards (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,       -- the claimant
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'approved', 'rejected', 'completed', 'cancelled')),
    cost         integer NOT NULL CHECK (cost >= 0),                          -- the reward's cost when claimed
    note         text,
    decided_by   uuid REFERENCES users (id) ON DELETE SET NULL,              -- who approved or rejected
    decided_at   timestamptz,
    completed_at timestamptz,
    cancelled_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX claims_family_idx ON claims (family_id);
CREATE INDEX claims_user_idx ON claims (user_id);

-- An approval task belongs to the claim it decides.
ALTER TABLE tasks ADD COLUMN claim_id uuid REFERENCES claims (id) ON DELETE CASCADE;
ALTER TABLE tasks ADD CONSTRAINT tasks_claim_is_approval CHECK (claim_id IS NULL OR kind = 'approval');
CREATE UNIQUE INDEX tasks_claim_idx ON tasks (claim_id) WHERE claim_id IS NOT NULL;

-- claims_check fills a new claim's cost from its reward and, on a status change, refuses a
-- transition the workflow does not have and stamps when it happened.
CREATE FUNCTION claims_check()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.cost IS NULL THEN
            SELECT cost INTO NEW.cost FROM rewards WHERE id = NEW.reward_id;
        END IF;
        IF NEW.status <> 'pending' THEN
            RAISE EXCEPTION 'claims: a new claim is pending, not %', NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NEW;
    END IF;
    IF NOT (OLD.status = 'pending' AND NEW.status IN ('approved', 'rejected', 'cancelled')
            OR OLD.status = 'approved' AND NEW.status IN ('completed', 'cancelled')) THEN
        RAISE EXCEPTION 'claims: a claim cannot go from % to %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    CASE NEW.status
        WHEN 'approved', 'rejected' THEN NEW.decided_at := coalesce(NEW.decided_at, now());
        WHEN 'completed' THEN NEW.completed_at := coalesce(NEW.completed_at, now());
        WHEN 'cancelled' THEN NEW.cancelled_at := coalesce(NEW.cancelled_at, now());
        ELSE NULL;
    END CASE;
    RETURN NEW;
END;
$$;

CREATE TRIGGER claims_check
    BEFORE INSERT OR UPDATE OF status ON claims
    FOR EACH ROW EXECUTE FUNCTION claims_check();

-- claims_approval_task creates the parents' approval task with a new claim, completes it
-- when the claim is approved or rejected (by the deciding parent) and deletes it when the
-- pending claim is cancelled.
CREATE FUNCTION claims_approval_task()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tasks (family_id, kind, name, assignment_type, assigned_role, created_by, claim_id)
        SELECT NEW.family_id, 'approval', 'Approve reward: ' || r.name, 'role', 'parent', NEW.user_id, NEW.id
        FROM rewards r WHERE r.id = NEW.reward_id;
    ELSIF OLD.status = 'pending' AND NEW.status IN ('approved', 'rejected') THEN
        UPDATE tasks SET status = 'completed', completed_by = NEW.decided_by,
                         completed_at = NEW.decided_at
        WHERE claim_id = NEW.id AND status = 'pending' AND deleted_at IS NULL;
    ELSIF OLD.status = 'pending' AND NEW.status = 'cancelled' THEN
        UPDATE tasks SET deleted_at = now()
        WHERE claim_id = NEW.id AND deleted_at IS NULL;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER claims_approval_task
    AFTER INSERT OR UPDATE OF status ON claims
    FOR EACH ROW EXECUTE FUNCTION claims_approval_task();

-- Karma spent on a reward is a transaction that names its claim.
ALTER TABLE karma_transactions ADD COLUMN claim_id uuid REFERENCES claims (id) ON DELETE SET NULL;
