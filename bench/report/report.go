// Package report turns realtime-bench results (one JSON object per line, each labelled with
// the server it measured) into a Markdown table comparing a server with a baseline, metric by
// metric, as ratios. Runs of the same workload with the same parameters and label are combined
// by their median.
package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
)

// Result holds the fields of a bench result that the report uses.
type Result struct {
	Workload     string  `json:"workload"`
	Label        string  `json:"label"`
	Clients      int     `json:"clients"`
	Room         string  `json:"room"`
	Events       int     `json:"events"`
	PayloadBytes int     `json:"payload_bytes"`
	Rate         float64 `json:"rate"`
	DurationSec  float64 `json:"duration_sec"`

	KBPerConn     float64 `json:"server_kb_per_connection"`
	ConnectCPUSec float64 `json:"server_connect_cpu_sec"`

	PerCPUSec  float64 `json:"deliveries_per_server_cpu_sec"`
	CPUus      float64 `json:"server_cpu_us_per_delivery"`
	Expected   int64   `json:"deliveries_expected"`
	Delivered  int64   `json:"deliveries"`
	Lost       int64   `json:"lost"`
	Duplicated int64   `json:"duplicated"`
	Unexpected int64   `json:"unexpected"`
	Latency    struct {
		P50 float64 `json:"p50_ms"`
		P90 float64 `json:"p90_ms"`
		P99 float64 `json:"p99_ms"`
		Max float64 `json:"max_ms"`
	} `json:"latency"`
	Server *struct {
		CPUSec float64 `json:"cpu_sec"`
	} `json:"server"`
}

// metric is one row of the table.
type metric struct {
	name  string
	unit  string
	lower bool // lower is better
	get   func(r *Result) (float64, bool)
}

func always(f func(r *Result) float64) func(r *Result) (float64, bool) {
	return func(r *Result) (float64, bool) { return f(r), true }
}

func serverCPU(r *Result) (float64, bool) {
	if r.Server == nil {
		return 0, false
	}
	return r.Server.CPUSec, true
}

var metrics = map[string][]metric{
	"idle": {
		{"server memory per connection", "KB", true, always(func(r *Result) float64 { return r.KBPerConn })},
		{"server CPU to accept and authenticate the clients", "s", true, always(func(r *Result) float64 { return r.ConnectCPUSec })},
	},
	"fanout": {
		{"deliveries per server CPU-second", "", false, always(func(r *Result) float64 { return r.PerCPUSec })},
		{"server CPU per delivery", "µs", true, always(func(r *Result) float64 { return r.CPUus })},
		{"latency p50", "ms", true, always(func(r *Result) float64 { return r.Latency.P50 })},
		{"latency p99", "ms", true, always(func(r *Result) float64 { return r.Latency.P99 })},
		{"lost + duplicated", "", true, always(func(r *Result) float64 { return float64(r.Lost + r.Duplicated) })},
	},
	"personal": {
		{"commit→client p50", "ms", true, always(func(r *Result) float64 { return r.Latency.P50 })},
		{"commit→client p90", "ms", true, always(func(r *Result) float64 { return r.Latency.P90 })},
		{"commit→client p99", "ms", true, always(func(r *Result) float64 { return r.Latency.P99 })},
		{"commit→client max", "ms", true, always(func(r *Result) float64 { return r.Latency.Max })},
		{"lost + duplicated + unexpected", "", true, always(func(r *Result) float64 { return float64(r.Lost + r.Duplicated + r.Unexpected) })},
		{"server CPU", "s", true, serverCPU},
	},
}

// Read parses results, one JSON object per line; other lines (logs) are skipped.
func Read(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var res Result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		if res.Workload == "" || res.Label == "" {
			return nil, fmt.Errorf("report: a result without workload or label: %.80s", line)
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// scenario names a workload with its parameters.
func scenario(r *Result) string {
	switch r.Workload {
	case "idle":
		return fmt.Sprintf("idle, %d clients", r.Clients)
	case "fanout":
		rate := "back to back"
		if r.Rate > 0 {
			rate = fmt.Sprintf("%g events/s", r.Rate)
		}
		return fmt.Sprintf("fanout, %d clients in a %s room, %d events of %d B, %s", r.Clients, r.Room, r.Events, r.PayloadBytes, rate)
	default:
		return fmt.Sprintf("personal, %d users, %g events/s for %gs", r.Clients, r.Rate, r.DurationSec)
	}
}

// Markdown writes a table comparing label with baseline for every scenario both ran.
func Markdown(w io.Writer, results []Result, label, baseline string) error {
	groups := map[string]map[string][]*Result{}
	var order []string
	for i := range results {
		r := &results[i]
		s := scenario(r)
		if groups[s] == nil {
			groups[s] = map[string][]*Result{}
			order = append(order, s)
		}
		groups[s][r.Label] = append(groups[s][r.Label], r)
	}
	sort.SliceStable(order, func(i, j int) bool { return workloadRank(order[i]) < workloadRank(order[j]) })
	fmt.Fprintf(w, "| scenario | metric | %s | %s | %s advantage |\n|---|---|---:|---:|---:|\n", label, baseline, label)
	rows := 0
	for _, s := range order {
		ours, theirs := groups[s][label], groups[s][baseline]
		if len(ours) == 0 || len(theirs) == 0 {
			continue
		}
		runs := fmt.Sprintf(" (%d+%d runs)", len(ours), len(theirs))
		for _, m := range metrics[ours[0].Workload] {
			a, okA := median(ours, m.get)
			b, okB := median(theirs, m.get)
			if !okA || !okB {
				continue
			}
			fmt.Fprintf(w, "| %s%s | %s | %s | %s | %s |\n", s, runs, withUnit(m.name, m.unit), num(a), num(b), advantage(a, b, m.lower))
			runs = ""
			rows++
		}
	}
	if rows == 0 {
		return fmt.Errorf("report: no scenario has results for both %q and %q", label, baseline)
	}
	return nil
}

func workloadRank(s string) int {
	for i, p := range []string{"idle", "fanout", "personal"} {
		if strings.HasPrefix(s, p) {
			return i
		}
	}
	return 3
}

func median(rs []*Result, get func(*Result) (float64, bool)) (float64, bool) {
	var v []float64
	for _, r := range rs {
		if x, ok := get(r); ok {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], true
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
}

func withUnit(name, unit string) string {
	if unit == "" {
		return name
	}
	return name + " (" + unit + ")"
}

func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// advantage is how many times better a is than b ("=" when both are zero).
func advantage(a, b float64, lower bool) string {
	if a == b {
		return "="
	}
	if lower {
		a, b = b, a
	}
	if b == 0 {
		return "∞"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
