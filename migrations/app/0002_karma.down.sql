DROP TABLE IF EXISTS karma_transactions, karma_balances;
DROP FUNCTION IF EXISTS karma_apply();
