// Package database is how realtimed reaches PostgreSQL. DATABASE_URL is parsed once, in every
// form pgx (and libpq) accepts: a postgres:// URL, a keyword/value string ("host=… dbname=…"),
// with the PG* environment variables (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD,
// PGSSLMODE, PGSERVICE, …) filling in what it leaves out, and ~/.pgpass. Pool settings
// (pool_max_conns, pool_min_conns, pool_max_conn_lifetime, pool_max_conn_idle_time,
// pool_health_check_period, …) may be given in it, as pgxpool documents; they are taken out
// before anything else connects with it.
//
// Every part of a node connects through a Config: pools for the node's queries, single
// connections (the listener, migrations, rules) with an application_name that tells them apart
// in pg_stat_activity.
package database

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvVars are the libpq environment variables that can name a database without DATABASE_URL.
var EnvVars = []string{"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"}

// FromEnvironment reports whether a PG* variable names where the database is, so that an
// empty DATABASE_URL still means something.
func FromEnvironment() bool {
	for _, v := range EnvVars {
		if os.Getenv(v) != "" {
			return true
		}
	}
	return false
}

// Config is a parsed connection string. It is immutable: every method hands out copies.
type Config struct {
	pool         *pgxpool.Config
	maxConnsSet  bool
	connString   string
	redactedForm string
}

// DefaultMaxConns is the size of a node's main pool when DATABASE_URL does not say
// (pool_max_conns): enough for the node's concurrent queries (authentication, room joins,
// recoveries, heartbeats, retention) on a small machine, far below PostgreSQL's default
// max_connections of 100 even with several nodes.
func DefaultMaxConns() int32 { return int32(max(8, 4*runtime.NumCPU())) }

var poolMaxConnsParam = regexp.MustCompile(`(^|[?&\s])pool_max_conns\s*=`)

// Parse parses a connection string in any form pgx accepts. An empty string means the PG*
// environment variables and libpq's defaults.
func Parse(connString string) (*Config, error) {
	pc, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgx's errors never contain the password.
		return nil, fmt.Errorf("parsing the connection string: %w", err)
	}
	c := &Config{pool: pc, connString: connString, maxConnsSet: poolMaxConnsParam.MatchString(connString)}
	if !c.maxConnsSet {
		c.pool.MaxConns = DefaultMaxConns()
	}
	cc := pc.ConnConfig
	c.redactedForm = fmt.Sprintf("host=%s port=%d dbname=%s user=%s", cc.Host, cc.Port, cc.Database, cc.User)
	return c, nil
}

// MustParse is Parse for tests and examples; it panics on a bad connection string.
func MustParse(connString string) *Config {
	c, err := Parse(connString)
	if err != nil {
		panic(err)
	}
	return c
}

// String names the database without credentials: host, port, database and user.
func (c *Config) String() string { return c.redactedForm }

// MaxConns returns the main pool's size: pool_max_conns, or DefaultMaxConns.
func (c *Config) MaxConns() int32 { return c.pool.MaxConns }

// MaxConnsSet reports whether the connection string gave pool_max_conns.
func (c *Config) MaxConnsSet() bool { return c.maxConnsSet }

// ConnConfig returns a copy of the configuration of one connection (no pool settings), with
// application_name set when name is not empty.
func (c *Config) ConnConfig(name string) *pgx.ConnConfig {
	cc := c.pool.ConnConfig.Copy()
	if name != "" {
		cc.RuntimeParams["application_name"] = name
	}
	return cc
}

// Connect opens one connection, named name in pg_stat_activity.
func (c *Config) Connect(ctx context.Context, name string) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, c.ConnConfig(name))
	if err != nil {
		return nil, fmt.Errorf("connecting to the database (%s): %w", c, err)
	}
	return conn, nil
}

// ConnectReplication opens a logical replication connection (replication=database: it can
// stream a logical slot and still run SQL) to the same database, named name in
// pg_stat_activity. The role needs the REPLICATION attribute (or superuser).
func (c *Config) ConnectReplication(ctx context.Context, name string) (*pgconn.PgConn, error) {
	cc := c.ConnConfig(name)
	pc := cc.Config.Copy()
	pc.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("opening a replication connection to the database (%s): %w", c, err)
	}
	return conn, nil
}

// Connector returns Connect for name, for components that open their own connections.
func (c *Config) Connector(name string) func(context.Context) (*pgx.Conn, error) {
	return func(ctx context.Context) (*pgx.Conn, error) { return c.Connect(ctx, name) }
}

// PoolConfig returns a copy of the pool configuration, with application_name set when name is
// not empty and the pool's size set when maxConns > 0 (otherwise MaxConns applies).
func (c *Config) PoolConfig(name string, maxConns int32) *pgxpool.Config {
	pc := c.pool.Copy()
	if name != "" {
		pc.ConnConfig.RuntimeParams["application_name"] = name
	}
	if maxConns > 0 {
		pc.MaxConns = maxConns
		pc.MinConns = min(pc.MinConns, maxConns)
	}
	return pc
}

// NewPool creates a pool (connections are opened on demand) named name in
// pg_stat_activity, of maxConns connections (0: MaxConns).
func (c *Config) NewPool(ctx context.Context, name string, maxConns int32) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, c.PoolConfig(name, maxConns))
	if err != nil {
		return nil, fmt.Errorf("database pool %q (%s): %w", name, c, err)
	}
	return pool, nil
}

// ErrNoDatabase is returned by ParseSetting when neither DATABASE_URL nor a PG* variable says
// where the database is.
var ErrNoDatabase = errors.New("DATABASE_URL is required (postgres://user@host:5432/db or \"host=… dbname=…\"), or PG* variables that name the database")

// ParseSetting parses the value of DATABASE_URL: empty means the PG* variables, when one of
// them is set (ErrNoDatabase otherwise).
func ParseSetting(v string) (*Config, error) {
	if v == "" && !FromEnvironment() {
		return nil, ErrNoDatabase
	}
	return Parse(v)
}

// CloseConn closes conn, waiting at most a second for the server to hear of it (a connection
// whose server is gone is closed anyway).
func CloseConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
