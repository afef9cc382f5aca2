package doctor

import (
	"context"
	"time"

	"github.com/realtimed/realtimed/bus"
)

func init() {
	Register(Check{Name: "bus", Order: 70, Applies: busConfigured, Run: checkBus})
}

// busConfigured: the bus checks apply in fleet mode only.
func busConfigured(env *Env) bool { return env.Config.Bus.URL != "" }

// checkBus connects to NATS as a node would and sends a message through a room subject.
func checkBus(_ context.Context, env *Env) Result {
	c := env.Config.Bus
	res, err := bus.Probe(bus.Options{URL: c.URL, Creds: c.Creds, CA: c.CA, Cert: c.Cert, Key: c.Key}, c.Prefix, 5*time.Second)
	if err != nil {
		return Failf("NATS (REALTIME_BUS): %v", err)
	}
	if max := int64(env.Config.MaxEventBytes); max > 0 && res.MaxPayload < max+1024 {
		return Warnf("NATS %s at %s: round trip %s; its max_payload (%d bytes) is below REALTIME_MAX_EVENT_BYTES: larger events go by reference and every node reads them from PostgreSQL",
			res.Version, res.Server, res.RTT.Round(time.Microsecond), res.MaxPayload)
	}
	return Passf("NATS %s at %s: a message through %s.room.… came back in %s", res.Version, res.Server, c.Prefix, res.RTT.Round(time.Microsecond))
}
