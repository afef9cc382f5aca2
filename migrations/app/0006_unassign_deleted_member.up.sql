-- When the member a task is assigned to is deleted, tasks.assigned_to becomes NULL (ON DELETE
-- SET NULL), which the member-assignment check refuses: the user could not be deleted. The
-- task becomes unassigned instead.

CREATE FUNCTION tasks_unassign_deleted_member()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.assignment_type = 'member' AND NEW.assigned_to IS NULL THEN
        NEW.assignment_type := 'unassigned';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER tasks_unassign_deleted_member
    BEFORE UPDATE OF assigned_to ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_unassign_deleted_member();
