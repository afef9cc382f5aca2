-- Rules for public.tasks.
--
-- task.created → the assigned member's user room, when a task is assigned to a member.
-- Payload (seed): taskId, familyId, userId (the assignee), task (the full row, camelCase keys).

CREATE OR REPLACE FUNCTION realtime.rule_tasks()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.assignment_type = 'member' THEN
        PERFORM realtime.publish(
            'task.created',
            ARRAY[NEW.assigned_to::text],
            '{}',
            jsonb_build_object(
                'taskId', NEW.id,
                'familyId', NEW.family_id,
                'userId', NEW.assigned_to,
                'task', realtime.entity(to_jsonb(NEW))));
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS realtime_rules ON public.tasks;
CREATE TRIGGER realtime_rules
    AFTER INSERT OR UPDATE OR DELETE ON public.tasks
    FOR EACH ROW EXECUTE FUNCTION realtime.rule_tasks();
