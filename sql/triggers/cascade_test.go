package triggers_test

import (
	"os"
	"testing"
)

// Deleting people and families goes through every rule by cascade; no rule may make the
// application's DELETE fail.
func TestDeletesCascadeThroughTheRules(t *testing.T) {
	conn := connect(t)
	scenario, err := os.ReadFile("testdata/catalogue_scenario.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), string(scenario)); err != nil {
		t.Fatalf("scenario: %v", err)
	}
	f := newFamily(t, conn)
	task := f.task("member", f.children[0])
	chat := f.chat(f.parents[0], f.children[0])
	f.message(chat, f.children[0])
	f.karma(f.children[0], 5)
	f.claim(f.children[0])

	// A member assigned a task leaves: the task becomes unassigned, the old assignee is told.
	got := f.changes(func() { f.exec(`DELETE FROM users WHERE id = $1`, f.children[0]) })
	if len(byEvent(got, "task.assigned")) != 1 || len(byEvent(got, "chat.member_removed")) != 1 {
		t.Errorf("deleting a member: want task.assigned and chat.member_removed among %+v", got)
	}
	if v := f.value(`SELECT assignment_type FROM tasks WHERE id = $1`, task); v != "unassigned" {
		t.Errorf("the deleted member's task is %s, want unassigned", v)
	}
	// Whole families, with everything in them.
	f.exec(`DELETE FROM families WHERE id = $1`, f.id)
	f.exec(`DELETE FROM families`)
}
