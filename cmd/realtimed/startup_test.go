package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/tcpproxy"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/migrations"
)

// TestBadConfigurationStopsBeforeTheDatabase: every command that touches the database checks
// the whole configuration first; a bad setting is one line naming it, exit status 2, and the
// database is never contacted.
func TestBadConfigurationStopsBeforeTheDatabase(t *testing.T) {
	for _, tc := range []struct {
		setting, want string
	}{
		{"REALTIME_ADDR=garbage", "REALTIME_ADDR"},
		{"REALTIME_ADDR=:99999", "REALTIME_ADDR"},
		{"REALTIME_TRIGGERS_DIR=/no/such/folder", "REALTIME_TRIGGERS_DIR"},
		{"REALTIME_DB_WAIT=soon", "REALTIME_DB_WAIT"},
		{"REALTIME_JWKS_URL=auth.example.com/jwks.json", "REALTIME_JWKS_URL"},
		{"REALTIME_LOG_LEVEL=chatty", "REALTIME_LOG_LEVEL"},
		{"REALTIME_SOURCE=logical", "REALTIME_SOURCE"},
	} {
		for _, cmd := range [][]string{{"serve"}, {"migrate", "up"}, {"triggers", "apply"}, {"triggers", "diff"}} {
			t.Run(tc.setting+" "+strings.Join(cmd, " "), func(t *testing.T) {
				db, connections := fakeDatabase(t)
				_, stderr, code := runCLI(t, []string{"DATABASE_URL=" + db, tc.setting}, cmd...)
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
					t.Fatalf("exit %d, stderr %q: want status 2 and one line naming %s", code, stderr, tc.want)
				}
				if n := connections(); n != 0 {
					t.Fatalf("the database was contacted %d times before the configuration was checked", n)
				}
			})
		}
	}
}

// TestTakenAddressStopsBeforeTheDatabase: serve opens its address before it waits for the
// database, so a taken port fails at once, naming REALTIME_ADDR.
func TestTakenAddressStopsBeforeTheDatabase(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	db, connections := fakeDatabase(t)
	_, stderr, code := runCLI(t, []string{"DATABASE_URL=" + db, "REALTIME_ADDR=" + ln.Addr().String()}, "serve")
	if last := lastLine(stderr); code != 1 || !strings.Contains(last, "REALTIME_ADDR") || !strings.Contains(last, "address already in use") {
		t.Fatalf("exit %d, last line %q", code, last)
	}
	if n := connections(); n != 0 {
		t.Fatalf("the database was contacted %d times", n)
	}
}

// refusing returns dbURL going through a proxy that refuses connections until told otherwise.
func refusing(t *testing.T, dbURL string) (string, *tcpproxy.Proxy) {
	t.Helper()
	proxied, p := tcpproxy.Database(t, dbURL)
	p.Refuse(true)
	return proxied, p
}

// TestServeWaitsForTheDatabase: a node started before its database logs each attempt and
// serves once the database answers.
func TestServeWaitsForTheDatabase(t *testing.T) {
	dbURL, proxy := refusing(t, pgtest.NewDatabase(t))
	node := startServe(t, "DATABASE_URL="+dbURL, "REALTIME_REFERENCE_SCHEMA=true", "REALTIME_JWT_SECRET=s", "REALTIME_DB_WAIT=2m")
	wait.Until(t, "two attempts logged", func() bool { return strings.Count(node.Logs(), "database not reachable yet, retrying") >= 2 })
	proxy.Refuse(false)
	node.waitReady(t)
	if logs := node.Logs(); !strings.Contains(logs, `msg="database reachable"`) || !strings.Contains(logs, "attempts=") {
		t.Fatalf("no line says the database became reachable:\n%s", logs)
	}
}

