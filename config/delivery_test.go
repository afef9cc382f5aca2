package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/realtimed/realtimed/config"
)

func TestDeliveryDefaults(t *testing.T) {
	c, err := config.Load(env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxEventBytes != 1<<20 || c.RecoveryWindow != 2*time.Minute || c.Retention != time.Hour {
		t.Fatalf("defaults: max event %d, recovery window %v, retention %v", c.MaxEventBytes, c.RecoveryWindow, c.Retention)
	}
}

func TestDeliverySettings(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string // error naming this, or "" for valid
	}{
		{map[string]string{"REALTIME_RECOVERY_WINDOW": "0"}, ""},
		{map[string]string{"REALTIME_RECOVERY_WINDOW": "30s", "REALTIME_RETENTION": "30s"}, ""},
		{map[string]string{"REALTIME_RECOVERY_WINDOW": "-1s"}, "REALTIME_RECOVERY_WINDOW"},
		{map[string]string{"REALTIME_RECOVERY_WINDOW": "soon"}, "REALTIME_RECOVERY_WINDOW"},
		{map[string]string{"REALTIME_RETENTION": "0"}, "REALTIME_RETENTION"},
		{map[string]string{"REALTIME_RETENTION": "1m", "REALTIME_RECOVERY_WINDOW": "5m"}, "REALTIME_RETENTION must be at least REALTIME_RECOVERY_WINDOW"},
		{map[string]string{"REALTIME_MAX_EVENT_BYTES": "0"}, "REALTIME_MAX_EVENT_BYTES"},
		{map[string]string{"REALTIME_MAX_EVENT_BYTES": "3000000", "REALTIME_SEND_QUEUE_BYTES": "8000000"}, ""},
		{map[string]string{"REALTIME_SOURCE": "wal", "REALTIME_WAL_SLOT": "realtimed_eu"}, ""},
		{map[string]string{"REALTIME_SOURCE": "notify"}, ""},
		{map[string]string{"REALTIME_SOURCE": "logical"}, "REALTIME_SOURCE"},
		{map[string]string{"REALTIME_SOURCE": "WAL"}, "REALTIME_SOURCE"},
		{map[string]string{"REALTIME_WAL_SLOT": "Realtimed"}, "REALTIME_WAL_SLOT"},
		{map[string]string{"REALTIME_WAL_SLOT": "a-b"}, "REALTIME_WAL_SLOT"},
		{map[string]string{"REALTIME_WAL_STALL": "0"}, "REALTIME_WAL_STALL"},
	}
	for _, tc := range cases {
		_, err := config.Load(env(tc.env), nil)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%v: %v", tc.env, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line naming %q", tc.env, err, tc.want)
		}
	}
}
