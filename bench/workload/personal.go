package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/bench/fixture"
	"github.com/realtimed/realtimed/bench/stats"
)

// personalEvent is the event the reference rules publish for a new task.
const personalEvent = "task.created"

// taskNamePrefix starts the name of every task the bench writes; the sequence number follows.
const taskNamePrefix = "bench "

// PersonalOptions configure the personal workload.
type PersonalOptions struct {
	Users    int           // one client each
	Rate     float64       // task inserts (events) per second
	Duration time.Duration // how long to write
	Writers  int           // database connections writing (default 8)
	// Drain is how long to wait without progress for the last deliveries (default 10s).
	Drain time.Duration
}

// PersonalResult is commit→client latency and delivery accounting for personal events.
type PersonalResult struct {
	Header
	Rate        float64 `json:"rate"`
	DurationSec float64 `json:"duration_sec"`
	Writers     int     `json:"writers"`
	// RoleTasks says whether the rules publish tasks assigned to a role (to every family member
	// with the role); when they do, a third of the tasks go to 1 user, a third to 2, a third to 3.
	RoleTasks    bool             `json:"role_tasks"`
	Committed    int64            `json:"events_committed"`
	Published    int64            `json:"events_published"`
	Recipients   map[string]int64 `json:"events_by_recipients"`
	AchievedRate float64          `json:"achieved_rate"`
	// ScheduleLagMaxMs is how late the writers were, at worst, against the fixed schedule.
	ScheduleLagMaxMs float64 `json:"schedule_lag_max_ms"`
	Expected         int64   `json:"deliveries_expected"`
	Delivered        int64   `json:"deliveries"`
	Lost             int64   `json:"lost"`
	Duplicated       int64   `json:"duplicated"`
	Unexpected       int64   `json:"unexpected"`
	// Latency runs from the moment the writer sends COMMIT to the client's read (so it includes
	// the commit itself); CommitLatency is how long COMMIT took to return to the writer.
	Latency       stats.Summary `json:"latency"`
	CommitLatency stats.Summary `json:"commit"`
	Server        *Usage        `json:"server,omitempty"`
	Bench         *Usage        `json:"bench"`
	Dropped       int64         `json:"dropped"`
}

// task kinds the writers choose from.
const (
	kindMember   = iota // assigned to one member: 1 recipient
	kindParents         // assigned to the parent role: every parent of the family
	kindChildren        // assigned to the child role: every child of the family
)

// Personal inserts tasks at a fixed rate through the reference rules and checks that every
// recipient's client gets each task.created once, measuring commit→client latency.
func Personal(ctx context.Context, c Config, o PersonalOptions) (*PersonalResult, error) {
	if o.Users < 1 || o.Rate <= 0 || o.Duration <= 0 {
		return nil, errors.New("personal: needs users, a rate and a duration")
	}
	if o.Writers <= 0 {
		o.Writers = 8
	}
	if o.Drain <= 0 {
		o.Drain = 10 * time.Second
	}
	f, cleanup, err := c.setup(ctx, o.Users)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	roles, err := rulesPublishRoleTasks(ctx, c.DatabaseURL, f)
	if err != nil {
		return nil, err
	}
	total := int(o.Rate * o.Duration.Seconds())
	r := &PersonalResult{Header: c.header("personal", o.Users), Rate: o.Rate, DurationSec: o.Duration.Seconds(),
		Writers: o.Writers, RoleTasks: roles}

	pool, err := Connect(ctx, c.Target, o.Users, func(i int) string { return f.Users[i].Token }, nil, c.Log)
	if err != nil {
		return nil, err
	}
	defer pool.Close()

	commitAt := make([]atomic.Int64, total) // UnixNano just before COMMIT was sent
	received := make([][]int32, o.Users)    // per client: sequence numbers, in arrival order
	var lat, commitLat stats.Histogram
	var delivered atomic.Int64
	pool.Run(func(i int, msg []byte) {
		name, rest, ok := eventArgs(msg)
		if !ok || string(name) != personalEvent {
			return
		}
		seq, ok := intAfter(rest, `"name":`, `"`+taskNamePrefix)
		if !ok || seq >= int64(total) {
			return
		}
		if at := commitAt[seq].Load(); at != 0 {
			lat.Record(time.Duration(time.Now().UnixNano() - at))
		}
		received[i] = append(received[i], int32(seq))
		delivered.Add(1)
	})

	var startID int64
	if err := queryRow(ctx, c.DatabaseURL, "SELECT coalesce(max(id), 0) FROM realtime.events", &startID); err != nil {
		return nil, err
	}
	w := &taskWriter{f: f, roles: roles, commitAt: commitAt, commitLat: &commitLat}
	m, err := c.startMeter(ctx)
	if err != nil {
		return nil, err
	}
	c.Log.WithFields(logrus.Fields{"rate": o.Rate, "duration": o.Duration.String(), "users": o.Users, "role_tasks": roles}).Info("writing tasks")
	start := time.Now()
	predicted, lag, err := w.run(ctx, c.DatabaseURL, total, o.Rate, o.Writers)
	if err != nil {
		return nil, err
	}
	writeSec := time.Since(start).Seconds()
	waitCount(ctx, &delivered, predicted, o.Drain)
	r.Server, r.Bench, _, err = m.stop(ctx)
	if err != nil {
		return nil, err
	}
	r.Committed = w.committed.Load()
	r.AchievedRate = round3(float64(r.Committed) / writeSec)
	r.ScheduleLagMaxMs = round3(float64(lag) / 1e6)
	r.Latency, r.CommitLatency = lat.Summary(), commitLat.Summary()
	r.Dropped = pool.Dropped()
	pool.Close() // the read loops have ended: received is safe to read
	if err := r.account(ctx, c.DatabaseURL, f, startID, received); err != nil {
		return nil, err
	}
	return r, nil
}

