package main

import (
	"bytes"
	"os"
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

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/results.jsonl"
	lines := `{"workload":"idle","label":"realtimed","clients":10,"server_kb_per_connection":5}
{"workload":"idle","label":"node","clients":10,"server_kb_per_connection":20}
`
	if err := os.WriteFile(file, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := mainWithArgs([]string{"report", file}, env(nil), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "| idle, 10 clients (1+1 runs) | server memory per connection (KB) | 5.00 | 20.0 | 4.00× |") {
		t.Fatalf("report:\n%s", out.String())
	}
	if code := mainWithArgs([]string{"report"}, env(nil), &out, &errOut); code != 2 {
		t.Fatalf("report without files: exit %d", code)
	}
	if code := mainWithArgs([]string{"report", dir + "/missing"}, env(nil), &out, &errOut); code != 1 {
		t.Fatalf("report of a missing file: exit %d", code)
	}
}
