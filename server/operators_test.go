package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/adminui"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/servertest"
	"github.com/realtimed/realtimed/internal/siotest"
)

func status(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// uiNamespace tries the Admin UI's namespace on base: "" when it connects, the refusal's
// message otherwise.
func uiNamespace(t *testing.T, base string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := siotest.Connect(ctx, base, siotest.Options{Namespace: adminui.NamespaceName,
		Auth: map[string]string{"username": "admin", "password": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Refused != nil {
		return c.Refused.Message
	}
	return ""
}

// With REALTIME_INTERNAL_ADDR, metrics, the admin API and the Admin UI are served there and
// not on REALTIME_ADDR; without it, everything is on REALTIME_ADDR. Health is on both.
func TestInternalAddress(t *testing.T) {
	for _, tc := range []struct {
		name     string
		internal bool
	}{{"on REALTIME_ADDR", false}, {"on REALTIME_INTERNAL_ADDR", true}} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{
				"DATABASE_URL": pgtest.NewDatabase(t), "REALTIME_JWT_SECRET": "s", "REALTIME_ADMIN_TOKEN": "admin-token",
				"REALTIME_ADMIN_UI": "true", "REALTIME_ADMIN_UI_PASSWORD": "pw",
			}
			internal := ""
			if tc.internal {
				internal = servertest.FreeAddr(t)
				vars["REALTIME_INTERNAL_ADDR"] = internal
			}
			log := logrus.New()
			log.SetLevel(logrus.WarnLevel)
			_, public := servertest.Start(t, vars, log)
			ops := public
			if tc.internal {
				ops = "http://" + internal
			}
			for _, path := range []string{"/healthz", "/metrics", adminui.Path, adminui.Path + "favicon.png"} {
				if got := status(t, ops+path, ""); got != 200 {
					t.Errorf("GET %s%s: %d", ops, path, got)
				}
			}
			if got := status(t, ops+"/admin/sockets", "admin-token"); got != 200 {
				t.Errorf("admin API: %d", got)
			}
			if msg := uiNamespace(t, ops); msg != "" {
				t.Errorf("the Admin UI's namespace refused a login: %s", msg)
			}
			if got := status(t, public+"/", ""); got != 200 {
				t.Errorf("the console: %d", got)
			}
			if !tc.internal {
				return
			}
			for _, path := range []string{"/metrics", "/admin/sockets", adminui.Path} {
				if got := status(t, public+path, "admin-token"); got != 404 {
					t.Errorf("GET %s on the public address: %d, want 404", path, got)
				}
			}
			if msg := uiNamespace(t, public); !strings.Contains(msg, "Invalid namespace") {
				t.Errorf("the Admin UI's namespace on the public address: %q, want Invalid namespace", msg)
			}
			// The internal Socket.IO server knows only the admin namespace.
			c, err := siotest.Connect(context.Background(), ops, siotest.Options{Auth: map[string]string{"token": "x"}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Refused == nil || c.Refused.Message != "Invalid namespace" {
				t.Errorf("the main namespace on the internal address: %+v", c.Refused)
			}
		})
	}
}

// REALTIME_CONSOLE=false: no console, no favicon; Socket.IO and health as ever.
func TestConsoleSwitch(t *testing.T) {
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	_, base := servertest.Start(t, map[string]string{
		"DATABASE_URL": pgtest.NewDatabase(t), "REALTIME_JWT_SECRET": "s", "REALTIME_CONSOLE": "false",
	}, log)
	for path, want := range map[string]int{"/": 404, "/console/console.js": 404, "/favicon.ico": 404, "/healthz": 200, "/metrics": 200} {
		if got := status(t, base+path, ""); got != want {
			t.Errorf("GET %s: %d, want %d", path, got, want)
		}
	}
}
