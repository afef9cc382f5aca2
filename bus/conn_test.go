package bus_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/realtimed/realtimed/bus"
	"github.com/realtimed/realtimed/internal/natstest"
	"github.com/realtimed/realtimed/internal/wait"
)

// User and password travel in REALTIME_BUS's URL, as nats.go reads them; a wrong one is a
// clear error, and Connect keeps retrying in the background rather than failing the node.
func TestCredentialsInTheURL(t *testing.T) {
	srv := natstest.StartWith(t, func(o *server.Options) { o.Username, o.Password = "realtimed", "s3cret" })
	host := strings.TrimPrefix(srv.URL(), "nats://")
	for _, tc := range []struct {
		name, url string
		ok        bool
	}{
		{"right password", "nats://realtimed:s3cret@" + host, true},
		{"wrong password", "nats://realtimed:nope@" + host, false},
		{"no credentials", "nats://" + host, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := bus.Probe(bus.Options{URL: tc.url}, "realtime", 5*time.Second)
			if tc.ok != (err == nil) {
				t.Fatalf("Probe(%s) = %+v, %v", tc.name, res, err)
			}
			if err != nil && !strings.Contains(err.Error(), "uthorization") {
				t.Fatalf("error %q does not say why", err)
			}
			if tc.ok && strings.Contains(res.Server, "s3cret") {
				t.Fatalf("the password shows in %q", res.Server)
			}
			c, err := bus.Connect(bus.Options{URL: tc.url, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.ok {
				wait.UntilWithin(t, 10*time.Second, "connected", c.IsConnected)
				return
			}
			time.Sleep(300 * time.Millisecond)
			if c.IsConnected() {
				t.Fatal("connected with wrong credentials")
			}
		})
	}
}
