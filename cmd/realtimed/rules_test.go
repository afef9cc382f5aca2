package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/migrations"
	"github.com/realtimed/realtimed/sql/triggers/triggerstest"
)

// editedRules copies the built-in rules into a folder, with chats.sql publishing another
// event name.
func editedRules(t *testing.T) string {
	t.Helper()
	return triggerstest.Folder(t, map[string]func(string) string{
		"chats.sql": func(sql string) string { return strings.Replace(sql, "'chat.updated',", "'chat.renamed',", 1) },
	})
}

// liveChatsRule returns the live definition of realtime.rule_chats().
func liveChatsRule(t *testing.T, dbURL string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var def string
	if err := conn.QueryRow(context.Background(), `SELECT pg_get_functiondef('realtime.rule_chats()'::regprocedure)`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	return def
}

// TestTriggersApplyAndDiffSayWhatIsLive: apply prints its source and, per file, applied,
// unchanged or replaced (naming what it replaced and where the live rule came from); diff
// shows the live rules against the source and exits 1 when they differ.
func TestTriggersApplyAndDiffSayWhatIsLive(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	dir := editedRules(t)
	folder := []string{"DATABASE_URL=" + dbURL, "REALTIME_TRIGGERS_DIR=" + dir}
	builtin := []string{"DATABASE_URL=" + dbURL}

	out, stderr, code := runCLI(t, folder, "triggers", "diff")
	if code != 1 || !strings.Contains(out, "live rules against the folder "+dir) || !strings.Contains(out, "differs    chats.sql: replaces realtime.rule_chats()") ||
		!strings.Contains(out, "-        'chat.updated',\n+        'chat.renamed',") || !strings.Contains(lastLine(stderr), "differ from the folder") {
		t.Fatalf("diff before the apply: exit %d\n%s\n%s", code, out, stderr)
	}
	out, stderr, code = runCLI(t, folder, "triggers", "apply")
	for _, want := range []string{"rules from the folder " + dir + ", 8 files:", "replaced   chats.sql: replaces realtime.rule_chats()",
		"unchanged  tasks.sql", "rules applied: 0 applied, 1 replaced, 7 unchanged"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("apply of the folder: exit %d, output lacks %q:\n%s\n%s", code, want, out, stderr)
		}
	}
	if out, _, code := runCLI(t, folder, "triggers", "diff"); code != 0 || !strings.Contains(out, "the live rules are identical to the source") {
		t.Fatalf("diff after the apply: exit %d\n%s", code, out)
	}
	// Applying the built-in rules now replaces the folder's edit, and says so.
	out, _, code = runCLI(t, builtin, "triggers", "apply")
	if code != 0 || !regexp.MustCompile(`replaced   chats.sql: replaces realtime.rule_chats\(\) \(live: applied .* from the folder `+regexp.QuoteMeta(dir)+`\); the previous definitions are kept in realtime.rule_history`).MatchString(out) {
		t.Fatalf("apply of the built-in rules over the folder's: exit %d\n%s", code, out)
	}
	if !strings.Contains(liveChatsRule(t, dbURL), "'chat.updated'") {
		t.Fatal("the built-in rule is not live")
	}
}