// rulesPublishRoleTasks inserts a task for a role in a transaction it rolls back, and reports
// whether the rules published it. The transaction first sets the event source to notify (rolled
// back with it): with the wal source realtime.publish writes no row to look for.
func rulesPublishRoleTasks(ctx context.Context, url string, f *fixture.Fixture) (bool, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return false, fmt.Errorf("personal: connecting: %w", err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if _, err := tx.Exec(ctx, `UPDATE realtime.settings SET value = 'notify' WHERE key = 'source'`); err != nil {
		return false, fmt.Errorf("personal: probing the task rules: %w", err)
	}
	fam := f.Families[0]
	var id string
	err = tx.QueryRow(ctx, `INSERT INTO tasks (family_id, name, assignment_type, assigned_role)
		VALUES ($1, 'bench probe', 'role', $2) RETURNING id`, fam.ID, f.Users[fam.Parents[0]].Role).Scan(&id)
	if err != nil {
		return false, fmt.Errorf("personal: probing the task rules: %w", err)
	}
	var n int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM realtime.events WHERE payload->>'taskId' = $1", id).Scan(&n); err != nil {
		return false, fmt.Errorf("personal: probing the task rules: %w", err)
	}
	return n > 0, nil
}

func queryRow(ctx context.Context, url, sql string, dst ...any) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(ctx, sql).Scan(dst...); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// taskWriter inserts the bench's tasks, each in its own transaction.
type taskWriter struct {
	f         *fixture.Fixture
	roles     bool
	commitAt  []atomic.Int64
	commitLat *stats.Histogram
	committed atomic.Int64
}

const insertTask = `INSERT INTO tasks (family_id, name, assignment_type, assigned_to, assigned_role, created_by)
VALUES ($1, $2, $3, $4, $5, $6)`

