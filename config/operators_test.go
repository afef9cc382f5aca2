package config_test

import (
	"strings"
	"testing"

	"github.com/realtimed/realtimed/config"
)

// The operators' settings: the internal address, the Admin UI and the console switch. Errors
// name the variable, in one line, and never show the Admin UI's password.
func TestOperatorsSettings(t *testing.T) {
	c, err := config.Load(env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.InternalAddr != "" || c.AdminUI.Enabled || c.AdminUI.Username != "admin" || c.AdminUI.MaxSockets != 1000 || !c.Console {
		t.Fatalf("defaults: internal %q, admin UI %+v, console %v", c.InternalAddr, c.AdminUI, c.Console)
	}
	c, err = config.Load(env(map[string]string{
		"REALTIME_INTERNAL_ADDR": "127.0.0.1:9090", "REALTIME_ADMIN_UI": "true", "REALTIME_ADMIN_UI_PASSWORD": "pw",
		"REALTIME_ADMIN_UI_READONLY": "true", "REALTIME_ADMIN_UI_SOCKETS": "50", "REALTIME_CONSOLE": "false",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.InternalAddr != "127.0.0.1:9090" || !c.AdminUI.Enabled || !c.AdminUI.ReadOnly || c.AdminUI.MaxSockets != 50 || c.Console {
		t.Fatalf("got internal %q, admin UI %+v, console %v", c.InternalAddr, c.AdminUI, c.Console)
	}

	const secret = "hunter2-secret"
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"REALTIME_INTERNAL_ADDR": "nowhere"}, "REALTIME_INTERNAL_ADDR"},
		{map[string]string{"REALTIME_INTERNAL_ADDR": ":99999"}, "REALTIME_INTERNAL_ADDR"},
		{map[string]string{"REALTIME_INTERNAL_ADDR": ":3001"}, "REALTIME_INTERNAL_ADDR must differ from REALTIME_ADDR"},
		{map[string]string{"REALTIME_ADMIN_UI": "true"}, "REALTIME_ADMIN_UI_PASSWORD"},
		{map[string]string{"REALTIME_ADMIN_UI": "true", "REALTIME_ADMIN_UI_PASSWORD": "$2b$10$" + secret}, "REALTIME_ADMIN_UI_PASSWORD: not a valid bcrypt hash"},
		{map[string]string{"REALTIME_ADMIN_UI": "true", "REALTIME_ADMIN_UI_PASSWORD": secret, "REALTIME_ADMIN_UI_USERNAME": ""}, ""},
		{map[string]string{"REALTIME_ADMIN_UI_SOCKETS": "0"}, "REALTIME_ADMIN_UI_SOCKETS"},
		{map[string]string{"REALTIME_CONSOLE": "off-ish"}, "REALTIME_CONSOLE"},
		{map[string]string{"REALTIME_CONSOLE": "false", "REALTIME_DEMO": "true", "REALTIME_JWT_SECRET": "s"}, "REALTIME_DEMO needs the console"},
	} {
		_, err := config.Load(env(tc.env), nil)
		if tc.want == "" {
			// An empty username from the environment means the default.
			if err != nil {
				t.Errorf("env %v: %v", tc.env, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), secret) {
			t.Errorf("env %v: error %v, want one line with %q and no password", tc.env, err, tc.want)
		}
	}
}
