package triggers_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/realtimed/realtimed/sql/triggers"
)

// The catalogue (docs/events.md), the rule files and the TypeScript declarations name the same
// events, and the catalogue's example payloads have the fields the rules really publish.

const (
	cataloguePath = "../../docs/events.md"
	typesPath     = "../../clients/typescript/events.d.ts"
)

var (
	// An event name in a rule: a string literal <entity>.<action>.
	ruleEventRE = regexp.MustCompile(`'([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)'`)
	sqlComment  = regexp.MustCompile(`--[^\n]*`)
	headingRE   = regexp.MustCompile("(?m)^### `([^`]+)`\\s*$")
	ruleLineRE  = regexp.MustCompile("\\*\\*Rule:\\*\\* \\[`sql/triggers/([a-z_]+\\.sql)`\\]")
	summaryRE   = regexp.MustCompile("(?m)^\\| \\[`([^`]+)`\\]\\(#[a-z_]+\\) \\| `([a-z_]+)` \\|")
	jsonBlockRE = regexp.MustCompile("(?s)```json\n(.*?)\n```")
)

// ruleEvents maps each event named in the built-in rule files to its file.
func ruleEvents(t *testing.T) map[string]string {
	t.Helper()
	files, err := triggers.Load(triggers.Embedded())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		code := sqlComment.ReplaceAllString(f.SQL, "")
		for _, m := range ruleEventRE.FindAllStringSubmatch(code, -1) {
			if prev, ok := out[m[1]]; ok && prev != f.Name {
				t.Errorf("event %s is published by two rule files: %s and %s", m[1], prev, f.Name)
			}
			out[m[1]] = f.Name
		}
	}
	return out
}

// catalogueEntry is one event section of docs/events.md.
type catalogueEntry struct {
	file    string
	example map[string]any
}