// run writes total tasks at rate per second with n connections. It returns the deliveries the
// tasks should cause (by the fixture's families) and the worst lag behind the schedule.
func (w *taskWriter) run(ctx context.Context, url string, total int, rate float64, n int) (int64, time.Duration, error) {
	jobs := make(chan int, n*4)
	var (
		wg        sync.WaitGroup
		predicted atomic.Int64
		errOnce   sync.Once
		firstErr  error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := 0; i < n; i++ {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return 0, 0, fmt.Errorf("writer: connecting: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close(context.Background())
			for seq := range jobs {
				k, err := w.write(ctx, conn, seq)
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					continue
				}
				predicted.Add(int64(k))
			}
		}()
	}
	var lag time.Duration
	start := time.Now()
	for seq := 0; seq < total && ctx.Err() == nil; seq++ {
		due := start.Add(time.Duration(float64(seq) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		jobs <- seq
		lag = max(lag, time.Since(due))
	}
	close(jobs)
	wg.Wait()
	return predicted.Load(), lag, firstErr
}

// write inserts task seq and returns how many users the rules should send it to.
func (w *taskWriter) write(ctx context.Context, conn *pgx.Conn, seq int) (int, error) {
	rng := rand.New(rand.NewPCG(uint64(seq), 7))
	fam := w.f.Families[rng.IntN(len(w.f.Families))]
	creator := w.f.Users[fam.Parents[0]].ID
	kind := kindMember
	if w.roles {
		kind = rng.IntN(3)
	}
	var (
		assignType       = "member"
		assignedTo, role any
		recipients       int
		members          = append(append([]int(nil), fam.Parents...), fam.Children...)
	)
	switch {
	case kind == kindParents:
		assignType, role, recipients = "role", fixture.RoleParent, len(fam.Parents)
	case kind == kindChildren && len(fam.Children) > 0:
		assignType, role, recipients = "role", fixture.RoleChild, len(fam.Children)
	default:
		assignedTo, recipients = w.f.Users[members[rng.IntN(len(members))]].ID, 1
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("writer: %w", err)
	}
	name := taskNamePrefix + strconv.Itoa(seq)
	if _, err := tx.Exec(ctx, insertTask, fam.ID, name, assignType, assignedTo, role, creator); err != nil {
		_ = tx.Rollback(context.Background())
		return 0, fmt.Errorf("writer: inserting task %d: %w", seq, err)
	}
	t0 := time.Now()
	w.commitAt[seq].Store(t0.UnixNano())
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("writer: committing task %d: %w", seq, err)
	}
	w.commitLat.Record(time.Since(t0))
	w.committed.Add(1)
	return recipients, nil
}

// account compares what the clients received with what the outbox says each event was for.
func (r *PersonalResult) account(ctx context.Context, url string, f *fixture.Fixture, startID int64, received [][]int32) error {
	userIdx := make(map[string]int32, len(f.Users))
	famIDs := make([]string, len(f.Families))
	for i, u := range f.Users {
		userIdx[u.ID] = int32(i)
	}
	for i, fam := range f.Families {
		famIDs[i] = fam.ID
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("accounting: connecting: %w", err)
	}
	defer conn.Close(context.Background())
	const runEvents = `FROM realtime.events WHERE id > $1 AND event = $2 AND payload->>'familyId' = ANY($3)`
	if err := waitAppended(ctx, conn, `SELECT count(*) `+runEvents, r.Committed, startID, personalEvent, famIDs); err != nil {
		return err
	}
	rows, err := conn.Query(ctx, `SELECT payload->'task'->>'name', users `+runEvents, startID, personalEvent, famIDs)
	if err != nil {
		return fmt.Errorf("accounting: reading the outbox: %w", err)
	}
	var published []publishedEvent
	for rows.Next() {
		var name string
		var users []string
		if err := rows.Scan(&name, &users); err != nil {
			return fmt.Errorf("accounting: %w", err)
		}
		seq, err := strconv.Atoi(strings.TrimPrefix(name, taskNamePrefix))
		if err != nil {
			continue
		}
		published = append(published, publishedEvent{seq: int32(seq), users: users})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("accounting: %w", err)
	}
	r.tally(published, userIdx, received)
	return nil
}

// waitAppended waits, for up to 10 s, until count (a query) reaches want: with the wal source,
// the node that reads the slot delivers events before it appends them to the stream
// (docs/delivery.md, "Delivering ahead"), so the last deliveries can precede the last rows.
func waitAppended(ctx context.Context, conn *pgx.Conn, count string, want int64, args ...any) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int64
		if err := conn.QueryRow(ctx, count, args...).Scan(&n); err != nil {
			return fmt.Errorf("accounting: counting the run's events: %w", err)
		}
		if n >= want || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// publishedEvent is an outbox row of the run: its task's sequence number and recipients.
type publishedEvent struct {
	seq   int32
	users []string
}

// tally counts expected, delivered, lost, duplicated and unexpected deliveries: a delivery is
// a (task, client) pair; the outbox says which pairs should exist.
func (r *PersonalResult) tally(published []publishedEvent, userIdx map[string]int32, received [][]int32) {
	type pair struct{ seq, user int32 }
	expected := make(map[pair]int32)
	r.Recipients = map[string]int64{}
	for _, e := range published {
		r.Published++
		r.Recipients[strconv.Itoa(len(e.users))]++
		for _, u := range e.users {
			if i, ok := userIdx[u]; ok {
				expected[pair{e.seq, i}] = 0
			}
		}
	}
	r.Expected = int64(len(expected))
	for i, seqs := range received {
		for _, seq := range seqs {
			r.Delivered++
			p := pair{seq, int32(i)}
			n, ok := expected[p]
			if !ok {
				r.Unexpected++
				continue
			}
			if n > 0 {
				r.Duplicated++
			}
			expected[p] = n + 1
		}
	}
	for _, n := range expected {
		if n == 0 {
			r.Lost++
		}
	}
}
