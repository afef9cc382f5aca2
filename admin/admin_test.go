package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/socketio"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// newAPI returns an API on a cluster whose pool never connects (these tests touch no database).
func newAPI(t *testing.T, cfg Config) *API {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	cfg.Cluster, err = cluster.New(cluster.Config{Node: "n1", Pool: pool, Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Namespace = socketio.NewServer(socketio.Options{}).Of("/")
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNewChecksRequiredFields(t *testing.T) {
	if _, err := New(Config{Token: "t"}); err == nil {
		t.Fatal("New without a cluster and a namespace succeeded")
	}
}

func TestDisabledWithoutToken(t *testing.T) {
	a := newAPI(t, Config{})
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/admin/sockets", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		a.ServeHTTP(w, r)
		if w.Code != http.StatusNotFound {
			t.Errorf("Authorization %q: status %d, want 404", auth, w.Code)
		}
	}
}

func TestBearerTokenRequired(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	a := newAPI(t, Config{Token: "s3cret-admin", Logger: log})
	for _, tc := range []struct {
		header string
		ok     bool
	}{
		{"", false},
		{"Bearer", false},
		{"Bearer ", false},
		{"Basic s3cret-admin", false},
		{"Bearer s3cret-admi", false},
		{"Bearer s3cret-admin2", false},
		{"Bearer S3CRET-ADMIN", false},
		{"Bearer s3cret-admin", true},
		{"bearer s3cret-admin", true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/admin/sockets", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if got := a.authorized(r); got != tc.ok {
			t.Errorf("Authorization %q: authorized = %v, want %v", tc.header, got, tc.ok)
		}
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/admin/users/u1/disconnect", nil)
	r.Header.Set("Authorization", "Bearer wrong-token")
	a.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("wrong token: %d %v", w.Code, w.Header())
	}
	for _, e := range hook.AllEntries() {
		if s, _ := e.String(); strings.Contains(s, "wrong-token") || strings.Contains(s, "s3cret-admin") {
			t.Fatalf("a token was logged: %s", s)
		}
	}
	if len(hook.AllEntries()) != 1 || hook.LastEntry().Level != logrus.InfoLevel {
		t.Fatalf("want one info line for the refused request, got %d", len(hook.AllEntries()))
	}
}
