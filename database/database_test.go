package database_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/internal/pgtest"
)

// keywordValue turns a postgres:// URL into the keyword/value form of the same connection.
func keywordValue(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	kv := []string{"host=" + u.Hostname(), "port=" + u.Port(), "dbname=" + strings.TrimPrefix(u.Path, "/"), "user=" + u.User.Username()}
	if p, ok := u.User.Password(); ok {
		kv = append(kv, "password="+p)
	}
	for k, v := range u.Query() {
		kv = append(kv, k+"="+v[0])
	}
	return strings.Join(kv, " ")
}

func TestParseForms(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	withPool := dbURL + "&pool_max_conns=3&pool_max_conn_idle_time=1m"
	if !strings.Contains(dbURL, "?") {
		withPool = dbURL + "?pool_max_conns=3&pool_max_conn_idle_time=1m"
	}
	cases := []struct {
		name     string
		conn     string
		maxConns int32
		set      bool
	}{
		{"url", dbURL, database.DefaultMaxConns(), false},
		{"keyword/value", keywordValue(t, dbURL), database.DefaultMaxConns(), false},
		{"url with pool settings", withPool, 3, true},
		{"keyword/value with pool settings", keywordValue(t, dbURL) + " pool_max_conns = 3", 3, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := database.Parse(tc.conn)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MaxConns() != tc.maxConns || cfg.MaxConnsSet() != tc.set {
				t.Fatalf("MaxConns %d (set %v), want %d (set %v)", cfg.MaxConns(), cfg.MaxConnsSet(), tc.maxConns, tc.set)
			}
			// Pool settings never reach the server as run-time parameters: a single
			// connection made with the same string must work.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := cfg.Connect(ctx, "database-test")
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var app string
			if err := conn.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&app); err != nil || app != "database-test" {
				t.Fatalf("application_name %q, err %v", app, err)
			}
			pool, err := cfg.NewPool(ctx, "database-test-pool", 2)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if pool.Config().MaxConns != 2 {
				t.Fatalf("pool size %d, want 2", pool.Config().MaxConns)
			}
			if err := pool.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&app); err != nil || app != "database-test-pool" {
				t.Fatalf("pool application_name %q, err %v", app, err)
			}
		})
	}
}

func TestParseEnvironment(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	u, _ := url.Parse(dbURL)
	for _, v := range database.EnvVars {
		t.Setenv(v, "")
	}
	if _, err := database.ParseSetting(""); !errors.Is(err, database.ErrNoDatabase) {
		t.Fatalf("no DATABASE_URL, no PG*: %v, want ErrNoDatabase", err)
	}
	t.Setenv("PGHOST", u.Hostname())
	t.Setenv("PGPORT", u.Port())
	t.Setenv("PGDATABASE", strings.TrimPrefix(u.Path, "/"))
	t.Setenv("PGUSER", u.User.Username())
	t.Setenv("PGSSLMODE", "disable")
	for _, setting := range []string{"", "pool_max_conns=5"} {
		cfg, err := database.ParseSetting(setting)
		if err != nil {
			t.Fatalf("%q: %v", setting, err)
		}
		conn, err := cfg.Connect(context.Background(), "")
		if err != nil {
			t.Fatalf("%q: %v", setting, err)
		}
		_ = conn.Close(context.Background())
	}
}

func TestErrorsNameTheDatabaseNotThePassword(t *testing.T) {
	for _, bad := range []string{"mysql://nope", "host=127.0.0.1 port=notaport", "postgres://u:secret@[::1:5432/db"} {
		_, err := database.Parse(bad)
		if err == nil {
			t.Fatalf("%q parsed", bad)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("error shows the password: %v", err)
		}
	}
	cfg := database.MustParse("postgres://u:secret@127.0.0.1:1/db?sslmode=disable&connect_timeout=1")
	_, err := cfg.Connect(context.Background(), "")
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "dbname=db") {
		t.Fatalf("connect error %v: want the database named, no password", err)
	}
	if s := fmt.Sprint(cfg); strings.Contains(s, "secret") {
		t.Fatalf("String shows the password: %s", s)
	}
}

// TestConnectReplication opens a logical replication connection from each form of the
// connection string: it answers IDENTIFY_SYSTEM (only replication connections do) with the
// database it was opened on, and it still runs SQL.
func TestConnectReplication(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	for name, conn := range map[string]string{"url": dbURL, "keyword/value": keywordValue(t, dbURL)} {
		t.Run(name, func(t *testing.T) {
			cfg, err := database.Parse(conn)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rc, err := cfg.ConnectReplication(ctx, "realtimed-test-replication")
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close(ctx)
			res, err := rc.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
			if err != nil {
				t.Fatalf("IDENTIFY_SYSTEM: %v", err)
			}
			row := res[0].Rows[0]
			if got, want := string(row[3]), cfg.ConnConfig("").Database; got != want {
				t.Fatalf("IDENTIFY_SYSTEM names database %q, want %q", got, want)
			}
			if _, err := rc.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
				t.Fatalf("SQL on the replication connection: %v", err)
			}
		})
	}
}
