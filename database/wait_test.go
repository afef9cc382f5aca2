package database_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/tcpproxy"
)

func TestWaitRetriesUntilTheDatabaseAnswers(t *testing.T) {
	proxied, proxy := tcpproxy.Database(t, pgtest.NewDatabase(t))
	proxy.Refuse(true)
	log, hook := test.NewNullLogger()
	// Let the database "come up" after the second failed attempt.
	go func() {
		for range time.Tick(20 * time.Millisecond) {
			if len(hook.AllEntries()) >= 2 {
				proxy.Refuse(false)
				return
			}
		}
	}()
	start := time.Now()
	if err := database.MustParse(proxied).Wait(context.Background(), 30*time.Second, log); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	entries := hook.AllEntries()
	if len(entries) < 3 {
		t.Fatalf("want a warning per failed attempt and a last line; got %d entries", len(entries))
	}
	for _, e := range entries[:len(entries)-1] {
		if e.Level != logrus.WarnLevel || e.Message != "database not reachable yet, retrying" || e.Data["attempt"] == nil || e.Data["retry_in"] == nil {
			t.Errorf("attempt line: %v %q %v", e.Level, e.Message, e.Data)
		}
	}
	if last := entries[len(entries)-1]; last.Message != "database reachable" {
		t.Errorf("last line %q", last.Message)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("Wait took %s", time.Since(start))
	}
}

func TestWaitGivesUpAfterTheLimit(t *testing.T) {
	proxied, proxy := tcpproxy.Database(t, pgtest.NewDatabase(t))
	proxy.Refuse(true)
	log, hook := test.NewNullLogger()
	start := time.Now()
	err := database.MustParse(proxied).Wait(context.Background(), 1500*time.Millisecond, log)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(err.Error(), "REALTIME_DB_WAIT=1.5s") {
		t.Fatalf("error %v: want one naming DATABASE_URL and REALTIME_DB_WAIT", err)
	}
	if took > 3*time.Second || len(hook.AllEntries()) < 2 {
		t.Fatalf("gave up after %s with %d log lines", took, len(hook.AllEntries()))
	}
	// Zero: one attempt, no waiting.
	hook.Reset()
	if err := database.MustParse(proxied).Wait(context.Background(), 0, log); err == nil || len(hook.AllEntries()) != 0 {
		t.Fatalf("REALTIME_DB_WAIT=0: error %v, %d log lines", err, len(hook.AllEntries()))
	}
}

func TestWaitDoesNotRetryWhatWaitingCannotCure(t *testing.T) {
	missing := pgtest.WithDatabase(pgtest.AdminURL(t), "no_such_database_here")
	log, hook := test.NewNullLogger()
	start := time.Now()
	err := database.MustParse(missing).Wait(context.Background(), time.Minute, log)
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("error %v", err)
	}
	if time.Since(start) > 5*time.Second || len(hook.AllEntries()) != 0 {
		t.Fatalf("retried a missing database (%s, %d log lines)", time.Since(start), len(hook.AllEntries()))
	}
}
