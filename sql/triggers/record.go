package triggers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Record is a rule file as it was last applied to a database (a row of realtime.rule_files).
type Record struct {
	Name      string
	Hash      string
	SQL       string
	Source    string
	Objects   []Object // what it defined then (names and hashes)
	AppliedAt time.Time
	AppliedBy string
}

// historyKept is how many replaced versions realtime.rule_history keeps per file.
const historyKept = 20

// readRecords returns the recorded rule files by name.
func readRecords(ctx context.Context, tx pgx.Tx) (map[string]Record, error) {
	rows, err := tx.Query(ctx, `SELECT name, sha256, sql, source, objects, applied_at, applied_by FROM realtime.rule_files`)
	if err != nil {
		return nil, fmt.Errorf("reading realtime.rule_files: %w", err)
	}
	records, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var r Record
		err := row.Scan(&r.Name, &r.Hash, &r.SQL, &r.Source, &r.Objects, &r.AppliedAt, &r.AppliedBy)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading realtime.rule_files: %w", err)
	}
	byName := make(map[string]Record, len(records))
	for _, r := range records {
		byName[r.Name] = r
	}
	return byName, nil
}

// writeRecords records what a committing run applied: each file whose text, source or
// definitions differ from its record, and the definitions it replaced or dropped.
func writeRecords(ctx context.Context, tx pgx.Tx, rules Rules, rep *Report, by string) error {
	b := &pgx.Batch{}
	for i, f := range rep.Files {
		file := rules.Files[i]
		objects := make([]Object, len(f.Objects))
		for j, o := range f.Objects {
			objects[j] = Object{Kind: o.Kind, Name: o.Name, Hash: o.Hash}
		}
		if f.Live == nil || f.Live.Hash != file.Hash() || f.Live.Source != rules.Origin || !sameObjects(f.Live.Objects, objects) {
			b.Queue(`INSERT INTO realtime.rule_files (name, sha256, sql, source, objects, applied_by) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, sql = EXCLUDED.sql, source = EXCLUDED.source,
					objects = EXCLUDED.objects, applied_at = now(), applied_by = EXCLUDED.applied_by`,
				f.Name, file.Hash(), file.SQL, rules.Origin, objects, by)
		}
		var previous []Object
		for _, c := range f.Changes {
			if c.Action != Created {
				previous = append(previous, Object{Kind: c.Before.Kind, Name: c.Before.Name, Definition: c.Before.Definition})
			}
		}
		if len(previous) == 0 {
			continue
		}
		var prevSource, prevSQL *string
		if f.Live != nil {
			prevSource, prevSQL = &f.Live.Source, &f.Live.SQL
		}
		prev, err := json.Marshal(previous)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO realtime.rule_history (name, replaced_by, source, previous_source, previous_sql, previous)
			VALUES ($1, $2, $3, $4, $5, $6)`, f.Name, by, rules.Origin, prevSource, prevSQL, prev)
		b.Queue(`DELETE FROM realtime.rule_history WHERE name = $1 AND id < (
			SELECT min(id) FROM (SELECT id FROM realtime.rule_history WHERE name = $1 ORDER BY id DESC LIMIT $2) newest)`, f.Name, historyKept)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("recording the rules applied: %w", err)
	}
	return nil
}

func sameObjects(a, b []Object) bool {
	return slices.EqualFunc(a, b, func(x, y Object) bool { return x.Kind == y.Kind && x.Name == y.Name && x.Hash == y.Hash })
}
