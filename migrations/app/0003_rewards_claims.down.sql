ALTER TABLE karma_transactions DROP COLUMN IF EXISTS claim_id;
DROP INDEX IF EXISTS tasks_claim_idx;
ALTER TABLE tasks DROP CONSTRAINT IF EXISTS tasks_claim_is_approval;
ALTER TABLE tasks DROP COLUMN IF EXISTS claim_id;
DROP TABLE IF EXISTS claims, rewards;
DROP FUNCTION IF EXISTS claims_check(), claims_approval_task();
