package workload_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/bench/procstat"
	"github.com/realtimed/realtimed/bench/workload"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/servertest"
	"github.com/realtimed/realtimed/server"
)

const secret = "bench-secret"

// startNode serves a realtimed node on a fresh database until the test ends. The bench's
// server figures come from this very process: enough for a smoke test.
func startNode(t *testing.T, env ...string) workload.Config {
	t.Helper()
	db := pgtest.NewDatabase(t)
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	vars := map[string]string{"DATABASE_URL": db, "REALTIME_JWT_SECRET": secret}
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	srv, url := servertest.Start(t, vars, log)
	waitReady(t, srv)
	return workload.Config{
		Target:      workload.Target{URL: url, Concurrency: 8},
		DatabaseURL: db,
		Secret:      secret,
		Server:      procstat.PID(os.Getpid()),
		Settle:      procstat.SettleOptions{Min: 100 * time.Millisecond, Max: 3 * time.Second, Interval: 50 * time.Millisecond, Window: 3, Tolerance: 0.5},
		Log:         log,
	}
}

func waitReady(t *testing.T, srv *server.Server) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !srv.Listener().Ready() {
		if time.Now().After(deadline) {
			t.Fatal("the listener never caught up")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIdleSmoke(t *testing.T) {
	c := startNode(t)
	r, err := workload.Idle(context.Background(), c, workload.IdleOptions{Clients: 30})
	if err != nil {
		t.Fatal(err)
	}
	if r.Clients != 30 || r.Dropped != 0 || r.RSSBeforeKB <= 0 || r.RSSAfterKB <= 0 || r.Workload != "idle" {
		t.Fatalf("result %+v", r)
	}
}

func TestFanoutSmokeUserRoom(t *testing.T) {
	c := startNode(t)
	r, err := workload.Fanout(context.Background(), c, workload.FanoutOptions{
		Clients: 20, Events: 30, Warmup: 5, PayloadBytes: 200, Room: workload.RoomUser, Drain: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Expected != 600 || r.Delivered != 600 || r.Lost != 0 || r.Duplicated != 0 || r.Dropped != 0 {
		t.Fatalf("result %+v", r)
	}
	if r.Latency.Count != 600 || r.Server == nil || r.Bench == nil {
		t.Fatalf("result %+v", r)
	}
}

func TestFanoutSmokeChatRoom(t *testing.T) {
	// Every client is a different member of the chat and joins chat:<id> with room:join.
	c := startNode(t)
	r, err := workload.Fanout(context.Background(), c, workload.FanoutOptions{
		Clients: 12, Events: 20, Warmup: 2, PayloadBytes: 100, Rate: 200, Room: workload.RoomChat, Drain: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Expected != 240 || r.Delivered != 240 || r.Lost != 0 || r.Duplicated != 0 || r.Room != "chat" {
		t.Fatalf("result %+v", r)
	}
}

func TestPersonalSmoke(t *testing.T) {
	c := startNode(t)
	r, err := workload.Personal(context.Background(), c, workload.PersonalOptions{
		Users: 15, Rate: 60, Duration: time.Second, Writers: 2, Drain: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Committed != 60 || r.Published != r.Committed || r.Expected == 0 || r.Delivered != r.Expected ||
		r.Lost != 0 || r.Duplicated != 0 || r.Unexpected != 0 || r.Dropped != 0 {
		t.Fatalf("result %+v", r)
	}
	if r.Latency.Count != uint64(r.Delivered) || r.CommitLatency.Count != 60 {
		t.Fatalf("latency %+v, commit %+v", r.Latency, r.CommitLatency)
	}
	// The reference rules send a task for a role to every member with it: 1 to 3 recipients.
	if !r.RoleTasks || r.Recipients["1"] == 0 || r.Recipients["2"] == 0 || r.Recipients["3"] == 0 {
		t.Fatalf("role tasks %v, recipients %v", r.RoleTasks, r.Recipients)
	}
}

func TestReconnectSmoke(t *testing.T) {
	for _, window := range []string{"2m", "0"} {
		c := startNode(t, "REALTIME_RECOVERY_WINDOW", window)
		r, err := workload.Reconnect(context.Background(), c, workload.ReconnectOptions{Clients: 25, Missed: 2})
		if err != nil {
			t.Fatal(err)
		}
		if r.ConnectsPerSec <= 0 || r.Recovery != (window != "0") {
			t.Fatalf("window %s: result %+v", window, r)
		}
		if r.Recovery && (r.Recovered != 25 || r.NotRecovered != 0 || r.Failed != 0 || r.RecoveriesPerSec <= 0 || r.Missed != 3) {
			t.Fatalf("window %s: result %+v", window, r)
		}
	}
}

func TestFanoutRejectsBadOptions(t *testing.T) {
	c := workload.Config{Log: logrus.New()}
	for _, o := range []workload.FanoutOptions{
		{Clients: 1, Events: 1, Room: "lobby"},
		{Clients: 0, Events: 1, Room: workload.RoomUser},
	} {
		if _, err := workload.Fanout(context.Background(), c, o); err == nil {
			t.Errorf("Fanout(%+v) accepted", o)
		}
	}
	if _, err := workload.Personal(context.Background(), c, workload.PersonalOptions{Users: 1}); err == nil {
		t.Error("Personal without a rate accepted")
	}
	if _, err := workload.Idle(context.Background(), c, workload.IdleOptions{Clients: 1}); err == nil {
		t.Error("Idle without a server source accepted")
	}
}
