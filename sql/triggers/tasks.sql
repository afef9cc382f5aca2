-- Rules for public.tasks. See docs/events.md for the catalogue.
--
-- Recipients (realtime.task_recipients): a task assigned to a member goes to that member; a
-- task assigned to a role goes to every member of the family with that role; an unassigned
-- task goes to nobody; an approval task goes to the family's parents.
--
--   INSERT (or UPDATE that restores a deleted task)
--       chore:    task.created           → recipients
--       approval: approval_task.created  → the family's parents
--   UPDATE, one event, the first that applies:
--       deleted_at set                   task.deleted    → recipients
--       status pending → completed       task.completed  → recipients and the creator
--       assignment changed               task.assigned   → old and new recipients
--       anything else a client shows     task.updated    → recipients
--       (updated_at alone, or nothing)   nothing
--   DELETE of a task not yet deleted     task.deleted    → recipients
-- A deleted task (deleted_at set) publishes nothing more.
--
-- Payload: taskId, familyId, userId (the assignee; null for role and unassigned tasks; the
-- claimant for an approval task),
-- task (the row, camelCase keys); events of approval tasks also claimId; task.completed
-- also completedBy.

-- realtime.task_recipients returns the user ids a task's events go to; t is the row as jsonb.
CREATE OR REPLACE FUNCTION realtime.task_recipients(t jsonb)
RETURNS text[]
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN t->>'kind' = 'approval' THEN
            ARRAY(SELECT id::text FROM public.users
                  WHERE family_id = (t->>'family_id')::uuid AND role = 'parent')
        WHEN t->>'assignment_type' = 'member' THEN
            ARRAY[t->>'assigned_to']
        WHEN t->>'assignment_type' = 'role' THEN
            ARRAY(SELECT id::text FROM public.users
                  WHERE family_id = (t->>'family_id')::uuid AND role = t->>'assigned_role')
        ELSE '{}'::text[]
    END
$$;

-- realtime.task_payload builds the payload every task event starts from; t is the row as jsonb.
CREATE OR REPLACE FUNCTION realtime.task_payload(t jsonb)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'taskId', t->'id',
        'familyId', t->'family_id',
        'userId', CASE
            WHEN t->>'kind' = 'approval' THEN
                (SELECT to_jsonb(user_id) FROM public.claims WHERE id = (t->>'claim_id')::uuid)
            WHEN t->>'assignment_type' = 'member' THEN t->'assigned_to'
            ELSE 'null'::jsonb
        END,
        'task', realtime.entity(t))
        || CASE WHEN t->>'kind' = 'approval' THEN jsonb_build_object('claimId', t->'claim_id') ELSE '{}' END
$$;

CREATE OR REPLACE FUNCTION realtime.rule_tasks()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    recipients text[];
BEGIN
    IF TG_OP = 'UPDATE' AND new_row - 'updated_at' = old_row - 'updated_at' THEN
        RETURN NULL; -- nothing a client shows changed
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.deleted_at IS NULL THEN
            PERFORM realtime.publish('task.deleted', realtime.task_recipients(old_row), '{}',
                                     realtime.task_payload(old_row));
        END IF;
        RETURN NULL;
    END IF;
    IF NEW.deleted_at IS NOT NULL THEN
        IF TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL THEN
            PERFORM realtime.publish('task.deleted', realtime.task_recipients(old_row), '{}',
                                     realtime.task_payload(new_row));
        END IF;
        RETURN NULL;
    END IF;

    recipients := realtime.task_recipients(new_row);
    IF TG_OP = 'INSERT' OR OLD.deleted_at IS NOT NULL THEN
        IF NEW.kind = 'approval' THEN
            PERFORM realtime.publish('approval_task.created', recipients, '{}',
                                     realtime.task_payload(new_row));
        ELSE
            PERFORM realtime.publish('task.created', recipients, '{}', realtime.task_payload(new_row));
        END IF;
        RETURN NULL;
    END IF;

    IF NEW.status = 'completed' AND OLD.status <> 'completed' THEN
        IF NEW.kind <> 'approval' AND NEW.created_by IS NOT NULL
           AND NOT NEW.created_by::text = ANY (recipients) THEN
            recipients := recipients || NEW.created_by::text;
        END IF;
        PERFORM realtime.publish('task.completed', recipients, '{}',
                                 realtime.task_payload(new_row) || jsonb_build_object('completedBy', NEW.completed_by));
    ELSIF (NEW.assignment_type, NEW.assigned_to, NEW.assigned_role)
          IS DISTINCT FROM (OLD.assignment_type, OLD.assigned_to, OLD.assigned_role) THEN
        PERFORM realtime.publish('task.assigned',
                                 ARRAY(SELECT DISTINCT u FROM unnest(recipients || realtime.task_recipients(old_row)) AS u),
                                 '{}', realtime.task_payload(new_row));
    ELSE
        PERFORM realtime.publish('task.updated', recipients, '{}', realtime.task_payload(new_row));
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS realtime_rules ON public.tasks;
CREATE TRIGGER realtime_rules
    AFTER INSERT OR UPDATE OR DELETE ON public.tasks
    FOR EACH ROW EXECUTE FUNCTION realtime.rule_tasks();
