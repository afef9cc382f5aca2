package migrations_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/migrations"
)

// emptyDatabase creates a database with nothing in it, dropped when the test ends.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	name := "mig_steps_" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_"))
	if _, err := connect(t, pgtest.AdminURL(t)).Exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pgtest.Drop(t, name) })
	return pgtest.WithDatabase(pgtest.AdminURL(t), name)
}

// embedded returns a set's versions in order, as steps up.
func embedded(t *testing.T, set migrations.Set) []migrations.Step {
	t.Helper()
	names, err := migrations.Names(set)
	if err != nil {
		t.Fatal(err)
	}
	var out []migrations.Step
	for v, name := range names {
		out = append(out, migrations.Step{Set: set.Name, Version: v, Name: name})
	}
	slices.SortFunc(out, func(a, b migrations.Step) int { return int(a.Version) - int(b.Version) })
	return out
}

// TestEveryStepIsReported: up reports each migration it applies, in order, and nothing when
// nothing is pending; down reports each one it rolls back; the status read without
// golang-migrate follows.
func TestEveryStepIsReported(t *testing.T) {
	url := emptyDatabase(t)
	conn := connect(t, url)
	ctx := context.Background()
	status := func(set migrations.Set) migrations.Status {
		t.Helper()
		st, err := migrations.ReadStatus(ctx, conn, set)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := status(migrations.Realtime); st.Applied != 0 || !st.Pending() || st.Latest == 0 {
		t.Fatalf("fresh database: %+v", st)
	}
	var got []migrations.Step
	record := func(s migrations.Step) { got = append(got, s) }
	if err := migrations.UpReporting(url, record, migrations.Sets(true)...); err != nil {
		t.Fatal(err)
	}
	want := append(embedded(t, migrations.Realtime), embedded(t, migrations.Reference)...)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("up reported %v, want %v", got, want)
	}
	if st := status(migrations.Realtime); st.Applied != st.Latest || st.Pending() || st.Dirty || st.Unknown() {
		t.Fatalf("after up: %+v", st)
	}

	got = nil
	if err := migrations.UpReporting(url, record, migrations.Sets(true)...); err != nil || len(got) != 0 {
		t.Fatalf("nothing pending: reported %v, err %v", got, err)
	}

	got = nil
	if err := migrations.DownReporting(url, 2, record, migrations.Reference); err != nil {
		t.Fatal(err)
	}
	ref := embedded(t, migrations.Reference)
	last, before := ref[len(ref)-1], ref[len(ref)-2]
	last.Down, before.Down = true, true
	if !reflect.DeepEqual(got, []migrations.Step{last, before}) {
		t.Fatalf("down 2 reported %v, want %v then %v", got, last, before)
	}
	if st := status(migrations.Reference); st.Applied != ref[len(ref)-3].Version || !st.Pending() {
		t.Fatalf("after down 2: %+v", st)
	}

	// A version this binary does not have (a newer realtimed's) is refused by name.
	if _, err := conn.Exec(ctx, `UPDATE realtime_schema_migrations SET version = 9999`); err != nil {
		t.Fatal(err)
	}
	if st := status(migrations.Realtime); !st.Unknown() {
		t.Fatalf("version 9999 not reported as unknown: %+v", st)
	}
	if err := migrations.UpReporting(url, record, migrations.Realtime); err == nil || !strings.Contains(err.Error(), "9999") {
		t.Fatalf("up from an unknown version: %v", err)
	}
}
