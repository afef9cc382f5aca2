package migrations_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/internal/pgtest"
)

// The 0001 definitions of realtime.camel and realtime.entity, as session-local functions: the
// reference that 0009's faster versions must agree with, and the baseline they are measured
// against.
const entity0001 = `
CREATE FUNCTION pg_temp.camel0001(name text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(CASE WHEN ord = 1 THEN part ELSE upper(left(part, 1)) || substr(part, 2) END,
                      '' ORDER BY ord)
    FROM unnest(string_to_array(name, '_')) WITH ORDINALITY AS t(part, ord)
$$;
CREATE FUNCTION pg_temp.entity0001(obj jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(pg_temp.camel0001(key), value), '{}'::jsonb) FROM jsonb_each(obj)
$$;`

func withEntity0001(tb testing.TB) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), pgtest.NewDatabase(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(context.Background(), entity0001); err != nil {
		tb.Fatal(err)
	}
	return conn
}

func TestFasterEntityAgreesWith0001(t *testing.T) {
	conn := withEntity0001(t)
	keys := []string{"id", "family_id", "assigned_to_user", "_id", "a__b", "a_1", "a_B", "trailing_",
		"x_y_z", "already_camelCase", "__", "_", "ünï_cödé", "a_ä", "ID_Of_X", "balance_after"}
	for _, k := range keys {
		var fast, ref *string
		if err := conn.QueryRow(context.Background(), `SELECT realtime.camel($1), pg_temp.camel0001($1)`, k).Scan(&fast, &ref); err != nil {
			t.Fatal(err)
		}
		if (fast == nil) != (ref == nil) || fast != nil && *fast != *ref {
			t.Errorf("camel(%q) = %v, 0001 gives %v", k, deref(fast), deref(ref))
		}
		var same bool
		if err := conn.QueryRow(context.Background(),
			`SELECT realtime.entity(jsonb_build_object($1::text, 1, 'other_key', 2)) = pg_temp.entity0001(jsonb_build_object($1::text, 1, 'other_key', 2))`,
			k).Scan(&same); err != nil {
			t.Fatal(err)
		}
		if !same {
			t.Errorf("entity with key %q differs from 0001's", k)
		}
	}
	for _, obj := range []string{`{}`, `{"a": {"nested_key": 1}}`, `{"x_y": [1, {"b_c": 2}], "n": null}`} {
		var same bool
		if err := conn.QueryRow(context.Background(), `SELECT realtime.entity($1::jsonb) = pg_temp.entity0001($1::jsonb)`, obj).Scan(&same); err != nil || !same {
			t.Errorf("entity(%s) differs from 0001's (err %v)", obj, err)
		}
	}
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// BenchmarkEntity: realtime.entity of a 17-column row (a task), 0001's version against the
// current one, 100 rows per operation:
//
//	go test -run '^$' -bench Entity ./migrations/
func BenchmarkEntity(b *testing.B) {
	conn := withEntity0001(b)
	row := `{"id": "70000000-0000-4000-8000-000000000001", "family_id": "f0000000-0000-4000-8000-000000000001",
		"kind": "chore", "name": "Take out the trash", "description": null, "assignment_type": "member",
		"assigned_to": "c0000000-0000-4000-8000-00000000000c", "assigned_role": null, "status": "pending",
		"karma": 5, "created_by": "a0000000-0000-4000-8000-00000000000a", "completed_by": null,
		"completed_at": null, "deleted_at": null, "created_at": "2026-11-28T03:00:32.04324+00:00",
		"updated_at": "2026-11-28T03:00:32.04324+00:00", "claim_id": null}`
	for _, fn := range []string{"pg_temp.entity0001", "realtime.entity"} {
		b.Run(fn, func(b *testing.B) {
			q := `SELECT sum(length(` + fn + `($1::jsonb || jsonb_build_object('n', g))::text)) FROM generate_series(1, 100) g`
			for b.Loop() {
				var n int64
				if err := conn.QueryRow(context.Background(), q, row).Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
