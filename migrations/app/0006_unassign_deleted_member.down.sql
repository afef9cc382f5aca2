DROP TRIGGER IF EXISTS tasks_unassign_deleted_member ON tasks;
DROP FUNCTION IF EXISTS tasks_unassign_deleted_member();
