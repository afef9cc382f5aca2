package database

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sirupsen/logrus"
)

// Backoff between two attempts of Wait: the first pause, doubled after each attempt up to the
// last, each with up to a fifth more at random so that nodes started together spread out.
const (
	firstPause = 250 * time.Millisecond
	maxPause   = 5 * time.Second
	// attemptTimeout bounds one attempt when the connection string sets no connect_timeout.
	attemptTimeout = 10 * time.Second
)

// Origin names where the connection settings came from, for messages: DATABASE_URL, or the
// PG* variables when it was empty.
func (c *Config) Origin() string {
	if c.connString == "" {
		return "the PG* variables"
	}
	return "DATABASE_URL"
}

// Wait connects until the database accepts a connection, for at most limit (0: one attempt),
// pausing with backoff in between and logging every failed attempt. It gives up at once on
// errors that waiting does not cure (a wrong password, a database that does not exist); its
// error names the database and where its settings came from.
func (c *Config) Wait(ctx context.Context, limit time.Duration, log logrus.FieldLogger) error {
	start := time.Now()
	pause := firstPause
	for attempt := 1; ; attempt++ {
		err := flatten(c.try(ctx, time.Until(start.Add(limit))))
		waited := time.Since(start).Round(time.Millisecond)
		if err == nil {
			if attempt > 1 {
				log.WithFields(logrus.Fields{"database": c.String(), "attempts": attempt, "waited": waited.String()}).Info("database reachable")
			}
			return nil
		}
		if !retryable(err) {
			return fmt.Errorf("database (%s, from %s): %w", c, c.Origin(), err)
		}
		next := pause + time.Duration(rand.Int64N(int64(pause)/5+1))
		if time.Since(start)+next > limit {
			return fmt.Errorf("database (%s, from %s) not reachable after %s in %s (REALTIME_DB_WAIT=%s): %w",
				c, c.Origin(), attempts(attempt), waited, limit, err)
		}
		log.WithFields(logrus.Fields{
			"database": c.String(), "attempt": attempt, "waited": waited.String(), "limit": limit.String(), "retry_in": next.Round(time.Millisecond).String(),
		}).WithError(err).Warn("database not reachable yet, retrying")
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the database (%s): %w (last attempt: %w)", c, ctx.Err(), err)
		case <-time.After(next):
		}
		pause = min(2*pause, maxPause)
	}
}

// try opens one connection and closes it, within left (at least one attempt's worth).
func (c *Config) try(ctx context.Context, left time.Duration) error {
	timeout := attemptTimeout
	if t := c.pool.ConnConfig.ConnectTimeout; t > 0 {
		timeout = t
	}
	if left > time.Second && left < timeout {
		timeout = left
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := c.Connect(actx, "realtimed")
	if err != nil {
		return errors.Unwrap(err) // Connect's wrapping names the database; Wait does
	}
	return conn.Close(ctx)
}

// retryable tells whether a failed connection may succeed later: the server is unreachable,
// starting, shutting down, in recovery or out of connection slots. Refusals that stay (a wrong
// password, no such database or role, a pg_hba rule) are not.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true // network: refused, unreachable, timed out, name not resolved yet
	}
	switch {
	case strings.HasPrefix(pgErr.Code, "08"): // connection_exception
		return true
	case pgErr.Code == "57P03", pgErr.Code == "57P01", pgErr.Code == "57P02": // cannot_connect_now, admin/crash shutdown
		return true
	case pgErr.Code == "53300", pgErr.Code == "53400": // too_many_connections, configuration_limit_exceeded
		return true
	}
	return false
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// oneLineError is an error whose message is kept on one line (pgx puts each address it tried
// on a line of its own), for log lines and the one-line error a command exits with.
type oneLineError struct{ err error }

func (e oneLineError) Error() string {
	return strings.NewReplacer(":\n\t", ": ", "\n\t", "; ", "\n", "; ").Replace(e.err.Error())
}

func (e oneLineError) Unwrap() error { return e.err }

func flatten(err error) error {
	if err == nil {
		return nil
	}
	return oneLineError{err}
}
