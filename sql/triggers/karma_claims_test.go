package triggers_test

import (
	"testing"
)

func (f *family) karma(user string, amount int) string {
	f.t.Helper()
	return f.value(`INSERT INTO karma_transactions (family_id, user_id, amount, reason, actor_id)
		VALUES ($1, $2, $3, 'because', $4) RETURNING id::text`, f.id, user, amount, f.parents[0])
}

func TestKarmaRules(t *testing.T) {
	conn := connect(t)
	f := newFamily(t, conn)
	var id string
	p := f.one(f.changes(func() { id = f.karma(f.children[0], 10) }), "karma.awarded", f.children[:1])
	fields(t, p, map[string]any{"transactionId": id, "familyId": f.id, "userId": f.children[0], "amount": 10,
		"balance": 10, "reason": "because", "actorId": f.parents[0]})
	fields(t, entity(t, p, "transaction"), map[string]any{"id": id, "amount": 10, "balanceAfter": 10})

	p = f.one(f.changes(func() { f.karma(f.children[0], -3) }), "karma.deducted", f.children[:1])
	fields(t, p, map[string]any{"amount": -3, "balance": 7})

	// Another member's balance is their own.
	p = f.one(f.changes(func() { f.karma(f.children[1], 4) }), "karma.awarded", f.children[1:])
	fields(t, p, map[string]any{"balance": 4})
	if got := f.value(`SELECT balance::text FROM karma_balances WHERE user_id = $1`, f.children[0]); got != "7" {
		t.Errorf("balance = %s, want 7", got)
	}
	// The ledger is append-only: changing a row publishes nothing; a zero amount is refused.
	f.none(f.changes(func() { f.exec(`UPDATE karma_transactions SET reason = 'edited' WHERE id = $1`, id) }))
	if _, err := conn.Exec(t.Context(), `INSERT INTO karma_transactions (family_id, user_id, amount, reason)
		VALUES ($1, $2, 0, 'nothing')`, f.id, f.children[0]); err == nil {
		t.Error("a zero amount was accepted")
	}
}

func (f *family) claim(user string) (claim, reward string) {
	f.t.Helper()
	reward = f.value(`INSERT INTO rewards (family_id, name, cost) VALUES ($1, 'Cinema', 30) RETURNING id::text`, f.id)
	claim = f.value(`INSERT INTO claims (family_id, reward_id, user_id) VALUES ($1, $2, $3) RETURNING id::text`,
		f.id, reward, user)
	return claim, reward
}

// byEvent returns the events named event.
func byEvent(got []published, event string) []published {
	var out []published
	for _, p := range got {
		if p.Event == event {
			out = append(out, p)
		}
	}
	return out
}

func TestClaimRules(t *testing.T) {
	conn := connect(t)
	everyone := func(f *family) []string { return append([]string{f.children[0]}, f.parents...) }
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, f *family)
	}{
		{"created goes to the claimant, the approval task to the parents", func(t *testing.T, f *family) {
			var claim, reward string
			got := f.changes(func() { claim, reward = f.claim(f.children[0]) })
			if len(got) != 2 {
				t.Fatalf("want claim.created and approval_task.created, got %+v", got)
			}
			p := f.one(byEvent(got, "claim.created"), "claim.created", f.children[:1])
			fields(t, p, map[string]any{"claimId": claim, "familyId": f.id, "userId": f.children[0],
				"rewardId": reward, "status": "pending"})
			fields(t, entity(t, p, "claim"), map[string]any{"id": claim, "cost": 30, "status": "pending"})
			fields(t, entity(t, p, "reward"), map[string]any{"id": reward, "name": "Cinema"})
			f.one(byEvent(got, "approval_task.created"), "approval_task.created", f.parents)
		}},
		{"approved goes to the claimant and the parents; the approval task is completed", func(t *testing.T, f *family) {
			claim, _ := f.claim(f.children[0])
			got := f.changes(func() {
				f.exec(`UPDATE claims SET status = 'approved', decided_by = $2 WHERE id = $1`, claim, f.parents[1])
			})
			p := f.one(byEvent(got, "claim.approved"), "claim.approved", everyone(f))
			fields(t, p, map[string]any{"claimId": claim, "status": "approved", "decidedBy": f.parents[1]})
			if entity(t, p, "claim")["decidedAt"] == nil {
				t.Errorf("no decidedAt: %v", p)
			}
			done := f.one(byEvent(got, "task.completed"), "task.completed", f.parents)
			fields(t, done, map[string]any{"completedBy": f.parents[1], "claimId": claim})
			fields(t, entity(t, done, "task"), map[string]any{"claimId": claim, "kind": "approval"})
		}},
		{"rejected goes to the claimant and the parents", func(t *testing.T, f *family) {
			claim, _ := f.claim(f.children[0])
			got := f.changes(func() {
				f.exec(`UPDATE claims SET status = 'rejected', decided_by = $2 WHERE id = $1`, claim, f.parents[0])
			})
			p := f.one(byEvent(got, "claim.rejected"), "claim.rejected", everyone(f))
			fields(t, p, map[string]any{"status": "rejected", "decidedBy": f.parents[0]})
		}},
		{"completed goes to the claimant and the parents", func(t *testing.T, f *family) {
			claim, _ := f.claim(f.children[0])
			f.exec(`UPDATE claims SET status = 'approved' WHERE id = $1`, claim)
			p := f.one(f.changes(func() { f.exec(`UPDATE claims SET status = 'completed' WHERE id = $1`, claim) }),
				"claim.completed", everyone(f))
			fields(t, p, map[string]any{"claimId": claim, "status": "completed"})
		}},
		{"cancelled goes to the claimant and the parents; the approval task is deleted", func(t *testing.T, f *family) {
			claim, _ := f.claim(f.children[0])
			got := f.changes(func() { f.exec(`UPDATE claims SET status = 'cancelled' WHERE id = $1`, claim) })
			f.one(byEvent(got, "claim.cancelled"), "claim.cancelled", everyone(f))
			f.one(byEvent(got, "task.deleted"), "task.deleted", f.parents)
		}},
		{"an update without a status change publishes nothing", func(t *testing.T, f *family) {
			claim, _ := f.claim(f.children[0])
			f.none(f.changes(func() { f.exec(`UPDATE claims SET note = 'please' WHERE id = $1`, claim) }))
		}},
		{"a transition the workflow does not have is refused", func(t *testing.T, f *family) {
			claim, _ := f.claim(f.children[0])
			_, err := conn.Exec(t.Context(), `UPDATE claims SET status = 'completed' WHERE id = $1`, claim)
			if err == nil || !contains(err.Error(), "cannot go from pending to completed") {
				t.Fatalf("want a clear error, got %v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newFamily(t, conn)) })
	}
}
