package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/server"
)

// TestPrepareWritesSettingsAndChecksTheSchema: Prepare writes REALTIME_MAX_EVENT_BYTES into
// realtime.settings, and refuses clearly a database that missed migration 0010 (migrated past
// it before it existed).
func TestPrepareWritesSettingsAndChecksTheSchema(t *testing.T) {
	url := pgtest.NewDatabase(t)
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"DATABASE_URL": url, "REALTIME_JWT_SECRET": "s", "REALTIME_MAX_EVENT_BYTES": "12345"}[k]
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	ctx := context.Background()
	prepare := func() error {
		srv, err := server.New(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		return srv.Prepare(ctx)
	}
	if err := prepare(); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var max string
	if err := conn.QueryRow(ctx, `SELECT value FROM realtime.settings WHERE key = 'max_event_bytes'`).Scan(&max); err != nil || max != "12345" {
		t.Fatalf("max_event_bytes %q (%v), want 12345", max, err)
	}
	if _, err := conn.Exec(ctx, `DROP TABLE realtime.sessions`); err != nil {
		t.Fatal(err)
	}
	if err := prepare(); err == nil || !strings.Contains(err.Error(), "lacks migration 0010") ||
		!strings.Contains(err.Error(), "0010_delivery.up.sql") {
		t.Fatalf("Prepare on a schema without 0010: %v", err)
	}
}
