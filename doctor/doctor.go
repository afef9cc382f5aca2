// Package doctor checks a realtimed installation and reports one line per check
// (`realtimed doctor`): the database, its schema, the live rules against the configured
// ones, the keys, the NOTIFY queue, the open-file limit and the environment.
//
// Adding a check is a one-file change: a new file in this package whose init registers it.
//
//	func init() {
//		Register(Check{Name: "wal", Order: 35, NeedsDatabase: true,
//			Applies: func(cfg config.Config) bool { return … },
//			Run: func(ctx context.Context, env *Env) Result { … return Passf("wal_level is logical") }})
//	}
//
// Order places the line in the report: 10 database, 20 schema, 30 rules, 40 keys,
// 45 sessions, 50 notify queue, 60 open files, 90 environment; the event source's checks
// belong in 31–39 (the wal source's: 31 wal level, 32 replication, 33 slot), the bus's in 70–79.
package doctor

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Status is a check's verdict.
type Status int

// Verdicts, from best to worst.
const (
	OK      Status = iota
	Skipped        // could not be checked (the database is unreachable)
	Warning        // works, but deserves a look
	Failed         // something is wrong: doctor exits non-zero
)

func (s Status) String() string {
	return [...]string{"ok", "skip", "warn", "FAIL"}[s]
}

// Result is a check's verdict and its one line of explanation.
type Result struct {
	Status  Status
	Message string
}

// Passf, Warnf and Failf build results.
func Passf(format string, args ...any) Result { return Result{OK, fmt.Sprintf(format, args...)} }

// Warnf builds a Warning.
func Warnf(format string, args ...any) Result { return Result{Warning, fmt.Sprintf(format, args...)} }

// Failf builds a Failed result.
func Failf(format string, args ...any) Result { return Result{Failed, fmt.Sprintf(format, args...)} }

// DefaultTimeout bounds a check that sets no Timeout.
const DefaultTimeout = 10 * time.Second

// Check is one line of the report.
type Check struct {
	// Name starts the line ("database", "rules").
	Name string
	// Order places the check in the report (see the package documentation).
	Order int
	// NeedsDatabase skips the check when the database cannot be reached.
	NeedsDatabase bool
	// Applies leaves the check out of the report when it returns false (nil: always applies).
	Applies func(env *Env) bool
	// Timeout bounds Run (0: DefaultTimeout).
	Timeout time.Duration
	// Run checks and says what it found.
	Run func(ctx context.Context, env *Env) Result
}

var (
	mu     sync.Mutex
	checks []Check
)

// Register adds a check to every report. Call it from an init function.
func Register(c Check) {
	if c.Name == "" || c.Run == nil {
		panic("doctor: a check needs a Name and a Run")
	}
	mu.Lock()
	defer mu.Unlock()
	checks = append(checks, c)
}

// Checks returns the registered checks in report order.
func Checks() []Check {
	mu.Lock()
	defer mu.Unlock()
	out := append([]Check(nil), checks...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Order < out[j].Order })
	return out
}

// Summary counts a report's verdicts.
type Summary struct {
	Checks, Failed, Warnings, Skipped int
}

// Run runs the checks that apply to env, in order, and writes one line for each to w, then a
// summary line.
func Run(ctx context.Context, env *Env, w io.Writer) Summary {
	var sum Summary
	for _, c := range Checks() {
		if c.Applies != nil && !c.Applies(env) {
			continue
		}
		res := runOne(ctx, env, c)
		fmt.Fprintf(w, "%-4s  %-13s %s\n", res.Status, c.Name, res.Message)
		sum.Checks++
		switch res.Status {
		case Failed:
			sum.Failed++
		case Warning:
			sum.Warnings++
		case Skipped:
			sum.Skipped++
		}
	}
	fmt.Fprintf(w, "doctor: %d checks, %d failed, %d warnings, %d skipped\n", sum.Checks, sum.Failed, sum.Warnings, sum.Skipped)
	return sum
}

func runOne(ctx context.Context, env *Env, c Check) (res Result) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if c.NeedsDatabase {
		if _, err := env.Pool(ctx); err != nil {
			return Result{Skipped, "the database is not reachable"}
		}
	}
	defer func() {
		if p := recover(); p != nil {
			res = Failf("the check failed: %v", p)
		}
	}()
	return c.Run(ctx, env)
}
