DROP TABLE IF EXISTS realtime.rule_history;
DROP TABLE IF EXISTS realtime.rule_files;
DROP FUNCTION IF EXISTS realtime.rule_objects(boolean, boolean);
