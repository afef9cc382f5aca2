package walsource

import (
	"context"
	"fmt"
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
func SetSource(ctx context.Context, q Querier, source, slot string) (previous string, err error) {
	switch source {
	case SourceWAL:
		if err := EnsureSlot(ctx, q, slot); err != nil {
			return "", err
		}
	case SourceNotify:
	default:
		return "", fmt.Errorf("walsource: unknown source %q (notify or wal)", source)
	}
	err = q.QueryRow(ctx, `WITH old AS (SELECT value FROM realtime.settings WHERE key = 'source')
		INSERT INTO realtime.settings (key, value) VALUES ('source', $1)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
		RETURNING (SELECT coalesce((SELECT value FROM old), 'notify'))`, source).Scan(&previous)
	if err != nil {
		return "", fmt.Errorf("setting the source to %s (is migration 0060 applied?): %w", source, err)
	}
	return previous, nil
}

// CurrentSource returns realtime.settings 'source'.
func CurrentSource(ctx context.Context, q Querier) (string, error) {
	var source string
	if err := q.QueryRow(ctx, `SELECT coalesce((SELECT value FROM realtime.settings WHERE key = 'source'), 'notify')`).Scan(&source); err != nil {
		return "", fmt.Errorf("reading the source (is migration 0060 applied?): %w", err)
	}
	return source, nil
}
