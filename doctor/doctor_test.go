package doctor

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/realtimed/realtimed/config"
)

// withChecks replaces the registered checks for a test.
func withChecks(t *testing.T, cs ...Check) {
	t.Helper()
	mu.Lock()
	saved := checks
	checks = nil
	mu.Unlock()
	for _, c := range cs {
		Register(c)
	}
	t.Cleanup(func() {
		mu.Lock()
		checks = saved
		mu.Unlock()
	})
}

func TestRunReportsOneLinePerCheckInOrder(t *testing.T) {
	withChecks(t,
		Check{Name: "second", Order: 20, Run: func(context.Context, *Env) Result { return Warnf("look at %s", "this") }},
		Check{Name: "first", Order: 10, Run: func(context.Context, *Env) Result { return Passf("fine") }},
		Check{Name: "absent", Order: 15, Applies: func(*Env) bool { return false }, Run: func(context.Context, *Env) Result { panic("ran") }},
		Check{Name: "panics", Order: 30, Run: func(context.Context, *Env) Result { panic("boom") }},
		Check{Name: "needs db", Order: 40, NeedsDatabase: true, Run: func(context.Context, *Env) Result { return Passf("unreachable") }},
	)
	var out bytes.Buffer
	sum := Run(context.Background(), &Env{}, &out)
	want := "ok    first         fine\n" +
		"warn  second        look at this\n" +
		"FAIL  panics        the check failed: boom\n" +
		"skip  needs db      the database is not reachable\n" +
		"doctor: 4 checks, 1 failed, 1 warnings, 1 skipped\n"
	if out.String() != want {
		t.Fatalf("report\n%s\nwant\n%s", out.String(), want)
	}
	if sum != (Summary{Checks: 4, Failed: 1, Warnings: 1, Skipped: 1}) {
		t.Fatalf("summary %+v", sum)
	}
}

func TestRegisteredChecks(t *testing.T) {
	var names []string
	for _, c := range Checks() {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); !strings.HasPrefix(got, "database,schema,rules,wal level,replication,slot,keys,sessions,notify queue") || !strings.HasSuffix(got, "environment") {
		t.Fatalf("checks in order: %s", got)
	}
}

func TestQueueVerdict(t *testing.T) {
	for _, tc := range []struct {
		usage float64
		want  Status
	}{{0, OK}, {0.09, OK}, {0.1, Warning}, {0.49, Warning}, {0.5, Failed}, {1, Failed}} {
		if got := queueVerdict(tc.usage); got.Status != tc.want || !strings.Contains(got.Message, "% of the NOTIFY queue") {
			t.Errorf("usage %v: %v %q, want %v", tc.usage, got.Status, got.Message, tc.want)
		}
	}
}

func TestPerNodeLoad(t *testing.T) {
	for _, tc := range []struct {
		l    load
		want uint64
	}{
		{load{clients: 0, nodes: 0}, 0},
		{load{clients: 500, nodes: 1}, 500},  // one node takes everything
		{load{clients: 500, nodes: 2}, 500},  // the survivor of two takes everything
		{load{clients: 900, nodes: 4}, 300},  // three survivors share
		{load{clients: 1000, nodes: 4}, 334}, // rounded up
	} {
		if got := tc.l.perNode(); got != tc.want {
			t.Errorf("%+v: perNode %d, want %d", tc.l, got, tc.want)
		}
	}
}

func TestEnvironmentCheck(t *testing.T) {
	env := &Env{Config: config.Config{}, Environ: []string{"REALTIME_ADDR=:1", "REALTIME_ADMN_TOKEN=x"}}
	if res := checkEnvironment(context.Background(), env); res.Status != Warning || !strings.Contains(res.Message, "did you mean REALTIME_ADMIN_TOKEN?") {
		t.Fatalf("%v %q", res.Status, res.Message)
	}
	env.Environ = []string{"REALTIME_ADDR=:1"}
	if res := checkEnvironment(context.Background(), env); res.Status != OK {
		t.Fatalf("%v %q", res.Status, res.Message)
	}
}
