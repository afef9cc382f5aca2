package triggers_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/internal/pgtest"
)

// BenchmarkRules measures what the rules cost the application's writes. Each operation is one
// autocommitted statement (its commit included), with the table's rule trigger enabled
// ("rules") and disabled ("baseline": the same statement on the same data). Run
//
//	go test -run '^$' -bench Rules -benchtime 2000x ./sql/triggers/
//
// and compare each rules line with its baseline line of the same run, and with
// realtime.publish/alone: the cost of publishing itself (outbox row, commit-ordered position,
// NOTIFY), which every rule that publishes pays. The 100-per-statement case publishes 100
// events in one transaction: its cost per event is mostly the rule's own work.
func BenchmarkRules(b *testing.B) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	f := newBenchFamily(b, conn)
	// The floor: publishing one small event from SQL, with no rule logic around it.
	b.Run("realtime.publish/alone", func(b *testing.B) {
		for b.Loop() {
			if _, err := conn.Exec(ctx, `SELECT realtime.publish('bench.event', ARRAY[$1], '{}', '{"a":1}')`, f.child); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct {
		name, table, sql string
		args             []any
	}{
		{"task.created/member", "tasks",
			`INSERT INTO tasks (family_id, name, assignment_type, assigned_to, karma) VALUES ($1, 'bench', 'member', $2, 1)`,
			[]any{f.family, f.child}},
		{"task.created/member/100-per-statement", "tasks",
			`INSERT INTO tasks (family_id, name, assignment_type, assigned_to, karma)
			 SELECT $1, 'bench', 'member', $2, 1 FROM generate_series(1, 100)`,
			[]any{f.family, f.child}},
		{"task.created/role", "tasks",
			`INSERT INTO tasks (family_id, name, assignment_type, assigned_role, karma) VALUES ($1, 'bench', 'role', 'child', 1)`,
			[]any{f.family}},
		{"task.updated/no-op", "tasks",
			`UPDATE tasks SET name = name WHERE id = (SELECT id FROM tasks WHERE family_id = $1 LIMIT 1)`,
			[]any{f.family}},
		{"karma.awarded", "karma_transactions",
			`INSERT INTO karma_transactions (family_id, user_id, amount, reason) VALUES ($1, $2, 1, 'bench')`,
			[]any{f.family, f.child}},
		{"message.new", "messages",
			`INSERT INTO messages (chat_id, user_id, body) VALUES ($1, $2, 'bench')`,
			[]any{f.chat, f.child}},
		{"chat.updated", "chats",
			`UPDATE chats SET name = md5(random()::text) WHERE id = $1`,
			[]any{f.chat}},
	} {
		for _, enabled := range []bool{false, true} {
			mode := map[bool]string{false: "baseline", true: "rules"}[enabled]
			b.Run(fmt.Sprintf("%s/%s", bc.name, mode), func(b *testing.B) {
				toggle := map[bool]string{false: "DISABLE", true: "ENABLE"}[enabled]
				if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s %s TRIGGER realtime_rules", bc.table, toggle)); err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if _, err := conn.Exec(ctx, bc.sql, bc.args...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// benchFamily is a family of a parent and two children with a chat of all three.
type benchFamily struct {
	family, parent, child, chat string
}

func newBenchFamily(b *testing.B, conn *pgx.Conn) benchFamily {
	b.Helper()
	var f benchFamily
	q := func(dst *string, sql string, args ...any) {
		if err := conn.QueryRow(context.Background(), sql, args...).Scan(dst); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	q(&f.family, `INSERT INTO families (name) VALUES ('bench') RETURNING id::text`)
	q(&f.parent, `INSERT INTO users (family_id, name, role) VALUES ($1, 'p', 'parent') RETURNING id::text`, f.family)
	q(&f.child, `INSERT INTO users (family_id, name, role) VALUES ($1, 'c', 'child') RETURNING id::text`, f.family)
	var other string
	q(&other, `INSERT INTO users (family_id, name, role) VALUES ($1, 'c2', 'child') RETURNING id::text`, f.family)
	q(&f.chat, `INSERT INTO chats (family_id, name) VALUES ($1, 'chat') RETURNING id::text`, f.family)
	for _, u := range []string{f.parent, f.child, other} {
		if _, err := conn.Exec(context.Background(), `INSERT INTO chat_members (chat_id, user_id) VALUES ($1, $2)`, f.chat, u); err != nil {
			b.Fatal(err)
		}
	}
	q(&other, `INSERT INTO tasks (family_id, name) VALUES ($1, 'seed') RETURNING id::text`, f.family)
	return f
}
