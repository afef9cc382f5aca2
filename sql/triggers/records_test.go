package triggers_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/sql/triggers"
	"github.com/realtimed/realtimed/sql/triggers/triggerstest"
)

func configured(t *testing.T, dir string) triggers.Rules {
	t.Helper()
	rules, err := triggers.Configured(dir)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func run(t *testing.T, conn *pgx.Conn, rules triggers.Rules, opts triggers.Options) *triggers.Report {
	t.Helper()
	rep, err := triggers.Run(context.Background(), conn, rules, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func file(t *testing.T, rep *triggers.Report, name string) triggers.FileReport {
	t.Helper()
	for _, f := range rep.Files {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no file %s in the report", name)
	return triggers.FileReport{}
}

func liveDefinition(t *testing.T, conn *pgx.Conn, function string) string {
	t.Helper()
	var def string
	if err := conn.QueryRow(context.Background(), `SELECT pg_get_functiondef($1::regprocedure)`, function).Scan(&def); err != nil {
		t.Fatal(err)
	}
	return def
}

// renamed edits chats.sql's rule: the event it publishes gets another name.
func renamed(sql string) string { return strings.Replace(sql, "'chat.updated',", "'chat.renamed',", 1) }

func rewards(string) string {
	return `CREATE OR REPLACE FUNCTION realtime.rule_rewards() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM realtime.publish('reward.created', ARRAY[NEW.created_by::text], '{}', '{}');
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS realtime_rules ON public.rewards;
CREATE TRIGGER realtime_rules AFTER INSERT ON public.rewards FOR EACH ROW EXECUTE FUNCTION realtime.rule_rewards();
`
}

// TestRunSaysWhatIsLive walks an operator's day: the built-in rules are live; a folder with an
// edited chats.sql and a new rewards.sql is applied (chats.sql replaced, rewards.sql applied,
// the rest unchanged, the replaced definition kept); a start with the built-in rules then
// keeps the folder's (KeepDifferent), and a dry run shows the difference, the new file as
// live only, and an edit made in the database by hand.
func TestRunSaysWhatIsLive(t *testing.T) {
	conn := connect(t)
	ctx := context.Background()
	builtin := configured(t, "")

	rep := run(t, conn, builtin, triggers.Options{Mode: triggers.DryRun})
	if !rep.Identical() || rep.Committed || rep.Count(triggers.Unchanged) != len(builtin.Files) {
		t.Fatalf("fresh database against the built-in rules: %+v", rep)
	}

	dir := triggerstest.Folder(t, map[string]func(string) string{"chats.sql": renamed, "rewards.sql": rewards})
	folder := configured(t, dir)
	if folder.Origin != "folder "+dir {
		t.Fatalf("origin %q", folder.Origin)
	}
	rep = run(t, conn, folder, triggers.Options{Mode: triggers.Replace, By: "test"})
	chats := file(t, rep, "chats.sql")
	if !rep.Committed || chats.Outcome != triggers.Replaced || file(t, rep, "rewards.sql").Outcome != triggers.Applied ||
		rep.Count(triggers.Unchanged) != len(folder.Files)-2 {
		t.Fatalf("apply of the folder: %+v", rep)
	}
	if len(chats.Changes) != 1 || chats.Changes[0].Object().Name != "realtime.rule_chats()" || chats.Changes[0].Action != triggers.Changed ||
		!strings.Contains(chats.Changes[0].Before.Definition, "'chat.updated'") {
		t.Fatalf("chats.sql changes: %+v", chats.Changes)
	}
	var out bytes.Buffer
	rep.WriteApplied(&out)
	for _, want := range []string{"rules from the folder " + dir, "replaced   chats.sql: replaces realtime.rule_chats()",
		"applied    rewards.sql", "unchanged  tasks.sql", "realtime.rule_history", "rules applied: 1 applied, 1 replaced"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("apply output lacks %q:\n%s", want, out.String())
		}
	}
	var previous, previousSource string
	if err := conn.QueryRow(ctx, `SELECT previous->0->>'definition', coalesce(previous_source, '') FROM realtime.rule_history
		WHERE name = 'chats.sql' ORDER BY id DESC LIMIT 1`).Scan(&previous, &previousSource); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(previous, "'chat.updated'") || previousSource == "" {
		t.Fatalf("history keeps %q from %q", previous, previousSource)
	}

	// A start with the built-in rules does not undo the folder's edit.
	rep = run(t, conn, builtin, triggers.Options{Mode: triggers.KeepDifferent})
	if rep.Committed || file(t, rep, "chats.sql").Outcome != triggers.Replaced {
		t.Fatalf("KeepDifferent: %+v", rep)
	}
	if !strings.Contains(liveDefinition(t, conn, "realtime.rule_chats()"), "'chat.renamed'") {
		t.Fatal("KeepDifferent replaced the live rule")
	}
	out.Reset()
	rep.WriteApplied(&out)
	if !strings.Contains(out.String(), "rules not applied: chats.sql would replace live definitions") {
		t.Errorf("KeepDifferent output:\n%s", out.String())
	}

	// Edited by hand in the database, after the apply.
	if _, err := conn.Exec(ctx, strings.Replace(liveDefinition(t, conn, "realtime.rule_chats()"), "'chat.renamed'", "'chat.edited'", 1)); err != nil {
		t.Fatal(err)
	}
	rep = run(t, conn, builtin, triggers.Options{Mode: triggers.DryRun, Definitions: true})
	chats = file(t, rep, "chats.sql")
	if rep.Identical() || len(rep.LiveOnly) != 1 || rep.LiveOnly[0].Name != "rewards.sql" || !chats.EditedInDatabase(chats.Changes[0]) {
		t.Fatalf("dry run: identical %v, live only %+v, chats %+v", rep.Identical(), rep.LiveOnly, chats)
	}
	out.Reset()
	rep.WriteDiff(&out)
	for _, want := range []string{"differs    chats.sql: replaces realtime.rule_chats() (live: applied", "from the folder " + dir,
		"changed in the database since", "live only  rewards.sql", "same       tasks.sql", "--- live\n+++ built-in set",
		"-        'chat.edited',", "+        'chat.updated',"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("diff lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(liveDefinition(t, conn, "realtime.rule_chats()"), "'chat.edited'") {
		t.Fatal("the dry run changed the live rule")
	}
}

// TestDroppedDefinitionsAreReplacements: a file that drops a live trigger replaces live rules.
func TestDroppedDefinitionsAreReplacements(t *testing.T) {
	conn := connect(t)
	dir := triggerstest.Folder(t, map[string]func(string) string{
		"chats.sql": func(string) string { return "DROP TRIGGER IF EXISTS realtime_rules ON public.chats;\n" },
	})
	rep := run(t, conn, configured(t, dir), triggers.Options{Mode: triggers.KeepDifferent})
	chats := file(t, rep, "chats.sql")
	if rep.Committed || chats.Outcome != triggers.Replaced || len(chats.Changes) != 1 ||
		chats.Changes[0].Action != triggers.Dropped || chats.Changes[0].Object().String() != "trigger realtime_rules on public.chats" {
		t.Fatalf("dropping a live trigger: %+v", chats)
	}
	// Dropped and created again with the same definition is no change.
	if rep := run(t, conn, configured(t, ""), triggers.Options{Mode: triggers.KeepDifferent}); !rep.Committed || !rep.Identical() {
		t.Fatalf("re-applying the live rules: %+v", rep)
	}
}

func TestHistoryKeepsTheNewestReplacements(t *testing.T) {
	conn := connect(t)
	for i := range 22 {
		dir := triggerstest.Folder(t, map[string]func(string) string{"chats.sql": func(sql string) string {
			return strings.Replace(sql, "'chat.updated',", "'chat.v"+string(rune('a'+i))+"',", 1)
		}})
		run(t, conn, configured(t, dir), triggers.Options{Mode: triggers.Replace})
	}
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM realtime.rule_history WHERE name = 'chats.sql'`).Scan(&n); err != nil || n != 20 {
		t.Fatalf("history rows %d, err %v; want the newest 20", n, err)
	}
}

func TestRunNeedsTheRuleRecords(t *testing.T) {
	conn := connect(t)
	if _, err := conn.Exec(context.Background(), `DROP FUNCTION realtime.rule_objects(boolean, boolean)`); err != nil {
		t.Fatal(err)
	}
	_, err := triggers.Run(context.Background(), conn, configured(t, ""), triggers.Options{})
	if !errors.Is(err, triggers.ErrNotMigrated) || !strings.Contains(err.Error(), "migrate up") {
		t.Fatalf("error %v", err)
	}
}
