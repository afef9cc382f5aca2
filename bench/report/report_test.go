package report

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `time="…" level=info msg="a log line is skipped"
{"workload":"idle","label":"realtimed","clients":10000,"server_kb_per_connection":7,"server_connect_cpu_sec":3}
{"workload":"idle","label":"node","clients":10000,"server_kb_per_connection":21,"server_connect_cpu_sec":6}
{"workload":"fanout","label":"realtimed","clients":1000,"room":"chat","events":2000,"payload_bytes":300,"rate":0,"deliveries_per_server_cpu_sec":400000,"server_cpu_us_per_delivery":2.5,"latency":{"p50_ms":70,"p99_ms":250}}
{"workload":"fanout","label":"realtimed","clients":1000,"room":"chat","events":2000,"payload_bytes":300,"rate":0,"deliveries_per_server_cpu_sec":300000,"server_cpu_us_per_delivery":3.3,"latency":{"p50_ms":90,"p99_ms":300}}
{"workload":"fanout","label":"realtimed","clients":1000,"room":"chat","events":2000,"payload_bytes":300,"rate":0,"deliveries_per_server_cpu_sec":500000,"server_cpu_us_per_delivery":2,"latency":{"p50_ms":60,"p99_ms":200}}
{"workload":"fanout","label":"node","clients":1000,"room":"chat","events":2000,"payload_bytes":300,"rate":0,"deliveries_per_server_cpu_sec":65000,"server_cpu_us_per_delivery":15.4,"latency":{"p50_ms":15000,"p99_ms":30000}}
{"workload":"fanout","label":"realtimed","clients":1000,"room":"chat","events":600,"payload_bytes":300,"rate":20,"deliveries_per_server_cpu_sec":70000,"server_cpu_us_per_delivery":14}
{"workload":"personal","label":"realtimed","clients":5000,"rate":2000,"duration_sec":30,"latency":{"p50_ms":3,"p90_ms":5,"p99_ms":9,"max_ms":20},"lost":0,"duplicated":0,"unexpected":0,"server":{"cpu_sec":10}}
{"workload":"personal","label":"node","clients":5000,"rate":2000,"duration_sec":30,"latency":{"p50_ms":4,"p90_ms":8,"p99_ms":30,"max_ms":90},"lost":0,"duplicated":0,"unexpected":0,"server":{"cpu_sec":30}}
`

func TestMarkdown(t *testing.T) {
	results, err := Read(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 9 {
		t.Fatalf("%d results, want 9", len(results))
	}
	var out bytes.Buffer
	if err := Markdown(&out, results, "realtimed", "node"); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"| idle, 10000 clients (1+1 runs) | server memory per connection (KB) | 7.00 | 21.0 | 3.00× |",
		// Three realtimed runs: their median against node's one run.
		"| fanout, 1000 clients in a chat room, 2000 events of 300 B, back to back (3+1 runs) | deliveries per server CPU-second | 400000 | 65000 | 6.15× |",
		"| server CPU per delivery (µs) | 2.50 | 15.4 | 6.16× |",
		"| lost + duplicated | 0.00 | 0.00 | = |",
		"| personal, 5000 users, 2000 events/s for 30s (1+1 runs) | commit→client p50 (ms) | 3.00 | 4.00 | 1.33× |",
		"| server CPU (s) | 10.0 | 30.0 | 3.00× |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	// The paced fan-out ran for realtimed only: no row.
	if strings.Contains(got, "20 events/s") {
		t.Errorf("a scenario without a baseline run is in the table:\n%s", got)
	}
	if idle, fan := strings.Index(got, "idle,"), strings.Index(got, "fanout,"); idle > fan {
		t.Error("idle should come first")
	}
}

func TestReadAndMarkdownErrors(t *testing.T) {
	if _, err := Read(strings.NewReader(`{"workload":"idle"}`)); err == nil {
		t.Error("a result without a label was accepted")
	}
	if _, err := Read(strings.NewReader(`{"workload":`)); err == nil {
		t.Error("broken JSON was accepted")
	}
	results, _ := Read(strings.NewReader(`{"workload":"idle","label":"realtimed"}`))
	if err := Markdown(&bytes.Buffer{}, results, "realtimed", "node"); err == nil {
		t.Error("a report with no baseline was produced")
	}
}

func TestAdvantage(t *testing.T) {
	cases := []struct {
		a, b  float64
		lower bool
		want  string
	}{
		{4, 2, false, "2.00×"},
		{1, 2, true, "2.00×"},
		{0, 0, true, "="},
		{0, 3, true, "∞"},
		{2, 4, false, "0.50×"},
	}
	for _, c := range cases {
		if got := advantage(c.a, c.b, c.lower); got != c.want {
			t.Errorf("advantage(%v, %v, %v) = %s, want %s", c.a, c.b, c.lower, got, c.want)
		}
	}
}
