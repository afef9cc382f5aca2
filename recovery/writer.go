package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"
)

// Session writes (a connect, a room change, a disconnection) go through one writer that
// stores what is waiting in one round trip: a statement per kind of write, each covering
// every session of the batch (unnest of arrays). A thousand connects cost a handful of
// statements instead of a thousand commits. Writes of one session keep their order: one
// writer, statements of a batch in the order a session's life goes (created, rooms changed,
// disconnected, deleted), and of several room changes of a socket only the newest is written.

type opKind uint8

const (
	opSave opKind = iota
	opRooms
	opDisconnected
	opDelete
)

// write is one session write; done, when not nil, receives its outcome.
type write struct {
	kind     opKind
	pid, sid string
	user     string
	rooms    []string
	pos      int64
	version  int64
	done     chan error
}

// errStopped answers the writes and restores that arrive after the store stopped.
var errStopped = errors.New("recovery: the node is stopping")

// submitWrite queues w. It reports false, and answers w's waiter, when the queue is full.
func (st *Store) submitWrite(w *write) bool {
	if st.writes.push(w) {
		return true
	}
	st.stats.writesDropped.Add(1)
	if w.done != nil {
		w.done <- fmt.Errorf("recovery: %d session writes are waiting already", cap(st.writes.ch))
	}
	return false
}

// wait waits for the outcome of a write submitted with a done channel.
func (st *Store) wait(done chan error) error {
	select {
	case err := <-done:
		return err
	case <-st.stopped:
		select {
		case err := <-done:
			return err
		default:
			return errStopped
		}
	}
}

// runWriter writes batches until ctx is done, then writes what is still queued.
func (st *Store) runWriter(ctx context.Context) {
	st.writes.work(ctx, 1, st.writeBatch)
	for {
		batch := st.writes.more(nil)
		if len(batch) == 0 {
			return
		}
		st.writeBatch(batch)
	}
}

// writeBatch stores a batch of writes in one round trip and answers their waiters.
func (st *Store) writeBatch(batch []*write) {
	ctx, cancel := context.WithTimeout(context.Background(), st.cfg.Timeout)
	defer cancel()
	start := time.Now()
	err := st.cfg.Writes.SendBatch(ctx, st.sessionStatements(batch)).Close()
	st.stats.writeBatches.Add(1)
	st.stats.writes.Add(int64(len(batch)))
	if err != nil {
		err = fmt.Errorf("recovery: storing %d session writes: %w", len(batch), err)
		st.log.WithError(err).Warn("recovery: session writes failed; recoveries of these sessions may miss their last changes")
	}
	for _, w := range batch {
		if w.done != nil {
			w.done <- err
		}
	}
	if d := time.Since(start); d > time.Second {
		st.log.WithFields(logrus.Fields{"writes": len(batch), "took": d.String()}).Info("recovery: slow session writes")
	}
}

// sessionStatements turns a batch into at most one statement per kind of write.
func (st *Store) sessionStatements(batch []*write) *pgx.Batch {
	var (
		save   columns
		rooms  columns
		disc   columns
		del    columns
		newest = map[[2]string]*write{}
	)
	for _, w := range batch {
		switch w.kind {
		case opSave:
			save.add(w.pid, w.sid, w.user, roomsJSON(w.rooms), w.pos)
		case opRooms:
			key := [2]string{w.pid, w.sid}
			if prev := newest[key]; prev == nil || prev.version < w.version {
				newest[key] = w
			}
		case opDisconnected:
			disc.add(w.pid, w.sid, "", "", 0)
		case opDelete:
			del.add(w.pid, w.sid, "", "", 0)
		}
	}
	for _, w := range newest {
		rooms.add(w.pid, w.sid, "", roomsJSON(w.rooms), w.version)
	}
	b := &pgx.Batch{}
	if save.n() > 0 {
		b.Queue(`INSERT INTO realtime.sessions (pid, sid, user_id, rooms, pos, node)
			SELECT v.pid, v.sid, v.user_id, ARRAY(SELECT jsonb_array_elements_text(v.rooms::jsonb)), v.pos, $6
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS v(pid, sid, user_id, rooms, pos)
			ON CONFLICT (pid) DO NOTHING`, save.pids, save.sids, save.users, save.rooms, save.nums, st.cfg.Node)
	}
	if rooms.n() > 0 {
		b.Queue(`UPDATE realtime.sessions s SET rooms = ARRAY(SELECT jsonb_array_elements_text(v.rooms::jsonb)), rooms_version = v.version
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS v(pid, sid, rooms, version)
			WHERE s.pid = v.pid AND s.sid = v.sid AND s.rooms_version < v.version`, rooms.pids, rooms.sids, rooms.rooms, rooms.nums)
	}
	if disc.n() > 0 {
		b.Queue(`UPDATE realtime.sessions s SET disconnected_at = now()
			FROM unnest($1::text[], $2::text[]) AS v(pid, sid) WHERE s.pid = v.pid AND s.sid = v.sid`, disc.pids, disc.sids)
	}
	if del.n() > 0 {
		b.Queue(`DELETE FROM realtime.sessions s USING unnest($1::text[], $2::text[]) AS v(pid, sid)
			WHERE s.pid = v.pid AND s.sid = v.sid`, del.pids, del.sids)
	}
	return b
}

// columns are the parameters of one multi-session statement, an array per column.
type columns struct {
	pids, sids, users, rooms []string
	nums                     []int64
}

func (c *columns) add(pid, sid, user, rooms string, num int64) {
	c.pids, c.sids, c.users, c.rooms, c.nums = append(c.pids, pid), append(c.sids, sid), append(c.users, user),
		append(c.rooms, rooms), append(c.nums, num)
}

func (c *columns) n() int { return len(c.pids) }

// roomsJSON encodes a list of rooms for a statement that takes one list per session (SQL has
// no ragged arrays).
func roomsJSON(rooms []string) string {
	if rooms == nil {
		rooms = []string{}
	}
	b, _ := json.Marshal(rooms)
	return string(b)
}
