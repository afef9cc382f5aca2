package triggers

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Object is a function or trigger as the database defines it.
type Object struct {
	Kind string `json:"kind"` // "function" or "trigger"
	// Name identifies it: "realtime.rule_tasks()", "realtime_rules on public.tasks".
	Name string `json:"name"`
	// Hash is the hex SHA-256 of its definition (pg_get_functiondef, pg_get_triggerdef).
	Hash string `json:"sha256,omitempty"`
	// Definition is filled in only when a run asks for definitions (Options.Definitions).
	Definition string `json:"definition,omitempty"`
	oid        uint32
}

// String is how an object is named in messages: "realtime.rule_tasks()" or "trigger
// realtime_rules on public.tasks".
func (o Object) String() string {
	if o.Kind == "trigger" {
		return "trigger " + o.Name
	}
	return o.Name
}

// ErrNotMigrated is returned when the database lacks the realtime schema's migration 0050,
// which records the rules.
var ErrNotMigrated = errors.New("the realtime schema lacks migration 0050 (rule records): run realtimed migrate up first")

// snapshot returns the functions and triggers of the database (outside system schemas and
// extensions) by name: what is live before a run changes anything.
func snapshot(ctx context.Context, tx pgx.Tx, definitions bool) (map[string]Object, error) {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT to_regprocedure('realtime.rule_objects(boolean,boolean)') IS NOT NULL`).Scan(&ok); err != nil {
		return nil, fmt.Errorf("looking for realtime.rule_objects: %w", err)
	}
	if !ok {
		return nil, ErrNotMigrated
	}
	objects, err := queryObjects(ctx, tx, `SELECT kind, name, object, sha256, coalesce(definition, '')
		FROM realtime.rule_objects(false, $1)`, definitions)
	if err != nil {
		return nil, fmt.Errorf("reading the live functions and triggers: %w", err)
	}
	byName := make(map[string]Object, len(objects))
	for _, o := range objects {
		byName[o.Name] = o
	}
	return byName, nil
}

// changedByThisTransaction returns the functions and triggers this transaction has created or
// changed so far, and which of the objects watch (by oid) no longer exist.
func changedByThisTransaction(ctx context.Context, tx pgx.Tx, definitions bool, watch []uint32) (changed []Object, gone []uint32, err error) {
	objects, err := queryObjects(ctx, tx, `SELECT kind, name, object, sha256, coalesce(definition, '')
		FROM realtime.rule_objects(true, $1)
		UNION ALL
		SELECT 'gone', '', o, '', '' FROM unnest($2::oid[]) o
		WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE oid = o)
		  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE oid = o)`, definitions, watch)
	if err != nil {
		return nil, nil, fmt.Errorf("reading what the rule file changed: %w", err)
	}
	for _, o := range objects {
		if o.Kind == "gone" {
			gone = append(gone, o.oid)
		} else {
			changed = append(changed, o)
		}
	}
	return changed, gone, nil
}

func queryObjects(ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]Object, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Object, error) {
		var o Object
		err := row.Scan(&o.Kind, &o.Name, &o.oid, &o.Hash, &o.Definition)
		return o, err
	})
}
