package walsource

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The sources of the event stream (REALTIME_SOURCE; realtime.settings 'source').
const (
	SourceNotify = "notify"
	SourceWAL    = "wal"
)

// SetSource makes realtime.publish hand events on through source. Switching to wal creates
// the slot first (EnsureSlot): every transaction that sees the new setting commits after the
// slot's starting point, so its messages are decoded; transactions that still saw 'notify'
// write outbox rows, positioned at their commit under the same order lock. It returns the
// source that was set before.
func SetSource(ctx context.Context, db TxBeginner, source, slot string) (previous string, err error) {
	if source != SourceWAL && source != SourceNotify {
		return "", fmt.Errorf("walsource: unknown source %q (notify or wal)", source)
	}
	for attempt := 0; attempt < 5; attempt++ {
		if source == SourceWAL {
			if err := EnsureSlot(ctx, db, slot); err != nil {
				return "", err
			}
		}
		again := false
		err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			// The row lock orders this with a retiring reader's drop of the slot (retire).
			if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT value FROM realtime.settings WHERE key = 'source' FOR UPDATE), 'notify')`).Scan(&previous); err != nil {
				return err
			}
			if source == SourceWAL {
				st, err := ReadSlot(ctx, tx, slot)
				if err != nil {
					return err
				}
				if !st.Exists {
					again = true // dropped meanwhile: create it again first
					return nil
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO realtime.settings (key, value) VALUES ('source', $1)
				ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, source)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("setting the source to %s (is migration 0060 applied?): %w", source, err)
		}
		if !again {
			return previous, nil
		}
	}
	return "", fmt.Errorf("setting the source to %s: slot %q keeps being dropped", source, slot)
}

// TxBeginner runs SQL and begins transactions: a pool or a connection.
type TxBeginner interface {
	Querier
	Begin(ctx context.Context) (pgx.Tx, error)
}

// CurrentSource returns realtime.settings 'source'.
func CurrentSource(ctx context.Context, q Querier) (string, error) {
	var source string
	if err := q.QueryRow(ctx, `SELECT coalesce((SELECT value FROM realtime.settings WHERE key = 'source'), 'notify')`).Scan(&source); err != nil {
		return "", fmt.Errorf("reading the source (is migration 0060 applied?): %w", err)
	}
	return source, nil
}
