// Package procstat samples a server's CPU time and resident memory: from /proc for a process
// id, or from a JSON endpoint (the Node peer's /stats: {"rssKB","cpuSec"}).
package procstat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Sample is one reading of a process's resources.
type Sample struct {
	CPUSec float64   // user + system CPU time since the process started
	SysSec float64   // the system (kernel) part of CPUSec; 0 when the source does not tell
	RSSKB  int64     // resident set size
	At     time.Time // when it was read
}

// Source reads samples.
type Source interface {
	Sample(ctx context.Context) (Sample, error)
	// Name describes the source for the report ("pid 1234", "http://…/stats").
	Name() string
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// PID reads /proc/<pid>/stat (utime + stime, 10 ms resolution) and /proc/<pid>/status (VmRSS).
type PID int

// Name implements Source.
func (p PID) Name() string { return "pid " + strconv.Itoa(int(p)) }

// Sample implements Source.
func (p PID) Sample(context.Context) (Sample, error) {
	at := time.Now()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", int(p)))
	if err != nil {
		return Sample{}, fmt.Errorf("reading CPU time: %w", err)
	}
	user, sys, err := parseStatCPU(stat)
	if err != nil {
		return Sample{}, fmt.Errorf("/proc/%d/stat: %w", int(p), err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", int(p)))
	if err != nil {
		return Sample{}, fmt.Errorf("reading RSS: %w", err)
	}
	rss, err := parseStatusRSS(status)
	if err != nil {
		return Sample{}, fmt.Errorf("/proc/%d/status: %w", int(p), err)
	}
	return Sample{CPUSec: user + sys, SysSec: sys, RSSKB: rss, At: at}, nil
}

// parseStatCPU returns utime and stime in seconds. Fields are counted after the command name,
// which is in parentheses and may itself contain spaces and parentheses.
func parseStatCPU(stat []byte) (user, sys float64, err error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, 0, errors.New("no command name")
	}
	fields := bytes.Fields(stat[end+1:])
	// After the name: state(3) ppid(4) … utime(14) stime(15), i.e. indexes 11 and 12 here.
	if len(fields) < 13 {
		return 0, 0, errors.New("too few fields")
	}
	utime, err1 := strconv.ParseUint(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(fields[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, err
	}
	return float64(utime) / clockTicks, float64(stime) / clockTicks, nil
}

func parseStatusRSS(status []byte) (int64, error) {
	for _, line := range bytes.Split(status, []byte{'\n'}) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", line)
		}
		return strconv.ParseInt(string(f[0]), 10, 64)
	}
	return 0, errors.New("no VmRSS line (has the process exited?)")
}

// URL reads a JSON endpoint answering {"rssKB": n, "cpuSec": x}, like the Node peer's /stats.
type URL string

// Name implements Source.
func (u URL) Name() string { return string(u) }

// Sample implements Source.
func (u URL) Sample(ctx context.Context) (Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, string(u), nil)
	if err != nil {
		return Sample{}, fmt.Errorf("stats URL: %w", err)
	}
	at := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Sample{}, fmt.Errorf("reading %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Sample{}, fmt.Errorf("reading %s: HTTP %d", u, resp.StatusCode)
	}
	var body struct {
		RSSKB  *int64   `json:"rssKB"`
		CPUSec *float64 `json:"cpuSec"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return Sample{}, fmt.Errorf("decoding %s: %w", u, err)
	}
	if body.RSSKB == nil || body.CPUSec == nil {
		return Sample{}, fmt.Errorf("%s: the answer needs rssKB and cpuSec", u)
	}
	return Sample{CPUSec: *body.CPUSec, RSSKB: *body.RSSKB, At: at}, nil
}

// SettleOptions drive Settle.
type SettleOptions struct {
	Min       time.Duration // wait at least this long (default 10s)
	Max       time.Duration // give up waiting for stability after this long (default 60s)
	Interval  time.Duration // between samples (default 1s)
	Window    int           // this many consecutive samples… (default 5)
	Tolerance float64       // …within this fraction of each other (default 0.01)
}

func (o SettleOptions) withDefaults() SettleOptions {
	if o.Min <= 0 {
		o.Min = 10 * time.Second
	}
	if o.Max < o.Min {
		o.Max = max(60*time.Second, o.Min)
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Window <= 1 {
		o.Window = 5
	}
	if o.Tolerance <= 0 {
		o.Tolerance = 0.01
	}
	return o
}

// Settle waits until the process's RSS is stable, the same way for any server: at least Min,
// then until Window consecutive samples lie within Tolerance of each other, or Max has passed.
// It returns the last sample and whether RSS settled.
func Settle(ctx context.Context, src Source, o SettleOptions) (Sample, bool, error) {
	o = o.withDefaults()
	start := time.Now()
	var window []Sample
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		s, err := src.Sample(ctx)
		if err != nil {
			return Sample{}, false, err
		}
		window = append(window, s)
		if len(window) > o.Window {
			window = window[1:]
		}
		elapsed := time.Since(start)
		if elapsed >= o.Min && len(window) == o.Window && stable(window, o.Tolerance) {
			return s, true, nil
		}
		if elapsed >= o.Max {
			return s, false, nil
		}
		select {
		case <-ctx.Done():
			return s, false, ctx.Err()
		case <-tick.C:
		}
	}
}

func stable(w []Sample, tol float64) bool {
	lo, hi := w[0].RSSKB, w[0].RSSKB
	for _, s := range w[1:] {
		lo, hi = min(lo, s.RSSKB), max(hi, s.RSSKB)
	}
	return float64(hi-lo) <= tol*float64(hi)
}
