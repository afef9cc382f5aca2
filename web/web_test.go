package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/demo"
	"github.com/realtimed/realtimed/internal/npmlock"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/router"
)

// The vendored bundle, web.ClientVersion and the version e2e/package-lock.json pins agree
// (scripts/vendor-socketio.sh keeps them so; the e2e test also compares the bytes with npm's).
func TestVendoredClientMatchesTheLockFile(t *testing.T) {
	bundle, err := static.ReadFile("static/vendor/socket.io.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(bundle), "/*!\n * Socket.IO v"+ClientVersion+"\n") {
		t.Fatalf("the vendored bundle is not socket.io-client %s: %q", ClientVersion, bundle[:40])
	}
	if got := npmlock.Pinned(t, "socket.io-client"); got != ClientVersion {
		t.Fatalf("e2e/package-lock.json pins socket.io-client %q, the console serves %s: run scripts/vendor-socketio.sh", got, ClientVersion)
	}
}

func TestPageAndFiles(t *testing.T) {
	h := Handler(Config{Demo: true})
	for _, tc := range []struct {
		path, contains string
		status         int
	}{
		{"/", `<script src="/console/vendor/socket.io.min.js"></script>`, 200},
		{"/console/console.js", "socket.onAny", 200},
		{"/console/console.css", "--accent", 200},
		{"/console/vendor/socket.io.min.js", "Socket.IO v" + ClientVersion, 200},
		{"/console/api/settings", `"demo":true`, 200},
		{"/favicon.ico", "\x00\x00\x01\x00", 200},
		{"/nope", "", 404},
		{"/console/missing.js", "", 404},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.contains) {
			t.Errorf("GET %s: %d, body contains %q: %v", tc.path, w.Code, tc.contains, strings.Contains(w.Body.String(), tc.contains))
		}
	}
	// Every file the page loads exists.
	page, _ := static.ReadFile("static/index.html")
	for _, m := range regexp.MustCompile(`(?:src|href)="/console/([^"]+)"`).FindAllStringSubmatch(string(page), -1) {
		if _, err := static.ReadFile("static/" + m[1]); err != nil {
			t.Errorf("index.html loads /console/%s, which is not embedded", m[1])
		}
	}
}

// Event details are shown only to a recipient: a user the event was sent to, or a member of
// one of its chat rooms.
func TestEventDetailsOnlyForRecipients(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t, pgtest.NewDatabase(t))
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fam, err := demo.Seed(ctx, conn.Conn())
	conn.Release()
	if err != nil {
		t.Fatal(err)
	}
	alex, sam := fam.Members[0].ID, fam.Members[1].ID
	var outsider string
	if err := pool.QueryRow(ctx, `INSERT INTO families (name) VALUES ('other') RETURNING id`).Scan(&outsider); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO users (family_id, name, role) VALUES ($1, 'Out', 'parent') RETURNING id`, outsider).Scan(&outsider); err != nil {
		t.Fatal(err)
	}
	// One event to alex only, one to the demo chat room.
	for _, q := range []string{
		`SELECT realtime.publish('x.personal', ARRAY['` + alex + `'], '{}', '{}')`,
		`SELECT realtime.publish('x.chat', '{}', ARRAY['chat:` + fam.ChatID + `'], '{}')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	posOf := func(event string) string {
		var pos string
		if err := pool.QueryRow(ctx, `SELECT pos::text FROM realtime.events WHERE event = $1`, event).Scan(&pos); err != nil {
			t.Fatal(err)
		}
		return pos
	}
	personal, chat := "/console/api/events/"+posOf("x.personal"), "/console/api/events/"+posOf("x.chat")
	secret := []byte("web-test-secret")
	jv, err := auth.NewJWTVerifier(auth.JWTConfig{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(os.Stderr)
	h := Handler(Config{
		Verifier:   &auth.Verifier{JWT: jv, Sessions: auth.NewSessionVerifier(pool, "")},
		Membership: router.NewMembership(pool, ""), DB: pool, Logger: log,
	})
	token := func(user string) string {
		tok, err := auth.SignHS256(secret, user, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	for _, tc := range []struct {
		name, path, auth string
		status           int
		rooms            string
	}{
		{"no token", personal, "", 401, ""},
		{"bad token", personal, "Bearer nope", 401, ""},
		{"recipient", personal, token(alex), 200, "user:" + alex},
		{"another user", personal, token(sam), 404, ""},
		{"chat member", chat, token(sam), 200, "chat:" + fam.ChatID},
		{"not a member", chat, token(outsider), 404, ""},
		{"no such event", "/console/api/events/99999", token(alex), 404, ""},
		{"bad position", "/console/api/events/x", token(alex), 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			if tc.status != 200 {
				return
			}
			var d EventDetails
			if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
				t.Fatal(err)
			}
			if strings.Join(d.Rooms, " ") != tc.rooms || d.CommittedAt.IsZero() || time.Since(d.CommittedAt) > time.Minute || d.ServerTime.IsZero() {
				t.Fatalf("details %+v, want rooms %q and a recent commit time", d, tc.rooms)
			}
		})
	}
}
