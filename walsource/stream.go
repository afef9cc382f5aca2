package walsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/listener"
)

// startReplication starts streaming slot with pgoutput: protocol version 1 (whole transactions
// at commit, which is what the reader appends; versions 2-4 add streaming of transactions in
// progress and two-phase commit, which it does not use), no table (Publication publishes none)
// and the logical messages.
func startReplication(ctx context.Context, rc *pgconn.PgConn, slot string) error {
	return pglogrepl.StartReplication(ctx, rc, pgx.Identifier{slot}.Sanitize(), 0, pglogrepl.StartReplicationOptions{
		Mode: pglogrepl.LogicalReplication,
		PluginArgs: []string{
			"proto_version '1'",
			"publication_names '" + Publication + "'",
			"messages 'true'",
		},
	})
}

// stream is one elected term's replication stream.
type stream struct {
	r    *Reader
	conn *pgx.Conn      // appends
	rc   *pgconn.PgConn // replication
	asm  assembler

	pending       []*txn
	pendingEvents int
	pendingSince  time.Time
	lastMessage   time.Time

	confirmed  pglogrepl.LSN // durable in the stream: the slot may be confirmed up to here
	nextStatus time.Time
	retire     *retirement     // non-nil when draining the slot to drop it
	inflight   chan appendDone // the append running beside the stream, or nil

	// Delivering ahead (Config.Ahead).
	ahead   bool          // the append connection holds cluster.StreamAheadLock
	offer   bool          // decoded transactions are numbered and offered as they arrive
	broken  bool          // an append numbered an offered transaction differently: never offer again
	nextPos int64         // the position the next offered event takes
	mark    pglogrepl.LSN // transactions at or below it are appended already
}

// run receives until ctx ends or the stream fails. Appending runs beside receiving (one batch
// at a time, on the append connection), so that PostgreSQL decodes the next batch while the
// previous one is written.
func (s *stream) run(ctx context.Context) error {
	err := s.loop(ctx)
	if s.inflight != nil {
		d := <-s.inflight // the append connection is closed after this returns
		s.inflight = nil
		if d.err == nil {
			s.account(d.res)
		}
	}
	if ctx.Err() != nil {
		s.appendDecoded()
	}
	return err
}

// appendDecoded appends, when the reader stops, what it has decoded and not appended yet, so
// that no event it delivered ahead waits for another reader (which could number it
// differently if the source has been switched back to notify meanwhile). Failing that (the
// database is gone), the next reader appends them from the slot.
func (s *stream) appendDecoded() {
	if len(s.pending) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	res, err := appendBatch(ctx, s.conn, s.pending, aheadRequest{holding: s.ahead})
	if err != nil {
		s.r.log.WithError(err).Warn("walsource: appending the decoded events on the way out failed; the next reader appends them")
		return
	}
	s.pending = nil
	s.account(res)
	_ = s.status(false)
}

func (s *stream) loop(ctx context.Context) error {
	s.nextStatus = time.Now().Add(s.r.cfg.StatusInterval)
	// Reads wait until the connection's read deadline (set before each one) rather than a
	// context's: a context per message costs a timer and a goroutine, which at tens of thousands
	// of messages a second is most of the loop. Stopping moves the deadline to now.
	conn := s.rc.Conn()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := conn.SetReadDeadline(s.deadline()); err != nil {
			return fmt.Errorf("setting the replication connection's read deadline: %w", err)
		}
		msg, err := s.rc.ReceiveMessage(context.Background())
		now := time.Now()
		paused := false
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !pgconn.Timeout(err) {
				return fmt.Errorf("receiving from the replication slot: %w", err)
			}
			paused = true
		} else if err := s.handle(msg, now); err != nil {
			return err
		}
		if err := s.collect(false); err != nil {
			return err
		}
		if s.due(now, paused) {
			if err := s.flush(ctx); err != nil {
				return err
			}
		}
		if !now.Before(s.nextStatus) {
			if err := s.status(true); err != nil {
				return err
			}
			if err := s.checkDrained(ctx); err != nil {
				return err
			}
		}
	}
}

