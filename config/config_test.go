package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/realtimed/realtimed/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := config.Load(env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":3001" || c.PingInterval != 25*time.Second || c.PingTimeout != 20*time.Second ||
		c.MaxPayload != 1_000_000 || !c.AutoMigrate || !c.ApplyTriggers || c.ReferenceSchema {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if len(c.CORSOrigins) != 3 {
		t.Fatalf("default origins: %v", c.CORSOrigins)
	}
	if err := c.RequireDatabase(); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("RequireDatabase: %v", err)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	c, err := config.Load(env(map[string]string{"REALTIME_ADDR": ":4000", "REALTIME_LOG_LEVEL": "warn"}),
		[]string{"--addr", "127.0.0.1:5000"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:5000" || c.LogLevel.String() != "warning" {
		t.Fatalf("got addr %q level %v", c.Addr, c.LogLevel)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"DATABASE_URL": "mysql://x"}, nil, "DATABASE_URL"},
		{map[string]string{"REALTIME_PING_INTERVAL": "soon"}, nil, "REALTIME_PING_INTERVAL"},
		{map[string]string{"REALTIME_MAX_PAYLOAD": "-1"}, nil, "REALTIME_MAX_PAYLOAD"},
		{map[string]string{"REALTIME_LOG_FORMAT": "xml"}, nil, "REALTIME_LOG_FORMAT"},
		{map[string]string{"REALTIME_CORS_ORIGINS": "localhost:3000"}, nil, "REALTIME_CORS_ORIGINS"},
		{map[string]string{"REALTIME_AUTO_MIGRATE": "maybe"}, nil, "REALTIME_AUTO_MIGRATE"},
		{map[string]string{"REALTIME_DEMO": "true"}, nil, "REALTIME_JWT_SECRET"},
		{map[string]string{"REALTIME_DEMO": "yes please"}, nil, "REALTIME_DEMO"},
		{nil, []string{"--no-such-flag"}, "no-such-flag"},
		{nil, []string{"extra"}, "unexpected argument"},
	}
	for _, tc := range cases {
		_, err := config.Load(env(tc.env), tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("env %v args %v: error %v, want one line naming %s", tc.env, tc.args, err, tc.want)
		}
	}
}

func TestDatabaseURLForms(t *testing.T) {
	cases := []struct {
		name, value string
		ok          bool
	}{
		{"url", "postgres://u:pw@db.example:5432/app?sslmode=disable", true},
		{"keyword/value", "host=db.example port=5432 dbname=app user=u password=pw sslmode=disable", true},
		{"pool settings", "postgres://u@db.example/app?pool_max_conns=20&pool_min_conns=2", true},
		{"bad url, password hidden", "postgres://u:hunter2@db.example:notaport/app", false},
		{"bad keyword/value, password hidden", "host=db.example port=notaport password=hunter2", false},
		{"bad keyword/value, quoted password hidden", "host=db.example port=x password='hunter 2'", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(func(k string) string { return map[string]string{"DATABASE_URL": tc.value}[k] }, nil)
			if tc.ok {
				if err != nil || c.DB == nil || c.RequireDatabase() != nil {
					t.Fatalf("Load: %v (DB %v)", err, c.DB)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), "hunter") {
				t.Fatalf("error %v: want one naming DATABASE_URL without the password", err)
			}
		})
	}
}
