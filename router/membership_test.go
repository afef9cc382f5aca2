package router_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/router"
)

// chatFixture is a family with two users and one chat whose only member is the first user.
type chatFixture struct {
	pool                  *pgxpool.Pool
	member, other, chatID string
}

func newChatFixture(t testing.TB) chatFixture {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t, pgtest.NewDatabase(t))
	var f chatFixture
	f.pool = pool
	err := pool.QueryRow(ctx, `
		WITH fam AS (INSERT INTO families (name) VALUES ('f') RETURNING id),
		     u1 AS (INSERT INTO users (family_id, name, role) SELECT id, 'a', 'parent' FROM fam RETURNING id),
		     u2 AS (INSERT INTO users (family_id, name, role) SELECT id, 'b', 'child' FROM fam RETURNING id),
		     ch AS (INSERT INTO chats (family_id, name) SELECT id, 'c' FROM fam RETURNING id)
		SELECT u1.id::text, u2.id::text, ch.id::text FROM u1, u2, ch`).Scan(&f.member, &f.other, &f.chatID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO chat_members (chat_id, user_id) VALUES ($1, $2)`, f.chatID, f.member); err != nil {
		t.Fatal(err)
	}
	return f
}

type membershipCase struct {
	name       string
	user, chat string
	want       router.Access
	wantErr    error
}

func membershipCases(f chatFixture) []membershipCase {
	return []membershipCase{
		{"member", f.member, f.chatID, router.Member, nil},
		{"not a member", f.other, f.chatID, router.NotMember, nil},
		{"user id that is not a uuid", "user-1", f.chatID, router.NotMember, nil},
		{"user id in upper case (not the id rules publish to)", strings.ToUpper(f.member), f.chatID, router.NotMember, nil},
		{"unknown chat", f.member, "6f1c1a52-9d4e-4b53-9d43-3c1f7e1a0c11", router.NoSuchChat, nil},
		{"chat id that is not a uuid", f.member, "general", router.NoSuchChat, router.ErrBadChatID},
		{"uuid in upper case (rules publish to the lowercase room)", f.member, strings.ToUpper(f.chatID), router.NoSuchChat, nil},
		{"uuid in braces", f.member, "{" + f.chatID + "}", router.NoSuchChat, nil},
	}
}

func TestMembershipCheck(t *testing.T) {
	f := newChatFixture(t)
	m := router.NewMembership(f.pool, "")
	for _, tt := range membershipCases(f) {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, _, err := m.Check(ctx, tt.user, tt.chat)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("access = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMembershipCheckMany: every check of a batch answered in one round trip on one connection
// as Check answers it, with and without a chat id the database refuses (which ends the round
// trip's transaction: the others are then asked one by one).
func TestMembershipCheckMany(t *testing.T) {
	f := newChatFixture(t)
	m := router.NewMembership(f.pool, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := f.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	all := membershipCases(f)
	for _, cases := range [][]membershipCase{all, slices.DeleteFunc(slices.Clone(all), func(c membershipCase) bool { return c.wantErr != nil })} {
		checks := make([]router.MembershipCheck, len(cases))
		for i, c := range cases {
			checks[i] = router.MembershipCheck{UserID: c.user, ChatID: c.chat}
		}
		if err := m.CheckMany(ctx, conn, checks); err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			if got := checks[i]; got.Access != c.want || !errors.Is(got.Err, c.wantErr) || (c.want != router.NoSuchChat) != (got.AsOf > 0) {
				t.Errorf("%s: %+v, want %v, error %v", c.name, got, c.want, c.wantErr)
			}
		}
	}
	if err := m.CheckMany(ctx, conn, nil); err != nil {
		t.Fatal(err)
	}
}

// TestMembershipUsesTheMemberKey: the default query finds the member through the
// (chat_id, user_id) key, not by reading every member of the chat (a recovery storm checks
// thousands of memberships at once).
func TestMembershipUsesTheMemberKey(t *testing.T) {
	f := newChatFixture(t)
	ctx := context.Background()
	conn, err := f.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan;
		PREPARE membership(text, text) AS `+router.DefaultMembershipQuery); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "EXPLAIN EXECUTE membership('"+f.chatID+"', '"+f.member+"')", pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(plan, "\n"); !strings.Contains(text, "chat_members_pkey") ||
		!strings.Contains(text, "Index Cond: ((chat_id = c.id) AND (user_id =") {
		t.Fatalf("the member is not looked up by its key:\n%s", text)
	}
}

