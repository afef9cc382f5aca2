package demo

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/internal/pgtest"
)

func TestDemoEndpoints(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t, pgtest.NewDatabase(t))
	secret := []byte("demo-test-secret")
	h := Handler(pool, secret, logrus.New())
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: %q is not JSON", method, path, w.Body.String())
		}
		return w.Code, out
	}

	// The family is seeded on demand, with a working token per member.
	code, fam := do(http.MethodGet, "/demo/family", "")
	if code != 200 || fam["chatId"] != chatID {
		t.Fatalf("family: %d %v", code, fam)
	}
	jv, _ := auth.NewJWTVerifier(auth.JWTConfig{Secret: secret})
	list := fam["members"].([]any)
	if len(list) != len(members) {
		t.Fatalf("%d members", len(list))
	}
	for i, m := range list {
		m := m.(map[string]any)
		id, err := jv.Verify(ctx, m["token"].(string))
		if err != nil || id.UserID != members[i].ID || m["id"] != members[i].ID {
			t.Fatalf("member %d: token for %v (%v)", i, id, err)
		}
	}

	alex := members[0].ID
	for _, tc := range []struct {
		name, path, body string
		status           int
		event            string
	}{
		{"task", "/demo/task", `{"userId":"` + alex + `"}`, 200, "task.created"},
		{"message", "/demo/message", `{"userId":"` + alex + `","body":"hi"}`, 200, "message.new"},
		{"task for a stranger", "/demo/task", `{"userId":"00000000-0000-4000-8000-0000000000ff"}`, 400, ""},
		{"message without body", "/demo/message", `{"userId":"` + alex + `"}`, 400, ""},
		{"not JSON", "/demo/task", `{`, 400, ""},
		{"too big", "/demo/message", `{"userId":"` + alex + `","body":"` + strings.Repeat("x", 5000) + `"}`, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before int
			_ = pool.QueryRow(ctx, `SELECT count(*) FROM realtime.events`).Scan(&before)
			code, out := do(http.MethodPost, tc.path, tc.body)
			if code != tc.status {
				t.Fatalf("%d %v, want %d", code, out, tc.status)
			}
			var events []string
			rows, _ := pool.Query(ctx, `SELECT event FROM realtime.events ORDER BY id OFFSET $1`, before)
			for rows.Next() {
				var e string
				_ = rows.Scan(&e)
				events = append(events, e)
			}
			if tc.event == "" && len(events) != 0 || tc.event != "" && (len(events) == 0 || events[0] != tc.event) {
				t.Fatalf("events published: %v, want %q", events, tc.event)
			}
		})
	}
}
