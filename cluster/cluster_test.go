package cluster_test

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/wait"
)

func quiet() *logrus.Logger {
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	return log
}

// node is one member of a test cluster: its control messages arrive through a LISTENing
// connection of its own, as a listener's would.
type node struct {
	*cluster.Cluster
	stop func()
}

func startNode(t *testing.T, url, id string) *node {
	t.Helper()
	pool := pgtest.NewPool(t, url)
	c, err := cluster.New(cluster.Config{Node: id, Pool: pool, Heartbeat: 200 * time.Millisecond, Wait: 2 * time.Second, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Announce(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "LISTEN "+cluster.DefaultChannel); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.Run(ctx) }()
	go func() {
		defer wg.Done()
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				return
			}
			c.Deliver([]byte(n.Payload))
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			_ = conn.Close(context.Background())
		})
	}
	t.Cleanup(stop)
	return &node{c, stop}
}

func TestNewChecksRequiredFields(t *testing.T) {
	if _, err := cluster.New(cluster.Config{Node: "n"}); err == nil {
		t.Fatal("New without a pool succeeded")
	}
	if _, err := cluster.New(cluster.Config{Pool: &pgxpool.Pool{}}); err == nil {
		t.Fatal("New without a node id succeeded")
	}
}

// Nodes see each other, answer each other's requests, and a node that stops leaves the registry.
func TestAskAndServeAcrossNodes(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, b, c := startNode(t, url, "a"), startNode(t, url, "b"), startNode(t, url, "c")
	for _, n := range []*node{a, b, c} {
		id := n.Node()
		n.Serve("echo", func(args []byte) (any, error) {
			return map[string]any{"node": id, "args": json.RawMessage(args)}, nil
		})
	}
	nodes, err := a.Nodes(context.Background())
	if err != nil || len(nodes) != 3 {
		t.Fatalf("Nodes: %v, %v", nodes, err)
	}
	replies, err := a.Ask(context.Background(), "echo", map[string]int{"x": 1})
	if err != nil {
		t.Fatal(err)
	}
	var answered []string
	for id, body := range replies.ByNode {
		var r struct {
			Node string
			Args map[string]int
		}
		if err := json.Unmarshal(body, &r); err != nil || r.Node != id || r.Args["x"] != 1 {
			t.Fatalf("reply of %s: %s (%v)", id, body, err)
		}
		answered = append(answered, id)
	}
	sort.Strings(answered)
	if len(answered) != 2 || answered[0] != "b" || answered[1] != "c" || len(replies.Missing) != 0 {
		t.Fatalf("answered %v, missing %v: want b and c", answered, replies.Missing)
	}

	// A node that stops deletes its row: nobody waits for it.
	c.stop()
	wait.Until(t, "c leaves the registry", func() bool {
		nodes, err := a.Nodes(context.Background())
		return err == nil && len(nodes) == 2
	})
	// A node that is alive but does not answer is listed as missing once the wait is over.
	b.Serve("echo", func([]byte) (any, error) { time.Sleep(3 * time.Second); return nil, nil })
	replies, err = a.Ask(context.Background(), "echo", nil)
	if err != nil || len(replies.ByNode) != 0 || len(replies.Missing) != 1 || replies.Missing[0] != "b" {
		t.Fatalf("slow node: %+v, %v", replies, err)
	}
}

// Control messages reach every node, the sender too, in the order they were published.
func TestControlMessagesReachEveryNode(t *testing.T) {
	url := pgtest.NewDatabase(t)
	nodes := []*node{startNode(t, url, "a"), startNode(t, url, "b")}
	var mu sync.Mutex
	got := map[string][]string{}
	for _, n := range nodes {
		id := n.Node()
		n.Handle("test", func(p []byte) { mu.Lock(); got[id] = append(got[id], string(p)); mu.Unlock() })
	}
	want := []string{`{"type":"test","i":1}`, `{"type":"test","i":2}`, `{"type":"test","i":3}`}
	for _, m := range want {
		if !nodes[0].Publish([]byte(m)) {
			t.Fatal("Publish refused a message")
		}
	}
	wait.Until(t, "every node has the messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got["a"]) == 3 && len(got["b"]) == 3
	})
	for id, msgs := range got {
		for i := range want {
			if msgs[i] != want[i] {
				t.Fatalf("node %s got %v, want %v", id, msgs, want)
			}
		}
	}
}

// Exclusive: of many concurrent turns, those that overlap run one at a time.
func TestExclusiveRunsOneAtATime(t *testing.T) {
	pool := pgtest.NewPool(t, pgtest.NewDatabase(t))
	var running, most, ran atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := cluster.Exclusive(context.Background(), pool, cluster.RetentionLock, func(pgx.Tx) error {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(100 * time.Millisecond)
				running.Add(-1)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
			if ok {
				ran.Add(1)
			}
		}()
	}
	wg.Wait()
	if most.Load() != 1 || ran.Load() < 1 {
		t.Fatalf("at most %d at once, %d ran: want 1 at a time", most.Load(), ran.Load())
	}
}

// leader runs a Leader whose work records when it runs.
type leader struct {
	*cluster.Leader
	working atomic.Bool
	stop    func()
}

func startLeader(t *testing.T, url, name string) *leader {
	t.Helper()
	l, err := cluster.NewLeader(cluster.LeaderConfig{
		Name: name, Key: cluster.StreamReaderLock, Connect: database.MustParse(url).Connector("leader-" + name),
		Retry: 100 * time.Millisecond, Check: 100 * time.Millisecond, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	out := &leader{Leader: l}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, func(ctx context.Context) error {
			out.working.Store(true)
			<-ctx.Done()
			out.working.Store(false)
			return ctx.Err()
		})
	}()
	var once sync.Once
	out.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(out.stop)
	return out
}

func working(ls []*leader) (n int, who *leader) {
	for _, l := range ls {
		if l.working.Load() {
			n, who = n+1, l
		}
	}
	return n, who
}

// One node at a time is elected; when the elected node stops, or loses its lock connection,
// another takes over, and the first has stopped working by then.
func TestLeaderElection(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ls := []*leader{startLeader(t, url, "1"), startLeader(t, url, "2"), startLeader(t, url, "3")}
	var overlap atomic.Bool
	watch := make(chan struct{})
	go func() {
		for {
			select {
			case <-watch:
				return
			default:
			}
			if n, _ := working(ls); n > 1 {
				overlap.Store(true)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	defer close(watch)
	electedOne := func() bool { n, _ := working(ls); return n == 1 }

	wait.Until(t, "a leader", electedOne)
	_, first := working(ls)
	first.stop()
	wait.Until(t, "another leader after a clean stop", electedOne)
	_, second := working(ls)
	if second == first {
		t.Fatal("a stopped node is still working")
	}

	// The elected node's lock connection is terminated (a network cut, a PostgreSQL restart).
	admin := pgtest.NewPool(t, url)
	if _, err := admin.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'leader-' || $1`, map[*leader]string{ls[0]: "1", ls[1]: "2", ls[2]: "3"}[second]); err != nil {
		t.Fatal(err)
	}
	wait.UntilWithin(t, 10*time.Second, "a leader after the lock connection was lost", func() bool {
		n, _ := working(ls)
		return n == 1 && second.Terms() >= 1
	})
	if overlap.Load() {
		t.Fatal("two nodes worked at once")
	}
}
