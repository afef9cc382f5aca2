package triggers_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
)

// published is one outbox row written by a rule.
type published struct {
	Event   string
	Users   []string
	Rooms   []string
	Payload map[string]any
}

// family is a fresh family in the shared test database: two parents, two children.
type family struct {
	t        *testing.T
	conn     *pgx.Conn
	id       string
	parents  []string
	children []string
}

func newFamily(t *testing.T, conn *pgx.Conn) *family {
	t.Helper()
	f := &family{t: t, conn: conn}
	f.id = f.value(`INSERT INTO families (name) VALUES ('Rules') RETURNING id::text`)
	for i, role := range []string{"parent", "parent", "child", "child"} {
		id := f.value(`INSERT INTO users (family_id, name, role) VALUES ($1, $2, $3) RETURNING id::text`,
			f.id, role+string(rune('A'+i)), role)
		if role == "parent" {
			f.parents = append(f.parents, id)
		} else {
			f.children = append(f.children, id)
		}
	}
	return f
}

func (f *family) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.conn.Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// value runs a query returning one text value.
func (f *family) value(sql string, args ...any) string {
	f.t.Helper()
	var v *string
	if err := f.conn.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
	if v == nil {
		return ""
	}
	return *v
}

// changes runs change and returns the events it published for clients, in order (internal
// events, the revocations of revocation_test.go, are left out).
func (f *family) changes(change func()) []published {
	f.t.Helper()
	var mark int64
	if err := f.conn.QueryRow(context.Background(), `SELECT coalesce(max(id), 0) FROM realtime.events`).Scan(&mark); err != nil {
		f.t.Fatal(err)
	}
	change()
	rows, err := f.conn.Query(context.Background(),
		`SELECT event, users, rooms, payload FROM realtime.events WHERE id > $1
		 AND NOT (rooms = ARRAY['realtime:internal'] AND users = '{}') ORDER BY id`, mark)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []published
	for rows.Next() {
		var p published
		var raw []byte
		if err := rows.Scan(&p.Event, &p.Users, &p.Rooms, &raw); err != nil {
			f.t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &p.Payload); err != nil {
			f.t.Fatal(err)
		}
		slices.Sort(p.Users)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// one asserts that exactly one event named event was published, to users and rooms.
func (f *family) one(got []published, event string, users []string, rooms ...string) map[string]any {
	f.t.Helper()
	if len(got) != 1 {
		f.t.Fatalf("want one %s, got %d events: %+v", event, len(got), got)
	}
	p := got[0]
	want := slices.Clone(users)
	slices.Sort(want)
	if p.Event != event || !slices.Equal(p.Users, want) || !slices.Equal(p.Rooms, rooms) && len(rooms)+len(p.Rooms) > 0 {
		f.t.Fatalf("want %s to users %v rooms %v, got %s to users %v rooms %v", event, want, rooms, p.Event, p.Users, p.Rooms)
	}
	return p.Payload
}

// none asserts that nothing was published.
func (f *family) none(got []published) {
	f.t.Helper()
	if len(got) != 0 {
		f.t.Fatalf("want no event, got %+v", got)
	}
}

// fields asserts payload values (compared as JSON values: strings, numbers, nil).
func fields(t *testing.T, payload map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		got, ok := payload[k]
		if !ok {
			t.Errorf("payload has no %q: %v", k, payload)
			continue
		}
		if n, isInt := v.(int); isInt {
			v = float64(n)
		}
		if got != v {
			t.Errorf("payload %q = %v, want %v", k, got, v)
		}
	}
}

// entity returns a nested object of the payload.
func entity(t *testing.T, payload map[string]any, key string) map[string]any {
	t.Helper()
	m, ok := payload[key].(map[string]any)
	if !ok {
		t.Fatalf("payload %q is not an object: %v", key, payload[key])
	}
	return m
}
