package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// NewPool opens a pool on url (pgxpool's defaults and any pool_* parameters in it) and
// closes it when the test ends. It fails the test when the URL cannot be parsed.
func NewPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("pgtest: opening a pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}