// TestServeKeepsLiveRulesThatDiffer: a node started with other rule files than the live ones
// serves with the live ones and says so, unless REALTIME_REPLACE_TRIGGERS=true.
func TestServeKeepsLiveRulesThatDiffer(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	if _, stderr, code := runCLI(t, []string{"DATABASE_URL=" + dbURL, "REALTIME_TRIGGERS_DIR=" + editedRules(t)}, "triggers", "apply"); code != 0 {
		t.Fatalf("apply: %s", stderr)
	}
	env := []string{"DATABASE_URL=" + dbURL, "REALTIME_REFERENCE_SCHEMA=true", "REALTIME_JWT_SECRET=s"}
	node := startServe(t, env...)
	node.waitReady(t)
	logs := node.Logs()
	for _, want := range []string{`msg="rules: the live rule differs from the rule file; kept the live one"`, `file=chats.sql`,
		`msg="rules not applied: the live rules differ from the rule files, serving with the live ones`, "REALTIME_REPLACE_TRIGGERS=true"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("logs lack %q:\n%s", want, logs)
		}
	}
	if !strings.Contains(liveChatsRule(t, dbURL), "'chat.renamed'") {
		t.Fatal("serve replaced the live rule")
	}

	replacing := startServe(t, append(env, "REALTIME_REPLACE_TRIGGERS=true")...)
	replacing.waitReady(t)
	wait.Until(t, "the replacement logged", func() bool {
		return strings.Contains(replacing.Logs(), `msg="rules: live definitions replaced (the previous ones are kept in realtime.rule_history)"`)
	})
	if !strings.Contains(liveChatsRule(t, dbURL), "'chat.updated'") {
		t.Fatal("REALTIME_REPLACE_TRIGGERS=true did not replace the live rule")
	}
}

// versions returns a set's embedded versions, oldest first, with their names.
func versions(t *testing.T, set migrations.Set) ([]uint, map[uint]string) {
	t.Helper()
	names, err := migrations.Names(set)
	if err != nil {
		t.Fatal(err)
	}
	vs := make([]uint, 0, len(names))
	for v := range names {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs, names
}

func step(set migrations.Set, verb string, v uint, name string) string {
	return fmt.Sprintf("%s: %s %d %s\n", set.Name, verb, v, name)
}

// TestMigratePrintsEachVersion: up prints every migration it applies and "up to date" only for
// a set with nothing pending; down prints every migration it rolls back.
func TestMigratePrintsEachVersion(t *testing.T) {
	admin := pgtest.AdminURL(t)
	conn, err := pgx.Connect(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE cmd_migrate_steps"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pgtest.Drop(t, "cmd_migrate_steps") })
	env := []string{"DATABASE_URL=" + pgtest.WithDatabase(admin, "cmd_migrate_steps"), "REALTIME_REFERENCE_SCHEMA=true"}

	out, stderr, code := runCLI(t, env, "migrate", "up")
	if code != 0 || strings.Contains(out, "up to date") {
		t.Fatalf("first up: exit %d\n%s\n%s", code, out, stderr)
	}
	var all, upToDate, rolledBack, reapplied strings.Builder
	sets := migrations.Sets(true)
	for _, set := range sets {
		vs, names := versions(t, set)
		for _, v := range vs {
			all.WriteString(step(set, "applied", v, names[v]))
		}
		last, before := vs[len(vs)-1], vs[len(vs)-2]
		fmt.Fprintf(&upToDate, "%s: up to date at version %d\n", set.Name, last)
		reapplied.WriteString(step(set, "applied", before, names[before]) + step(set, "applied", last, names[last]))
	}
	for i := len(sets) - 1; i >= 0; i-- { // down goes through the sets in reverse order
		vs, names := versions(t, sets[i])
		last, before := vs[len(vs)-1], vs[len(vs)-2]
		rolledBack.WriteString(step(sets[i], "rolled back", last, names[last]) + step(sets[i], "rolled back", before, names[before]))
	}
	if !strings.HasPrefix(out, all.String()) {
		t.Fatalf("first up printed\n%s\nwant first\n%s", out, all.String())
	}
	if out, _, code := runCLI(t, env, "migrate", "up"); code != 0 || out != upToDate.String() {
		t.Fatalf("second up: exit %d\n%s\nwant\n%s", code, out, upToDate.String())
	}
	if out, _, code := runCLI(t, env, "migrate", "down", "2"); code != 0 || !strings.HasPrefix(out, rolledBack.String()) {
		t.Fatalf("down 2: exit %d\n%s\nwant first\n%s", code, out, rolledBack.String())
	}
	if out, _, code := runCLI(t, env, "migrate", "up"); code != 0 || !strings.HasPrefix(out, reapplied.String()) {
		t.Fatalf("up after down: exit %d\n%s\nwant first\n%s", code, out, reapplied.String())
	}
}
