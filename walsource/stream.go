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
}

// run receives until ctx ends or the stream fails. Appending runs beside receiving (one batch
// at a time, on the append connection), so that PostgreSQL decodes the next batch while the
// previous one is written.
func (s *stream) run(ctx context.Context) error {
	err := s.loop(ctx)
	if s.inflight != nil {
		<-s.inflight // the append connection is closed after this returns
		s.inflight = nil
	}
	return err
}

func (s *stream) loop(ctx context.Context) error {
	s.nextStatus = time.Now().Add(s.r.cfg.StatusInterval)
	for {
		rctx, cancel := context.WithDeadline(ctx, s.deadline())
		msg, err := s.rc.ReceiveMessage(rctx)
		cancel()
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !pgconn.Timeout(err) {
				return fmt.Errorf("receiving from the replication slot: %w", err)
			}
		} else if err := s.handle(msg, now); err != nil {
			return err
		}
		if err := s.collect(false); err != nil {
			return err
		}
		if len(s.pending) > 0 && (err != nil || s.pendingEvents >= s.r.cfg.MaxBatch || now.Sub(s.pendingSince) >= s.r.cfg.MaxDelay) {
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
	done := make(chan appendDone, 1)
	s.inflight = done
	go func() {
		res, err := appendBatch(ctx, s.conn, batch)
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
	s.confirmed = max(s.confirmed, d.res.endLSN)
	if d.res.events > 0 {
		s.r.appended.Add(uint64(d.res.events))
		s.r.batches.Add(1)
		s.r.decodeLag.Store(int64(time.Since(d.res.lastTime)))
		s.r.log.WithFields(logrus.Fields{"events": d.res.events, "through": d.res.through}).Debug("walsource: appended a batch")
	}
	return s.status(false)
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