// due reports whether the pending transactions are to be appended now: when they fill a batch
// (then the stream waits for the append in flight, if any), or, once no append is in flight,
// when the stream paused or the oldest waited MaxDelay; while delivering ahead, only once the
// oldest waited AheadDelay. While an append runs, the stream keeps receiving (and delivering
// ahead) and the next batch grows.
func (s *stream) due(now time.Time, paused bool) bool {
	switch {
	case len(s.pending) == 0:
		return false
	case s.pendingEvents >= s.r.cfg.MaxBatch:
		return true
	case s.inflight != nil:
		return false
	case s.offer:
		return now.Sub(s.pendingSince) >= s.r.cfg.AheadDelay
	}
	return paused || now.Sub(s.pendingSince) >= s.r.cfg.MaxDelay
}

// appendTimeout bounds one append.
const appendTimeout = 10 * time.Second

// appendDone is the outcome of an append running beside the stream.
type appendDone struct {
	res appended
	err error
}

// flush starts appending the pending transactions, once the previous append is done.
func (s *stream) flush(ctx context.Context) error {
	if err := s.collect(true); err != nil {
		return err
	}
	batch := s.pending
	s.pending, s.pendingEvents = nil, 0
	// Nothing offered ahead stays unappended once this batch is: the lock may go.
	req := aheadRequest{take: s.r.cfg.Ahead != nil && s.retire == nil, holding: s.ahead, release: !s.offer}
	done := make(chan appendDone, 1)
	s.inflight = done
	go func() {
		// A stopping reader lets the append in flight finish (see appendDecoded).
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
		defer cancel()
		res, err := appendBatch(actx, s.conn, batch, req)
		done <- appendDone{res, err}
	}()
	return nil
}

// collect takes the outcome of the append in flight, waiting for it when wait is set: once its
// transaction has committed, the slot is confirmed up to the batch's end.
func (s *stream) collect(wait bool) error {
	if s.inflight == nil {
		return nil
	}
	var d appendDone
	if wait {
		d = <-s.inflight
	} else {
		select {
		case d = <-s.inflight:
		default:
			return nil
		}
	}
	s.inflight = nil
	if d.err != nil {
		return d.err
	}
	s.account(d.res)
	return s.status(false)
}

// account takes in an append that committed: what it found (noteAppend), the position the
// slot may be confirmed up to, the counters.
func (s *stream) account(res appended) {
	s.noteAppend(res)
	s.confirmed = max(s.confirmed, res.endLSN)
	if res.events > 0 {
		s.r.appended.Add(uint64(res.events))
		s.r.batches.Add(1)
		s.r.decodeLag.Store(int64(time.Since(res.lastTime)))
		s.r.log.WithFields(logrus.Fields{"events": res.events, "through": res.through}).Debug("walsource: appended a batch")
	}
}

// noteAppend follows what an append found: whether this connection holds
// cluster.StreamAheadLock and the source is wal (then decoded transactions are offered ahead,
// numbered from the stream's head on, starting with those already waiting), how far the stream
// is appended.
func (s *stream) noteAppend(res appended) {
	s.ahead = res.ahead
	s.mark = max(s.mark, res.mark)
	if res.mismatch && !s.broken {
		s.broken = true
		s.r.log.WithField("through", res.through).Error("walsource: an append numbered events offered ahead differently; no longer delivering ahead (please report this)")
	}
	switch {
	case res.source == "": // nothing was read: nothing changes
	case res.source != SourceWAL || !s.ahead || s.broken:
		s.offer = false
	case !s.offer:
		s.offer = true
		s.nextPos = res.head + 1
		for _, t := range s.pending {
			s.offerAhead(t)
		}
	}
}

// offerAhead numbers a decoded transaction's events with the positions its append will give
// them and hands them to Config.Ahead. Transactions without events or appended already (a
// replay) take no position.
func (s *stream) offerAhead(t *txn) {
	if len(t.events) == 0 || t.commitLSN <= s.mark {
		return
	}
	t.pos = s.nextPos
	envs := make([]*listener.Envelope, len(t.events))
	for i, e := range t.events {
		envs[i] = &listener.Envelope{Pos: t.pos + int64(i), Event: e.Event, Users: nonNil(e.Users),
			Rooms: nonNil(e.Rooms), Payload: e.Payload, TS: t.committed.UnixMicro()}
	}
	s.nextPos += int64(len(t.events))
	s.r.offered.Add(uint64(len(envs)))
	s.r.cfg.Ahead(envs)
}

