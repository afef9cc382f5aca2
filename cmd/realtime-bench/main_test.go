package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/realtimed/realtimed/bench/procstat"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFlagErrors(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://x/y", "REALTIME_JWT_SECRET": "s"}
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{}, base, "-workload must be"},
		{[]string{"-workload", "storm"}, base, "-workload must be"},
		{[]string{"-workload", "fanout"}, map[string]string{"REALTIME_JWT_SECRET": "s"}, "-db"},
		{[]string{"-workload", "fanout"}, map[string]string{"DATABASE_URL": "postgres://x/y"}, "-secret"},
		{[]string{"-workload", "idle"}, base, "idle needs -pid"},
		{[]string{"-workload", "personal", "-pid", "1"}, base, "-rate"},
		{[]string{"-workload", "fanout", "-pid", "1", "-stats-url", "http://x"}, base, "not both"},
		{[]string{"-workload", "fanout", "-clients", "0"}, base, "-clients"},
		{[]string{"-workload", "fanout", "extra"}, base, "unexpected arguments"},
	}
	for _, c := range cases {
		var stderr bytes.Buffer
		code := mainWithArgs(c.args, env(c.env), &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

func TestFlagsBuildConfig(t *testing.T) {
	o, err := parseFlags([]string{"-workload", "fanout", "-stats-url", "http://127.0.0.1:3101/stats",
		"-source-ips", "127.0.0.1,127.0.0.2", "-room", "user"}, env(map[string]string{"DATABASE_URL": "postgres://x/y", "REALTIME_JWT_SECRET": "s"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	c := o.config(nil)
	if c.Server != procstat.URL("http://127.0.0.1:3101/stats") || len(c.Target.SourceIPs) != 2 || c.DatabaseURL != "postgres://x/y" {
		t.Fatalf("config %+v", c)
	}
	if code := mainWithArgs([]string{"-h"}, env(nil), &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("-h exits %d", code)
	}
}
