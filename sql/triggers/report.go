package triggers

import (
	"slices"
	"sort"
	"strings"
)

// Outcome is what a run did, or would do, with one rule file.
type Outcome string

// Outcomes of a rule file.
const (
	// Applied: what the file defines was not live before (a new rule).
	Applied Outcome = "applied"
	// Unchanged: everything the file defines was live with the same definition.
	Unchanged Outcome = "unchanged"
	// Replaced: the file changed or dropped live definitions.
	Replaced Outcome = "replaced"
)

// Actions of a Change.
const (
	Created = "created"
	Changed = "replaced"
	Dropped = "dropped"
)

// Change is one function or trigger a rule file created, replaced or dropped.
type Change struct {
	Action string // Created, Changed or Dropped
	Before Object // the live definition before the run (zero for Created)
	After  Object // the file's definition (zero for Dropped)
}

// Object returns the changed object (After, or Before when it was dropped).
func (c Change) Object() Object {
	if c.Action == Dropped {
		return c.Before
	}
	return c.After
}

// FileReport is what a run did with one rule file.
type FileReport struct {
	Name    string
	Outcome Outcome
	// Changes lists the functions and triggers the file created, replaced or dropped (not the
	// unchanged ones), in name order.
	Changes []Change
	// Objects is everything the file defines, as it defines it.
	Objects []Object
	// Live is the record of the file as it was last applied, before this run (nil: never
	// recorded, or applied by a realtimed that did not record rules).
	Live *Record
}

// Replacements returns the changes that replaced or dropped live definitions.
func (f FileReport) Replacements() []Change {
	var out []Change
	for _, c := range f.Changes {
		if c.Action != Created {
			out = append(out, c)
		}
	}
	return out
}

// EditedInDatabase reports whether c's live definition is not the one the file's record
// says was applied: it was changed in the database by other means (psql, say) afterwards.
func (f FileReport) EditedInDatabase(c Change) bool {
	if f.Live == nil || c.Action == Created {
		return false
	}
	for _, o := range f.Live.Objects {
		if o.Kind == c.Before.Kind && o.Name == c.Before.Name {
			return o.Hash != c.Before.Hash
		}
	}
	return false
}

// Report is what a run did, or would do (a dry run), with a set of rules.
type Report struct {
	// Origin says where the rules came from (Rules.Origin).
	Origin string
	Files  []FileReport
	// LiveOnly lists recorded rule files that these rules lack: they stay live (a run never
	// removes a file's rules), and differ from the source.
	LiveOnly []Record
	// Committed reports whether the run's changes were committed: false for a dry run, and
	// for a run that was not to replace live definitions and would have.
	Committed bool
}

// Count returns how many files had outcome o.
func (r *Report) Count(o Outcome) int {
	n := 0
	for _, f := range r.Files {
		if f.Outcome == o {
			n++
		}
	}
	return n
}

// Names returns the names of the files with outcome o.
func (r *Report) Names(o Outcome) []string {
	var out []string
	for _, f := range r.Files {
		if f.Outcome == o {
			out = append(out, f.Name)
		}
	}
	return out
}

// Identical reports whether the live rules are the source's: no file new or replaced, and no
// recorded file that the source lacks.
func (r *Report) Identical() bool {
	return r.Count(Unchanged) == len(r.Files) && len(r.LiveOnly) == 0
}

// tracker attributes what each file of a run changes, comparing with what was live before.
type tracker struct {
	before  map[string]Object // live before the run, by name
	touched map[string]string // objects changed so far in the run: name → hash
	oids    map[uint32]Object // objects that exist, by oid: the live ones and those created
}

func newTracker(before map[string]Object) *tracker {
	t := &tracker{before: before, touched: map[string]string{}, oids: make(map[uint32]Object, len(before))}
	for _, o := range before {
		t.oids[o.oid] = o
	}
	return t
}

// watched returns the oids of the objects that exist, to learn which ones a file drops.
func (t *tracker) watched() []uint32 {
	out := make([]uint32, 0, len(t.oids))
	for oid := range t.oids {
		out = append(out, oid)
	}
	return out
}

// file turns what the transaction has changed after a file (changed: every object it has
// created or changed so far; gone: watched objects that no longer exist) into that file's
// report.
func (t *tracker) file(file File, live *Record, changed []Object, gone []uint32) FileReport {
	f := FileReport{Name: file.Name, Live: live}
	for _, o := range changed {
		t.oids[o.oid] = o
		if h, seen := t.touched[o.Name]; seen && h == o.Hash {
			continue // an earlier file's work
		}
		t.touched[o.Name] = o.Hash
		f.Objects = append(f.Objects, o)
		prev, wasLive := t.before[o.Name]
		switch {
		case !wasLive:
			f.Changes = append(f.Changes, Change{Action: Created, After: o})
		case prev.Hash != o.Hash:
			f.Changes = append(f.Changes, Change{Action: Changed, Before: prev, After: o})
		}
	}
	for _, oid := range gone {
		o := t.oids[oid]
		delete(t.oids, oid)
		if t.exists(o) {
			continue // dropped and created again (DROP TRIGGER, CREATE TRIGGER)
		}
		if prev, wasLive := t.before[o.Name]; wasLive {
			f.Changes = append(f.Changes, Change{Action: Dropped, Before: prev})
		}
	}
	sort.Slice(f.Objects, func(i, j int) bool { return f.Objects[i].Name < f.Objects[j].Name })
	sort.Slice(f.Changes, func(i, j int) bool { return f.Changes[i].Object().Name < f.Changes[j].Object().Name })
	f.Outcome = outcome(f, file.Hash())
	return f
}

// exists reports whether an object of o's kind and name exists now.
func (t *tracker) exists(o Object) bool {
	for _, x := range t.oids {
		if x.Kind == o.Kind && x.Name == o.Name {
			return true
		}
	}
	return false
}

// outcome: Replaced when live definitions changed or went; Applied when the file created
// something, or defines nothing and its text is not the one recorded as live; Unchanged
// otherwise.
func outcome(f FileReport, hash string) Outcome {
	switch {
	case len(f.Replacements()) > 0:
		return Replaced
	case len(f.Changes) > 0:
		return Applied
	case len(f.Objects) == 0 && (f.Live == nil || f.Live.Hash != hash):
		return Applied
	}
	return Unchanged
}

// liveOnly returns the records of files that rules lacks, in name order.
func liveOnly(records map[string]Record, rules Rules) []Record {
	var out []Record
	for name, r := range records {
		if !slices.ContainsFunc(rules.Files, func(f File) bool { return f.Name == name }) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ObjectNames returns the names of the changes' objects: "realtime.rule_tasks()", "trigger
// realtime_rules on public.tasks".
func ObjectNames(changes []Change) []string {
	names := make([]string, len(changes))
	for i, c := range changes {
		names[i] = c.Object().String()
	}
	return names
}

func joinObjectNames(changes []Change) string { return strings.Join(ObjectNames(changes), ", ") }
