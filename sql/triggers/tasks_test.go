package triggers_test

import (
	"testing"
)

// task inserts a chore; assignment is "member", "role" or "unassigned".
func (f *family) task(assignment, target string) string {
	f.t.Helper()
	switch assignment {
	case "member":
		return f.value(`INSERT INTO tasks (family_id, name, assignment_type, assigned_to, karma, created_by)
			VALUES ($1, 'Dishes', 'member', $2, 5, $3) RETURNING id::text`, f.id, target, f.parents[0])
	case "role":
		return f.value(`INSERT INTO tasks (family_id, name, assignment_type, assigned_role, karma, created_by)
			VALUES ($1, 'Dishes', 'role', $2, 5, $3) RETURNING id::text`, f.id, target, f.parents[0])
	default:
		return f.value(`INSERT INTO tasks (family_id, name, karma, created_by)
			VALUES ($1, 'Dishes', 5, $2) RETURNING id::text`, f.id, f.parents[0])
	}
}

func TestTaskRules(t *testing.T) {
	conn := connect(t)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, f *family)
	}{
		{"created for a member goes to the member", func(t *testing.T, f *family) {
			var id string
			p := f.one(f.changes(func() { id = f.task("member", f.children[0]) }), "task.created", f.children[:1])
			fields(t, p, map[string]any{"taskId": id, "familyId": f.id, "userId": f.children[0]})
			fields(t, entity(t, p, "task"), map[string]any{"id": id, "name": "Dishes", "assignedTo": f.children[0],
				"assignmentType": "member", "karma": 5, "familyId": f.id, "status": "pending"})
		}},
		{"created for a role goes to every member with the role", func(t *testing.T, f *family) {
			p := f.one(f.changes(func() { f.task("role", "child") }), "task.created", f.children)
			fields(t, p, map[string]any{"userId": nil})
			p = f.one(f.changes(func() { f.task("role", "parent") }), "task.created", f.parents)
			fields(t, entity(t, p, "task"), map[string]any{"assignedRole": "parent"})
		}},
		{"created unassigned goes to nobody", func(t *testing.T, f *family) {
			f.none(f.changes(func() { f.task("unassigned", "") }))
		}},
		{"created already deleted goes to nobody", func(t *testing.T, f *family) {
			f.none(f.changes(func() {
				f.exec(`INSERT INTO tasks (family_id, name, assignment_type, assigned_to, deleted_at)
					VALUES ($1, 'x', 'member', $2, now())`, f.id, f.children[0])
			}))
		}},
		{"assigned to another member goes to the old and the new assignee", func(t *testing.T, f *family) {
			id := f.task("member", f.children[0])
			p := f.one(f.changes(func() { f.exec(`UPDATE tasks SET assigned_to = $2 WHERE id = $1`, id, f.children[1]) }),
				"task.assigned", f.children)
			fields(t, p, map[string]any{"taskId": id, "userId": f.children[1]})
			fields(t, entity(t, p, "task"), map[string]any{"assignedTo": f.children[1]})
		}},
		{"assigned from unassigned to a role goes to the role", func(t *testing.T, f *family) {
			id := f.task("unassigned", "")
			f.one(f.changes(func() {
				f.exec(`UPDATE tasks SET assignment_type = 'role', assigned_role = 'parent' WHERE id = $1`, id)
			}), "task.assigned", f.parents)
		}},
		{"updated goes to the assignees", func(t *testing.T, f *family) {
			id := f.task("role", "child")
			p := f.one(f.changes(func() { f.exec(`UPDATE tasks SET name = 'Dishes, properly', updated_at = now() WHERE id = $1`, id) }),
				"task.updated", f.children)
			fields(t, entity(t, p, "task"), map[string]any{"name": "Dishes, properly"})
		}},
		{"an update that changes nothing a client shows publishes nothing", func(t *testing.T, f *family) {
			id := f.task("member", f.children[0])
			f.none(f.changes(func() { f.exec(`UPDATE tasks SET name = name WHERE id = $1`, id) }))
			f.none(f.changes(func() { f.exec(`UPDATE tasks SET updated_at = now() + interval '1 minute' WHERE id = $1`, id) }))
		}},
		{"completed goes to the assignees and the creator, with completedBy", func(t *testing.T, f *family) {
			id := f.task("member", f.children[0])
			p := f.one(f.changes(func() {
				f.exec(`UPDATE tasks SET status = 'completed', completed_by = $2, completed_at = now() WHERE id = $1`, id, f.children[0])
			}), "task.completed", []string{f.children[0], f.parents[0]})
			fields(t, p, map[string]any{"taskId": id, "completedBy": f.children[0], "userId": f.children[0]})
			fields(t, entity(t, p, "task"), map[string]any{"status": "completed", "completedBy": f.children[0]})
		}},
		{"reopened is an update", func(t *testing.T, f *family) {
			id := f.task("member", f.children[0])
			f.exec(`UPDATE tasks SET status = 'completed' WHERE id = $1`, id)
			f.one(f.changes(func() { f.exec(`UPDATE tasks SET status = 'pending' WHERE id = $1`, id) }),
				"task.updated", f.children[:1])
		}},
		{"soft-deleted goes to the assignees; later updates publish nothing", func(t *testing.T, f *family) {
			id := f.task("role", "child")
			p := f.one(f.changes(func() { f.exec(`UPDATE tasks SET deleted_at = now() WHERE id = $1`, id) }),
				"task.deleted", f.children)
			fields(t, p, map[string]any{"taskId": id})
			if entity(t, p, "task")["deletedAt"] == nil {
				t.Errorf("the deleted task has no deletedAt: %v", p)
			}
			f.none(f.changes(func() { f.exec(`UPDATE tasks SET name = 'gone' WHERE id = $1`, id) }))
			f.none(f.changes(func() { f.exec(`DELETE FROM tasks WHERE id = $1`, id) }))
		}},
		{"restored is created again", func(t *testing.T, f *family) {
			id := f.task("member", f.children[0])
			f.exec(`UPDATE tasks SET deleted_at = now() WHERE id = $1`, id)
			f.one(f.changes(func() { f.exec(`UPDATE tasks SET deleted_at = NULL WHERE id = $1`, id) }),
				"task.created", f.children[:1])
		}},
		{"deleted (row removed) goes to the assignees", func(t *testing.T, f *family) {
			id := f.task("member", f.children[1])
			p := f.one(f.changes(func() { f.exec(`DELETE FROM tasks WHERE id = $1`, id) }), "task.deleted", f.children[1:])
			fields(t, p, map[string]any{"taskId": id, "userId": f.children[1]})
		}},
		{"an approval task goes to the parents as approval_task.created", func(t *testing.T, f *family) {
			reward := f.value(`INSERT INTO rewards (family_id, name, cost) VALUES ($1, 'Ice cream', 10) RETURNING id::text`, f.id)
			var claim string
			got := f.changes(func() {
				claim = f.value(`INSERT INTO claims (family_id, reward_id, user_id) VALUES ($1, $2, $3) RETURNING id::text`,
					f.id, reward, f.children[0])
			})
			var approvals []published
			for _, p := range got {
				if p.Event == "approval_task.created" {
					approvals = append(approvals, p)
				}
			}
			p := f.one(approvals, "approval_task.created", f.parents)
			fields(t, p, map[string]any{"claimId": claim, "userId": f.children[0], "familyId": f.id})
			fields(t, entity(t, p, "task"), map[string]any{"kind": "approval", "claimId": claim, "name": "Approve reward: Ice cream"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newFamily(t, conn)) })
	}
}
