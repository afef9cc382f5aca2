// Package migrations holds realtimed's SQL migrations, embedded, and runs them with
// golang-migrate. Two sets, each with its own version table:
//
//   - realtime/: the realtime schema (outbox, publish, offsets). Always applied.
//   - app/: the reference application schema of the seed's platform (families, users,
//     sessions, tasks, chats, …), applied only when asked for (demo and tests).
//
// A new migration takes a version above every existing one in its set (in the realtime set,
// 0040_… comes next). golang-migrate records only the newest version applied,
// so a migration numbered below the current version would never run on a database that is
// already migrated. Migrations are never edited once they have landed; a change is a new
// migration with its down file.
package migrations

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/realtimed/realtimed/database"
)

//go:embed realtime/*.sql app/*.sql
var files embed.FS

// Set is one ordered set of migrations with its own version table.
type Set struct {
	Name  string // folder name
	Table string // golang-migrate version table
}

// The two migration sets.
var (
	Realtime  = Set{Name: "realtime", Table: "realtime_schema_migrations"}
	Reference = Set{Name: "app", Table: "realtime_app_schema_migrations"}
)

// Sets returns the sets to apply: the realtime schema, then the reference schema if asked for.
func Sets(withReference bool) []Set {
	if withReference {
		return []Set{Realtime, Reference}
	}
	return []Set{Realtime}
}

// Up applies every pending migration of the sets, in order.
func Up(databaseURL string, sets ...Set) error {
	for _, set := range sets {
		if err := run(databaseURL, set, func(m *migrate.Migrate) error { return m.Up() }); err != nil {
			return err
		}
	}
	return nil
}

// Down rolls back the last n migrations of each set, in reverse order of the sets.
func Down(databaseURL string, n int, sets ...Set) error {
	for i := len(sets) - 1; i >= 0; i-- {
		if err := run(databaseURL, sets[i], func(m *migrate.Migrate) error { return stepsDown(m, n) }); err != nil {
			return err
		}
	}
	return nil
}

// stepsDown rolls back n migrations, or all of them when fewer are applied.
func stepsDown(m *migrate.Migrate, n int) error {
	err := m.Steps(-n)
	var short migrate.ErrShortLimit
	if errors.As(err, &short) {
		return nil
	}
	return err
}

// Version returns the applied version of a set (0 when none) and whether it is dirty.
func Version(databaseURL string, set Set) (uint, bool, error) {
	var (
		version uint
		dirty   bool
	)
	err := run(databaseURL, set, func(m *migrate.Migrate) error {
		var err error
		version, dirty, err = m.Version()
		if errors.Is(err, migrate.ErrNilVersion) {
			return nil
		}
		return err
	})
	return version, dirty, err
}

func run(databaseURL string, set Set, f func(*migrate.Migrate) error) error {
	sub, err := fs.Sub(files, set.Name)
	if err != nil {
		return fmt.Errorf("migrations %s: %w", set.Name, err)
	}
	src, err := iofs.New(sub, ".")
	if err != nil {
		return fmt.Errorf("migrations %s: reading embedded files: %w", set.Name, err)
	}
	db, err := database.Parse(databaseURL)
	if err != nil {
		return fmt.Errorf("migrations %s: DATABASE_URL: %w", set.Name, err)
	}
	sqlDB := stdlib.OpenDB(*db.ConnConfig("realtimed-migrate"))
	driver, err := pgxmigrate.WithInstance(sqlDB, &pgxmigrate.Config{MigrationsTable: set.Table})
	if err != nil {
		_ = sqlDB.Close()
		return fmt.Errorf("migrations %s: connecting (%s): %w", set.Name, db, err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		_ = driver.Close()
		return fmt.Errorf("migrations %s: %w", set.Name, err)
	}
	defer m.Close()
	if err := f(m); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrations %s: %w", set.Name, err)
	}
	return nil
}

// Files returns the embedded migration files.
func Files() fs.FS { return files }
