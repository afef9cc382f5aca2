package metrics

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/socketio/engineio"
)

func TestDeliveredCountsByEventName(t *testing.T) {
	m := New(Sources{})
	for _, tc := range []struct {
		event   string
		sockets int
	}{{"task.created", 3}, {"task.created", 0}, {"chat.message", 1}} {
		m.Delivered(&listener.Envelope{Event: tc.event}, tc.sockets)
	}
	for _, tc := range []struct {
		event               string
		received, delivered float64
	}{{"task.created", 2, 3}, {"chat.message", 1, 1}} {
		if got := testutil.ToFloat64(m.received.WithLabelValues(tc.event)); got != tc.received {
			t.Errorf("received{%s} = %v, want %v", tc.event, got, tc.received)
		}
		if got := testutil.ToFloat64(m.delivered.WithLabelValues(tc.event)); got != tc.delivered {
			t.Errorf("delivered{%s} = %v, want %v", tc.event, got, tc.delivered)
		}
	}
}

func TestEventNameCardinalityIsBounded(t *testing.T) {
	m := New(Sources{})
	for i := 0; i < maxEventNames+50; i++ {
		m.Delivered(&listener.Envelope{Event: fmt.Sprintf("e%d.x", i)}, 1)
	}
	if got := testutil.CollectAndCount(m.received); got != maxEventNames+1 {
		t.Fatalf("%d event label values, want %d (the cap plus %s)", got, maxEventNames+1, OtherEvent)
	}
	if got := testutil.ToFloat64(m.received.WithLabelValues(OtherEvent)); got != 50 {
		t.Fatalf("%s = %v, want 50", OtherEvent, got)
	}
}

