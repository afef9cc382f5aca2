package doctor

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/server"
)

// Env is what the checks look at: the configuration, the environment, and the database and
// token verification built from them once, when a check first asks.
type Env struct {
	Config config.Config
	// Environ is the process environment ("NAME=value"), for the environment check.
	Environ []string

	poolOnce sync.Once
	pool     *pgxpool.Pool
	poolErr  error

	tokensOnce sync.Once
	tokens     *server.Tokens
	tokensErr  error
}

// Pool returns a small pool on the configured database, connected once; the error says why
// it cannot be reached (or that no database is configured).
func (e *Env) Pool(ctx context.Context) (*pgxpool.Pool, error) {
	e.poolOnce.Do(func() {
		if err := e.Config.RequireDatabase(); err != nil {
			e.poolErr = err
			return
		}
		pool, err := e.Config.DB.NewPool(ctx, "realtimed-doctor", 2)
		if err != nil {
			e.poolErr = err
			return
		}
		if err := pool.Ping(ctx); err != nil {
			pool.Close()
			e.poolErr = fmt.Errorf("database (%s, from %s): %w", e.Config.DB, e.Config.DB.Origin(), err)
			return
		}
		e.pool = pool
	})
	return e.pool, e.poolErr
}

// Tokens returns the token verification a node would build from the configuration, with the
// session query checked when the database can be reached.
func (e *Env) Tokens(ctx context.Context) (*server.Tokens, error) {
	e.tokensOnce.Do(func() {
		pool, _ := e.Pool(ctx)
		e.tokens, e.tokensErr = server.NewTokens(ctx, e.Config, pool)
	})
	return e.tokens, e.tokensErr
}

// Close closes the database pool.
func (e *Env) Close() {
	if e.pool != nil {
		e.pool.Close()
	}
}
