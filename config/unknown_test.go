package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/realtimed/realtimed/config"
)

func TestUnknownVariablesNameTheClosestSetting(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin",
		"REALTIME_TRIGERS_DIR=/srv/rules",      // a letter missing
		"REALTIME_JWT_SECRETS=s",               // one too many
		"REALTIME_LOGLEVEL=debug",              // no underscore
		"REALTIME_ADDR=:3001",                  // known
		"REALTIME_TEST_DATABASE_URL=postgres:", // the test scripts'
		"DATABASE_URL=postgres://x/y",
		"REALTIMED_BIN=/bin/realtimed", // not our prefix
	}
	got := config.Unknown(environ)
	want := []config.UnknownVar{
		{Name: "REALTIME_JWT_SECRETS", Closest: "REALTIME_JWT_SECRET"},
		{Name: "REALTIME_LOGLEVEL", Closest: "REALTIME_LOG_LEVEL"},
		{Name: "REALTIME_TRIGERS_DIR", Closest: "REALTIME_TRIGGERS_DIR"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Unknown = %+v, want %+v", got, want)
	}
	if s := got[2].String(); !strings.Contains(s, "REALTIME_TRIGERS_DIR") || !strings.Contains(s, "did you mean REALTIME_TRIGGERS_DIR?") {
		t.Fatalf("warning %q", s)
	}
}

func TestListenAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{":3001", true}, {"127.0.0.1:3001", true}, {"[::1]:3001", true}, {"localhost:0", true}, {"db-1.internal:http", true},
		{"garbage", false}, {"3001", false}, {":", false}, {":99999", false}, {":port", false}, {"bad host:3001", false},
	} {
		_, err := config.Load(env(map[string]string{"REALTIME_ADDR": tc.addr}), nil)
		if tc.ok && err != nil {
			t.Errorf("REALTIME_ADDR=%q: %v", tc.addr, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "REALTIME_ADDR")) {
			t.Errorf("REALTIME_ADDR=%q: error %v, want one naming REALTIME_ADDR", tc.addr, err)
		}
	}
}

func TestRuleFolderMustHoldRuleFiles(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct{ dir, want string }{
		{empty + "/missing", "no such file or directory"},
		{empty, "no rule files"},
	} {
		_, err := config.Load(env(map[string]string{"REALTIME_TRIGGERS_DIR": tc.dir}), nil)
		if err == nil || !strings.Contains(err.Error(), "REALTIME_TRIGGERS_DIR") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("REALTIME_TRIGGERS_DIR=%s: error %v, want one naming the variable and %q", tc.dir, err, tc.want)
		}
	}
	if _, err := config.Load(env(map[string]string{"REALTIME_TRIGGERS_DIR": "../sql/triggers"}), nil); err != nil {
		t.Fatalf("the built-in rules' folder: %v", err)
	}
}