func TestWrittenObservesStampedMessagesOnly(t *testing.T) {
	m := New(Sources{})
	at := time.Now()
	stamped := engineio.NewTextMessage(engineio.PacketMessage, []byte("2[\"x\"]"))
	stamped.SetStamp(at.Add(-250 * time.Millisecond).UnixMicro())
	future := engineio.NewTextMessage(engineio.PacketMessage, nil)
	future.SetStamp(at.Add(time.Second).UnixMicro()) // database clock ahead: counted as 0
	plain := engineio.NewTextMessage(engineio.PacketMessage, nil)
	m.Written([]*engineio.Message{stamped, plain, future}, at)

	out := gather(t, m, "realtimed_delivery_latency_seconds")
	for _, want := range []string{
		"realtimed_delivery_latency_seconds_count 2",
		"realtimed_delivery_latency_seconds_sum 0.25",
		`realtimed_delivery_latency_seconds_bucket{le="0.0005"} 1`,
		`realtimed_delivery_latency_seconds_bucket{le="0.1"} 1`,
		`realtimed_delivery_latency_seconds_bucket{le="0.25"} 2`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

// The hot path (one Delivered per event, one Written per socket write) allocates nothing.
func TestHotPathDoesNotAllocate(t *testing.T) {
	m := New(Sources{})
	env := &listener.Envelope{Event: "task.created"}
	m.Delivered(env, 1) // first sight of a name creates its counters
	msg := engineio.NewTextMessage(engineio.PacketMessage, nil)
	msg.SetStamp(time.Now().UnixMicro())
	batch := []*engineio.Message{msg, msg, msg}
	at := time.Now()
	if n := testing.AllocsPerRun(1000, func() { m.Delivered(env, 10) }); n != 0 {
		t.Errorf("Delivered allocates %v times per call", n)
	}
	if n := testing.AllocsPerRun(1000, func() { m.Written(batch, at) }); n != 0 {
		t.Errorf("Written allocates %v times per call", n)
	}
}

func TestCollectorReadsStateAndDatabase(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool := pgtest.NewPool(t, url)
	// Three committed events; a listener that has not delivered any of them.
	for i := 0; i < 3; i++ {
		if _, err := pool.Exec(ctx, `SELECT realtime.publish('x.y', ARRAY['u1'], '{}', '{}')`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE realtime.events SET committed_at = now() - interval '90 seconds' WHERE pos = 1`); err != nil {
		t.Fatal(err)
	}
	l, err := listener.New(listener.Config{Connect: database.MustParse(url).Connector(listener.ApplicationName)}, func(*listener.Envelope) {})
	if err != nil {
		t.Fatal(err)
	}
	l.StartAt(0)
	m := New(Sources{
		Transports: func() map[string]int { return map[string]int{"polling": 2, "websocket": 5} },
		Rooms: func(f func(string, int)) {
			f("user:a", 2)
			f("user:b", 1)
			f("chat:c", 3)
			f("lobby", 1)
		},
		Listener: l,
		DB:       pool,
	})
	out := gather(t, m, "")
	for _, want := range []string{
		`realtimed_connections{transport="polling"} 2`,
		`realtimed_connections{transport="websocket"} 5`,
		`realtimed_rooms{kind="user"} 2`,
		`realtimed_room_memberships{kind="user"} 3`,
		`realtimed_rooms{kind="chat"} 1`,
		`realtimed_room_memberships{kind="chat"} 3`,
		`realtimed_rooms{kind="other"} 1`,
		"realtimed_listener_connected 0",
		"realtimed_listener_position 0",
		"realtimed_database_up 1",
		"realtimed_outbox_head_position 3",
		"realtimed_listener_lag_events 3",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %q", want)
		}
	}
	// The NOTIFY queue is the whole server's: other tests' listeners may hold a little of it.
	var usage float64
	if _, err := fmt.Sscanf(after(out, "realtimed_notification_queue_usage "), "%g", &usage); err != nil || usage < 0 || usage > 0.5 {
		t.Errorf("notification_queue_usage = %v (%v), want a fraction near 0", usage, err)
	}
	var lag float64
	if _, err := fmt.Sscanf(after(out, "realtimed_listener_lag_seconds "), "%g", &lag); err != nil || lag < 89 || lag > 600 {
		t.Errorf("listener_lag_seconds = %v (%v), want about 90:\n%s", lag, err, grep(out, "realtimed_listener"))
	}

	// The database going away is reported, not fatal.
	pool.Close()
	out = gather(t, m, "")
	if !strings.Contains(out, "realtimed_database_up 0\n") || strings.Contains(out, "realtimed_outbox_head_position") {
		t.Errorf("with the pool closed, want database_up 0 and no head:\n%s", grep(out, "realtimed_"))
	}
}

func gather(t *testing.T, m *Metrics, prefix string) string {
	t.Helper()
	rec := m.Handler()
	w := &stringWriter{header: map[string][]string{}}
	req := mustRequest(t)
	rec.ServeHTTP(w, req)
	return grep(w.b.String(), prefix)
}

func grep(s, prefix string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// after returns the rest of the sample line that starts with prefix.
func after(s, prefix string) string {
	i := strings.Index("\n"+s, "\n"+prefix)
	if i < 0 {
		return ""
	}
	rest := s[i+len(prefix):]
	if j := strings.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func TestRecoveryMetrics(t *testing.T) {
	m := New(Sources{Recovery: func() RecoveryStats {
		return RecoveryStats{Recovered: 7, NotRecovered: 2, RetryLater: 1, Overloaded: 3, Waiting: 4, WaitingAhead: 5}
	}})
	out := gather(t, m, "realtimed_recover")
	for _, want := range []string{
		`realtimed_recoveries_total{result="recovered"} 7`,
		`realtimed_recoveries_total{result="not_recovered"} 2`,
		`realtimed_recoveries_total{result="retry_later"} 1`,
		`realtimed_recoveries_total{result="overloaded"} 3`,
		"realtimed_recovery_queue 4",
		"realtimed_recovery_waiting_ahead 5",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