// TestCommandsGiveUpAfterTheWait: migrate and triggers wait REALTIME_DB_WAIT, logging each
// attempt, then fail with one line naming DATABASE_URL and the wait.
func TestCommandsGiveUpAfterTheWait(t *testing.T) {
	dbURL, _ := refusing(t, pgtest.AdminURL(t))
	for _, cmd := range [][]string{{"migrate", "up"}, {"triggers", "apply"}} {
		_, stderr, code := runCLI(t, []string{"DATABASE_URL=" + dbURL, "REALTIME_DB_WAIT=1500ms"}, cmd...)
		last := lastLine(stderr)
		if code != 1 || !strings.Contains(last, "DATABASE_URL") || !strings.Contains(last, "REALTIME_DB_WAIT=1.5s") {
			t.Fatalf("%v: exit %d, last line %q", cmd, code, last)
		}
		if n := strings.Count(stderr, "database not reachable yet, retrying"); n < 2 {
			t.Fatalf("%v: %d attempts logged:\n%s", cmd, n, stderr)
		}
	}
}

// TestDatabaseSettingsInEveryForm: DATABASE_URL as a URL or keyword/value, with pool
// settings, empty with PG* variables, partial with PG* filling in, or a service file.
func TestDatabaseSettingsInEveryForm(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	host, port, name, user := u.Hostname(), u.Port(), strings.TrimPrefix(u.Path, "/"), u.User.Username()
	service := filepath.Join(t.TempDir(), "pg_service.conf")
	if err := os.WriteFile(service, []byte("[realtimed]\nhost="+host+"\nport="+port+"\ndbname="+name+"\nuser="+user+"\nsslmode=disable\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	latest, err := migrations.Latest(migrations.Realtime)
	if err != nil {
		t.Fatal(err)
	}
	pg := []string{"PGHOST=" + host, "PGPORT=" + port, "PGDATABASE=" + name, "PGUSER=" + user, "PGSSLMODE=disable"}
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"url", []string{"DATABASE_URL=" + dbURL}},
		{"keyword/value", []string{"DATABASE_URL=host=" + host + " port=" + port + " dbname=" + name + " user=" + user + " sslmode=disable"}},
		{"url with pool settings", []string{"DATABASE_URL=" + dbURL + "&pool_max_conns=3&pool_max_conn_idle_time=1m"}},
		{"PG* variables only", pg},
		{"url without host, PG* variables fill in", []string{"DATABASE_URL=postgres:///" + name, "PGHOST=" + host, "PGPORT=" + port, "PGUSER=" + user, "PGSSLMODE=disable"}},
		{"service file", []string{"PGSERVICEFILE=" + service, "PGSERVICE=realtimed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append([]string{"REALTIME_REFERENCE_SCHEMA=true", "HOME=" + t.TempDir()}, tc.env...)
			out, stderr, code := runCLI(t, env, "migrate", "version")
			if code != 0 || !strings.Contains(out, fmt.Sprintf("realtime: version %d\n", latest)) || !strings.Contains(out, "app: version") {
				t.Fatalf("migrate version: exit %d, out %q, stderr %q", code, out, stderr)
			}
			if out, stderr, code := runCLI(t, env, "triggers", "diff"); code != 0 || !strings.Contains(out, "identical") {
				t.Fatalf("triggers diff: exit %d, out %q, stderr %q", code, out, stderr)
			}
		})
	}
	// A node configured by PG* variables alone serves, and says which build it is.
	node := startServe(t, append(pg, "REALTIME_REFERENCE_SCHEMA=true", "REALTIME_JWT_SECRET=s", "HOME="+t.TempDir())...)
	node.waitReady(t)
	metrics := node.get(t, "/metrics")
	if !strings.Contains(metrics, "realtimed_build_info{") || !strings.Contains(metrics, `revision="`+gitRevision(t)+`"`) {
		t.Fatalf("realtimed_build_info lacks the revision %s:\n%s", gitRevision(t), grepLines(metrics, "realtimed_build_info"))
	}
}

// TestUnknownVariablesWarn: a misspelt REALTIME_* variable is named with the setting it
// probably meant.
func TestUnknownVariablesWarn(t *testing.T) {
	env := []string{"DATABASE_URL=" + pgtest.NewDatabase(t), "REALTIME_TRIGERS_DIR=/srv/rules"}
	_, stderr, code := runCLI(t, env, "migrate", "version")
	if code != 0 || !strings.Contains(stderr, "REALTIME_TRIGERS_DIR is not a realtimed setting and is ignored (did you mean REALTIME_TRIGGERS_DIR?)") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