// idle reports whether nothing decoded waits to be appended or is being appended.
func (s *stream) idle() bool {
	return len(s.pending) == 0 && s.inflight == nil && !s.asm.inTransaction()
}

// checkDrained returns errRetired when a retiring stream has drained the slot.
func (s *stream) checkDrained(ctx context.Context) error {
	if s.retire == nil || !s.idle() {
		return nil
	}
	done, err := s.retire.drained(ctx, s.conn, s.confirmed)
	if err != nil {
		return err
	}
	if done {
		// The server must have the final position before the slot goes (nothing is lost
		// either way: the slot is dropped).
		if err := s.status(false); err != nil {
			return err
		}
		return errRetired
	}
	return nil
}

// deadline is when to stop waiting for the next message: soon when events are pending (to
// append them once the stream pauses), at the next status report otherwise.
func (s *stream) deadline() time.Time {
	if s.inflight != nil {
		// Come back soon to confirm the append once it is done.
		return earliest(time.Now().Add(s.r.cfg.FlushAfter), s.nextStatus)
	}
	if len(s.pending) == 0 {
		return s.nextStatus
	}
	if s.offer {
		return earliest(s.pendingSince.Add(s.r.cfg.AheadDelay), s.nextStatus)
	}
	return earliest(s.lastMessage.Add(s.r.cfg.FlushAfter), s.pendingSince.Add(s.r.cfg.MaxDelay), s.nextStatus)
}

func earliest(first time.Time, rest ...time.Time) time.Time {
	for _, t := range rest {
		if t.Before(first) {
			first = t
		}
	}
	return first
}

func (s *stream) handle(msg pgproto3.BackendMessage, now time.Time) error {
	switch m := msg.(type) {
	case *pgproto3.CopyData:
		return s.copyData(m.Data, now)
	case *pgproto3.ErrorResponse:
		return fmt.Errorf("replication stream: %w", pgconn.ErrorResponseToPgError(m))
	case *pgproto3.CopyDone:
		return errors.New("replication stream: the server ended it")
	}
	return nil
}

func (s *stream) copyData(data []byte, now time.Time) error {
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		k, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return fmt.Errorf("parsing a keepalive: %w", err)
		}
		// Nothing decoded is waiting: everything up to where the server has sent was handled.
		if s.idle() && k.ServerWALEnd > s.confirmed {
			s.confirmed = k.ServerWALEnd
		}
		if k.ReplyRequested {
			return s.status(false)
		}
	case pglogrepl.XLogDataByteID:
		x, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return fmt.Errorf("parsing XLogData: %w", err)
		}
		s.lastMessage = now
		t, err := s.asm.feed(x.WALData)
		if err != nil {
			return err
		}
		if t != nil {
			s.add(t, now)
		}
	}
	return nil
}

// add queues a committed transaction; one without events moves the confirmed position at
// once when nothing is queued before it.
func (s *stream) add(t *txn, now time.Time) {
	if len(t.events) == 0 && len(s.pending) == 0 && s.inflight == nil {
		s.confirmed = max(s.confirmed, t.endLSN)
		return
	}
	if len(s.pending) == 0 {
		s.pendingSince = now
	}
	s.pending = append(s.pending, t)
	s.pendingEvents += len(t.events)
	if s.offer {
		s.offerAhead(t)
	}
}

// status reports the confirmed position to the server; with reply, it asks for a keepalive
// (whose position moves the confirmed one on when nothing is pending).
func (s *stream) status(reply bool) error {
	s.nextStatus = time.Now().Add(s.r.cfg.StatusInterval)
	err := pglogrepl.SendStandbyStatusUpdate(context.Background(), s.rc, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: s.confirmed, ReplyRequested: reply,
	})
	if err != nil {
		return fmt.Errorf("confirming position %s: %w", s.confirmed, err)
	}
	return nil
}
