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
	"os"
	"regexp"
	"strconv"

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

// Step is one migration applied or rolled back.
type Step struct {
	Set     string // the set's name (realtime, app)
	Version uint
	Name    string // what the file is named for: 0030_nodes.up.sql is "nodes"
	Down    bool   // rolled back
}

// Up applies every pending migration of the sets, in order.
func Up(databaseURL string, sets ...Set) error { return UpReporting(databaseURL, nil, sets...) }

// UpReporting applies every pending migration of the sets, in order and one at a time, and
// calls report (when not nil) after each.
func UpReporting(databaseURL string, report func(Step), sets ...Set) error {
	for _, set := range sets {
		if err := run(databaseURL, set, func(m *migrate.Migrate) error { return stepUp(m, set, report) }); err != nil {
			return err
		}
	}
	return nil
}

// Down rolls back the last n migrations of each set, in reverse order of the sets.
func Down(databaseURL string, n int, sets ...Set) error {
	return DownReporting(databaseURL, n, nil, sets...)
}

// DownReporting rolls back the last n migrations of each set (all of them when fewer are
// applied), in reverse order of the sets, and calls report (when not nil) after each.
func DownReporting(databaseURL string, n int, report func(Step), sets ...Set) error {
	for i := len(sets) - 1; i >= 0; i-- {
		set := sets[i]
		if err := run(databaseURL, set, func(m *migrate.Migrate) error { return stepDown(m, set, n, report) }); err != nil {
			return err
		}
	}
	return nil
}

// stepUp applies the pending migrations one golang-migrate step at a time, so that each can
// be reported as it is done. Every step takes the migration lock itself: nodes migrating at
// once still apply each migration once.
func stepUp(m *migrate.Migrate, set Set, report func(Step)) error {
	known, err := Names(set)
	if err != nil {
		return err
	}
	for {
		if _, _, err := current(m, known); err != nil {
			return err
		}
		err := m.Steps(1)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, migrate.ErrNoChange) {
			return nil // nothing pending
		}
		if err != nil {
			return err
		}
		to, _, err := current(m, known)
		if err != nil {
			return err
		}
		if report != nil {
			report(Step{Set: set.Name, Version: to, Name: known[to]})
		}
	}
}

// stepDown rolls back the last n migrations (all of them when fewer are applied), one at a
// time, reporting each.
func stepDown(m *migrate.Migrate, set Set, n int, report func(Step)) error {
	known, err := Names(set)
	if err != nil {
		return err
	}
	for range n {
		from, applied, err := current(m, known)
		if err != nil || !applied {
			return err
		}
		if err := m.Steps(-1); err != nil {
			return err
		}
		if report != nil {
			report(Step{Set: set.Name, Version: from, Name: known[from], Down: true})
		}
	}
	return nil
}

// current returns the applied version (applied false when none) and fails on a dirty one or
// one this binary does not have.
func current(m *migrate.Migrate, known map[uint]string) (version uint, applied bool, err error) {
	version, dirty, err := m.Version()
	switch {
	case errors.Is(err, migrate.ErrNilVersion):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	case dirty:
		return version, true, fmt.Errorf("version %d is dirty: a migration failed half-way; repair the database by hand, then set the version", version)
	case known[version] == "":
		return version, true, fmt.Errorf("the database is at version %d, which this realtimed does not have (did a newer realtimed migrate it?)", version)
	}
	return version, true, nil
}

var fileName = regexp.MustCompile(`^(\d+)_(.+)\.(?:up|down)\.sql$`)

// Names returns the versions of a set's embedded migrations, each with its name.
func Names(set Set) (map[uint]string, error) {
	entries, err := fs.ReadDir(files, set.Name)
	if err != nil {
		return nil, fmt.Errorf("migrations %s: %w", set.Name, err)
	}
	names := map[uint]string{}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		v, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migrations %s: %s: %w", set.Name, e.Name(), err)
		}
		names[uint(v)] = m[2]
	}
	return names, nil
}

// Latest returns the newest version of a set's embedded migrations.
func Latest(set Set) (uint, error) {
	names, err := Names(set)
	if err != nil {
		return 0, err
	}
	var latest uint
	for v := range names {
		latest = max(latest, v)
	}
	return latest, nil
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
