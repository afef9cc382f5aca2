package admin

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

func TestDisabledWithoutToken(t *testing.T) {
	a := New(Config{Node: "n1"})
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
	a := New(Config{Token: "s3cret-admin", Node: "n1", Logger: log})
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

func TestDecodeRequest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		ok      bool
	}{
		{"sockets", `{"type":"admin.request","request":"r1","from":"n2","op":"sockets"}`, true},
		{"devices", `{"type":"admin.request","request":"r1","from":"n2","op":"devices","user":"u1"}`, true},
		{"disconnect", `{"type":"admin.request","request":"r1","from":"n2","op":"disconnect","user":"u1"}`, true},
		{"not JSON", `{"type":`, false},
		{"other type", `{"type":"typing","request":"r1","from":"n2","op":"sockets"}`, false},
		{"no request id", `{"type":"admin.request","from":"n2","op":"sockets"}`, false},
		{"no sender", `{"type":"admin.request","request":"r1","op":"sockets"}`, false},
		{"unknown op", `{"type":"admin.request","request":"r1","from":"n2","op":"drop tables"}`, false},
		{"disconnect without user", `{"type":"admin.request","request":"r1","from":"n2","op":"disconnect"}`, false},
		{"wrong field type", `{"type":"admin.request","request":1,"from":"n2","op":"sockets"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeRequest([]byte(tc.payload))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, errBadRequest) {
				t.Fatalf("err = %v, want errBadRequest", err)
			}
		})
	}
}

// A malformed control message is logged and dropped; the node keeps running.
func TestOnControlIgnoresBadMessages(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	a := New(Config{Token: "t", Node: "n1", Logger: log})
	a.OnControl([]byte(`{"type":"admin.request","op":"nope"}`))
	if len(hook.AllEntries()) != 1 || hook.LastEntry().Level != logrus.WarnLevel {
		t.Fatalf("want one warning, got %d entries", len(hook.AllEntries()))
	}
	// A node's own request is not answered twice.
	a.OnControl([]byte(`{"type":"admin.request","request":"r","from":"n1","op":"sockets"}`))
	if len(hook.AllEntries()) != 1 {
		t.Fatalf("own request: %d entries", len(hook.AllEntries()))
	}
}