func readCatalogue(t *testing.T) (map[string]catalogueEntry, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(cataloguePath)
	if err != nil {
		t.Fatalf("reading the catalogue: %v", err)
	}
	doc := string(b)
	entries := map[string]catalogueEntry{}
	locs := headingRE.FindAllStringSubmatchIndex(doc, -1)
	for i, loc := range locs {
		name := doc[loc[2]:loc[3]]
		end := len(doc)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		if next := strings.Index(doc[loc[1]:end], "\n## "); next >= 0 {
			end = loc[1] + next
		}
		section := doc[loc[1]:end]
		var e catalogueEntry
		if m := ruleLineRE.FindStringSubmatch(section); m != nil {
			e.file = m[1]
		} else {
			t.Errorf("catalogue: %s has no **Rule:** line naming its file in sql/triggers/", name)
		}
		if m := jsonBlockRE.FindStringSubmatch(section); m != nil {
			if err := json.Unmarshal([]byte(m[1]), &e.example); err != nil {
				t.Errorf("catalogue: the example payload of %s is not valid JSON: %v", name, err)
			}
		} else {
			t.Errorf("catalogue: %s has no example payload (a ```json block)", name)
		}
		if _, dup := entries[name]; dup {
			t.Errorf("catalogue: %s is described twice", name)
		}
		entries[name] = e
	}
	summary := map[string]string{}
	for _, m := range summaryRE.FindAllStringSubmatch(doc, -1) {
		summary[m[1]] = m[2]
	}
	return entries, summary
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestCatalogueMatchesRuleFiles(t *testing.T) {
	rules := ruleEvents(t)
	catalogue, summary := readCatalogue(t)
	if len(rules) == 0 || len(catalogue) == 0 {
		t.Fatalf("found %d events in the rule files and %d in the catalogue", len(rules), len(catalogue))
	}
	for _, ev := range sortedKeys(rules) {
		e, ok := catalogue[ev]
		switch {
		case !ok:
			t.Errorf("%s is published by sql/triggers/%s but not described in docs/events.md", ev, rules[ev])
		case e.file != rules[ev]:
			t.Errorf("docs/events.md says %s comes from %s; it comes from %s", ev, e.file, rules[ev])
		}
		if table, ok := summary[ev]; !ok {
			t.Errorf("%s is missing from the summary table of docs/events.md", ev)
		} else if table+".sql" != rules[ev] {
			t.Errorf("the summary table says %s comes from table %s; its rule file is %s", ev, table, rules[ev])
		}
	}
	for _, ev := range sortedKeys(catalogue) {
		if _, ok := rules[ev]; !ok {
			t.Errorf("docs/events.md describes %s, which no rule file in sql/triggers/ publishes", ev)
		}
	}
	for _, ev := range sortedKeys(summary) {
		if _, ok := catalogue[ev]; !ok {
			t.Errorf("the summary table lists %s, which has no section in docs/events.md", ev)
		}
	}
}

// typeEventRE finds the keys of the EventPayloads interface: "task.created": …
var typeEventRE = regexp.MustCompile(`(?m)^\s*"([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)"\s*:`)

func TestTypeScriptDeclarationsMatchCatalogue(t *testing.T) {
	b, err := os.ReadFile(typesPath)
	if err != nil {
		t.Fatalf("reading the TypeScript declarations: %v", err)
	}
	src := string(b)
	start := strings.Index(src, "export interface EventPayloads {")
	if start < 0 {
		t.Fatalf("%s: no `export interface EventPayloads {`", typesPath)
	}
	end := strings.Index(src[start:], "\n}")
	if end < 0 {
		t.Fatalf("%s: EventPayloads is not closed", typesPath)
	}
	var declared []string
	for _, m := range typeEventRE.FindAllStringSubmatch(src[start:start+end], -1) {
		declared = append(declared, m[1])
	}
	catalogue, _ := readCatalogue(t)
	want := sortedKeys(catalogue)
	sort.Strings(declared)
	for _, ev := range want {
		if !slices.Contains(declared, ev) {
			t.Errorf("%s is in docs/events.md but not in EventPayloads (%s)", ev, filepath.Base(typesPath))
		}
	}
	for _, ev := range declared {
		if _, ok := catalogue[ev]; !ok {
			t.Errorf("EventPayloads declares %s, which docs/events.md does not describe", ev)
		}
	}
}

// The scenario publishes every event; each payload has exactly the fields of the example.
func TestCatalogueExamplesMatchPublishedPayloads(t *testing.T) {
	conn := connect(t)
	scenario, err := os.ReadFile("testdata/catalogue_scenario.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), string(scenario)); err != nil {
		t.Fatalf("running the scenario: %v", err)
	}
	rows, err := conn.Query(context.Background(), `SELECT DISTINCT ON (event) event, payload FROM realtime.events ORDER BY event, id`)
	if err != nil {
		t.Fatal(err)
	}
	published := map[string]map[string]any{}
	for rows.Next() {
		var ev string
		var raw []byte
		if err := rows.Scan(&ev, &raw); err != nil {
			t.Fatal(err)
		}
		var p map[string]any
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		published[ev] = p
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	catalogue, _ := readCatalogue(t)
	for _, ev := range sortedKeys(catalogue) {
		got, ok := published[ev]
		if !ok {
			t.Errorf("the scenario (testdata/catalogue_scenario.sql) does not publish %s: add the change that fires it", ev)
			continue
		}
		sameShape(t, ev, "payload", catalogue[ev].example, got)
	}
}

// sameShape reports keys that differ between the documented example and a published payload,
// recursing into objects present in both.
func sameShape(t *testing.T, event, path string, doc, got map[string]any) {
	t.Helper()
	for _, k := range sortedKeys(got) {
		if _, ok := doc[k]; !ok {
			t.Errorf("%s: %s.%s is published but not in the catalogue's example", event, path, k)
		}
	}
	for _, k := range sortedKeys(doc) {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: %s.%s is in the catalogue's example but not published", event, path, k)
			continue
		}
		dm, dok := doc[k].(map[string]any)
		gm, gok := g.(map[string]any)
		if dok && gok {
			sameShape(t, event, path+"."+k, dm, gm)
		}
	}
}
