package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/internal/pause"
	"github.com/realtimed/realtimed/listener"
)

// catchUpBatch is how many events one query of a catch-up reads.
const catchUpBatch = 1000

// catchUp reads from PostgreSQL what the node may have missed: once NATS confirms the
// subscriptions on the current connection (so that everything published from then on
// arrives), it reads the stream's head, then every event after the position delivered through
// and up to the head for the rooms subscribed, delivers them in order, and moves the position
// to the head. Messages that arrive meanwhile wait in the queue; those at or below the new
// position are then dropped as duplicates. It retries until it succeeds or ctx ends.
func (s *Subscriber) catchUp(ctx context.Context, why string) {
	s.catchUps.Add(1)
	from := s.pos.Load()
	start := time.Now()
	// Cleared first: a subscription that fails to be confirmed from now on asks for another
	// catch-up, and those sent before the confirmation below are in effect for this one.
	s.gap.Store(false)
	s.dials = s.confirmSubscriptions(ctx)
	s.dropped = s.droppedTotal()
	var n, rooms int
	for ctx.Err() == nil {
		var err error
		if n, rooms, err = s.readMissed(ctx); err == nil {
			break
		}
		s.log.WithError(err).WithField("position", s.pos.Load()).Warn("bus: reading missed events from PostgreSQL failed; retrying")
		pause.For(ctx, time.Second)
	}
	s.log.WithFields(logrus.Fields{"why": why, "from": from, "to": s.pos.Load(), "events": n,
		"rooms": rooms, "took": time.Since(start).Round(time.Millisecond).String()}).Info("bus: caught up from PostgreSQL")
}

// filter splits the rooms subscribed into user ids and other rooms, as realtime.events names
// recipients.
func (s *Subscriber) filter() (users, rooms []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for room := range s.rooms {
		if u, ok := s.cfg.UserOf(room); ok {
			users = append(users, u)
		} else {
			rooms = append(rooms, room)
		}
	}
	for _, room := range s.cfg.Always {
		if u, ok := s.cfg.UserOf(room); ok {
			users = append(users, u)
		} else {
			rooms = append(rooms, room)
		}
	}
	return users, rooms
}

// readMissed delivers the events after the position, up to the stream's head, for the rooms
// subscribed, then moves the position to the head. The rooms are read after the head: a room
// whose subscription took effect before the head was read is among them (it is in the map
// before it is subscribed), so none of its events up to the head can be passed over; a room
// added later was joined after the head was read, and events committed before are not its
// sockets'. It returns how many events it delivered and for how many rooms.
func (s *Subscriber) readMissed(ctx context.Context) (int, int, error) {
	head, err := s.readHead(ctx)
	if err != nil {
		return 0, 0, err
	}
	users, rooms := s.filter()
	n := 0
	for {
		after := s.pos.Load()
		if after >= head {
			return n, len(users) + len(rooms), nil
		}
		envs, err := s.read(ctx, listener.SelectEvents+` WHERE pos > $1 AND pos <= $2
			AND (EXISTS (SELECT 1 FROM unnest(users) u WHERE u = ANY($3::text[]))
			  OR EXISTS (SELECT 1 FROM unnest(rooms) r WHERE r = ANY($4::text[])))
			ORDER BY pos LIMIT $5`, after, head, users, rooms, catchUpBatch)
		if err != nil {
			return n, 0, fmt.Errorf("reading events after position %d: %w", after, err)
		}
		for _, env := range envs {
			if err := env.Validate(); err != nil {
				s.skipped.Add(1)
				s.pos.Store(env.Pos)
				continue
			}
			s.pos.Store(env.Pos)
			s.cfg.Deliver(env)
			s.caughtUp.Add(1)
			n++
		}
		if len(envs) < catchUpBatch {
			s.pos.Store(max(s.pos.Load(), head))
			return n, len(users) + len(rooms), nil
		}
	}
}

// readHead returns the position of the newest committed event.
func (s *Subscriber) readHead(ctx context.Context) (int64, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var head int64
	if err := s.cfg.Pool.QueryRow(qctx, `SELECT coalesce(max(pos), 0) FROM realtime.events`).Scan(&head); err != nil {
		return 0, fmt.Errorf("reading the stream's head: %w", err)
	}
	return head, nil
}

// fetch reads one event by position (an event too large for a NATS message); nil if none.
func (s *Subscriber) fetch(ctx context.Context, pos int64) (*listener.Envelope, error) {
	envs, err := s.read(ctx, listener.SelectEvents+` WHERE pos = $1`, pos)
	if err != nil || len(envs) == 0 {
		return nil, err
	}
	if err := envs[0].Validate(); err != nil {
		return nil, err
	}
	return envs[0], nil
}

func (s *Subscriber) read(ctx context.Context, sql string, args ...any) ([]*listener.Envelope, error) {
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rows, err := s.cfg.Pool.Query(qctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, listener.ScanEnvelope)
}
