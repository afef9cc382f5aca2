-- Karma: a ledger of signed transactions per member and the balance it adds up to.
-- A transaction is never changed: a correction is a new transaction. Inserting one updates
-- the member's balance in the same statement and records the balance it led to, so the new
-- balance travels with the transaction (karma.awarded / karma.deducted carry it).

CREATE TABLE karma_balances (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    balance    integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE karma_transactions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    family_id     uuid NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,      -- whose karma
    amount        integer NOT NULL CHECK (amount <> 0),                       -- > 0 awarded, < 0 deducted
    reason        text NOT NULL,
    actor_id      uuid REFERENCES users (id) ON DELETE SET NULL,              -- who gave or took it
    task_id       uuid REFERENCES tasks (id) ON DELETE SET NULL,              -- the task it rewards, if any
    balance_after integer NOT NULL DEFAULT 0,                                 -- set on insert
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX karma_transactions_user_idx ON karma_transactions (user_id, created_at);

-- karma_apply adds a new transaction to its member's balance. The upsert locks the balance
-- row, so concurrent transactions for one member add up correctly.
CREATE FUNCTION karma_apply()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO karma_balances AS b (user_id, balance)
    VALUES (NEW.user_id, NEW.amount)
    ON CONFLICT (user_id) DO UPDATE SET balance = b.balance + EXCLUDED.balance, updated_at = now()
    RETURNING b.balance INTO NEW.balance_after;
    RETURN NEW;
END;
$$;

CREATE TRIGGER karma_apply
    BEFORE INSERT ON karma_transactions
    FOR EACH ROW EXECUTE FUNCTION karma_apply();
