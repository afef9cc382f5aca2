// Package wait polls a condition until it holds, for tests: the one place tests wait for
// something to happen in another goroutine, process or database.
package wait

import (
	"testing"
	"time"
)

// DefaultTimeout is how long Until waits. It is generous: the machines tests run on are shared
// and slow at times, and a condition that holds returns at once.
const DefaultTimeout = 20 * time.Second

// interval is the time between two checks of the condition.
const interval = 10 * time.Millisecond

// Until checks cond every few milliseconds until it returns true, and fails the test (naming
// what) when it has not after DefaultTimeout.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	UntilWithin(t, DefaultTimeout, what, cond)
}

// UntilWithin is Until with its own timeout.
func UntilWithin(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !For(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// For checks cond until it returns true or timeout has passed, and reports whether it held.
func For(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}