// TestMembershipCustomQuery: an application with its own schema answers room:join with its own
// query, same contract.
func TestMembershipCustomQuery(t *testing.T) {
	f := newChatFixture(t)
	ctx := context.Background()
	if _, err := f.pool.Exec(ctx, `
		CREATE TABLE conversations (slug text PRIMARY KEY);
		CREATE TABLE participants (slug text REFERENCES conversations, account text, PRIMARY KEY (slug, account));
		INSERT INTO conversations VALUES ('general'), ('secret');
		INSERT INTO participants VALUES ('general', 'acct-1')`); err != nil {
		t.Fatal(err)
	}
	m := router.NewMembership(f.pool, `SELECT EXISTS (SELECT 1 FROM participants p WHERE p.slug = c.slug AND p.account = $2)
		FROM conversations c WHERE c.slug = $1 -- a trailing comment is fine`)
	for _, tt := range []struct {
		user, chat string
		want       router.Access
	}{
		{"acct-1", "general", router.Member},
		{"acct-1", "secret", router.NotMember},
		{"acct-2", "general", router.NotMember},
		{"acct-1", "nope", router.NoSuchChat},
	} {
		got, _, err := m.Check(ctx, tt.user, tt.chat)
		if err != nil || got != tt.want {
			t.Errorf("Check(%s, %s) = %v, %v; want %v", tt.user, tt.chat, got, err, tt.want)
		}
	}
}

// TestMembershipDatabaseErrors: a failing query is an error that is not ErrBadChatID, so
// room:join answers "unavailable" rather than "bad_request".
func TestMembershipDatabaseErrors(t *testing.T) {
	f := newChatFixture(t)
	ctx := context.Background()
	broken := router.NewMembership(f.pool, `SELECT member FROM no_such_table WHERE chat = $1 AND usr = $2`)
	if _, _, err := broken.Check(ctx, f.member, f.chatID); err == nil || errors.Is(err, router.ErrBadChatID) {
		t.Fatalf("broken query: error = %v, want a database error", err)
	}
	closed, err := pgxpool.New(ctx, f.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if _, _, err := router.NewMembership(closed, "").Check(ctx, f.member, f.chatID); err == nil || errors.Is(err, router.ErrBadChatID) {
		t.Fatalf("closed pool: error = %v, want a database error", err)
	}
}

// TestMembershipAsOf: the answer comes with the stream position it is as of, read in the same
// snapshot: a removal's revocation event is at or below it exactly when the answer reflects
// the removal.
func TestMembershipAsOf(t *testing.T) {
	f := newChatFixture(t)
	ctx := context.Background()
	m := router.NewMembership(f.pool, "")
	head := func() int64 {
		var pos int64
		if err := f.pool.QueryRow(ctx, "SELECT coalesce(max(pos), 0) FROM realtime.events").Scan(&pos); err != nil {
			t.Fatal(err)
		}
		return pos
	}
	access, asOf, err := m.Check(ctx, f.member, f.chatID)
	if err != nil || access != router.Member || asOf != head() {
		t.Fatalf("before the removal: %v as of %d (head %d), %v", access, asOf, head(), err)
	}
	if _, err := f.pool.Exec(ctx, "DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2", f.chatID, f.member); err != nil {
		t.Fatal(err)
	}
	var revokedAt int64
	if err := f.pool.QueryRow(ctx, "SELECT max(pos) FROM realtime.events WHERE event = 'realtime.revoke_chat_member'").Scan(&revokedAt); err != nil {
		t.Fatal(err)
	}
	access, asOf2, err := m.Check(ctx, f.member, f.chatID)
	if err != nil || access != router.NotMember || asOf2 < revokedAt || revokedAt <= asOf {
		t.Fatalf("after the removal at %d: %v as of %d (before: as of %d), %v", revokedAt, access, asOf2, asOf, err)
	}
}
