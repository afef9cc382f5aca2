package server

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/realtimed/realtimed/internal/natstest"
	"github.com/realtimed/realtimed/internal/wait"
)

// In fleet mode /readyz has a bus check that follows the NATS connection, and /metrics the
// bus's series; the only node is elected to publish.
func TestReadyzAndMetricsCoverTheBus(t *testing.T) {
	nats := natstest.Start(t)
	cfg := testConfig(t)
	cfg.Bus.URL, cfg.Bus.Prefix = nats.URL(), "realtime"
	s := newTestServer(t, cfg)
	h := s.Handler()
	base := serve(t, s)
	wait.Until(t, "ready with the bus", func() bool {
		code, r := getReady(t, h)
		return code == http.StatusOK && r.Checks["bus"]
	})
	wait.Until(t, "the node publishes", func() bool {
		m := scrape(t, base)
		return strings.Contains(m, "realtimed_bus_publisher 1") && strings.Contains(m, "realtimed_bus_connected 1") &&
			strings.Contains(m, "realtimed_bus_subscriptions 2") // realtime:internal and the heartbeats
	})

	before := metricValue(t, scrape(t, base), "realtimed_bus_catchups_total")
	nats.Shutdown()
	wait.UntilWithin(t, 20*time.Second, "not ready without NATS", func() bool {
		code, r := getReady(t, h)
		return code == http.StatusServiceUnavailable && !r.Checks["bus"] && r.Checks["listener"] && r.Checks["database"]
	})
	nats.Restart(t, 0)
	wait.UntilWithin(t, 20*time.Second, "ready again", func() bool {
		code, r := getReady(t, h)
		return code == http.StatusOK && r.Checks["bus"]
	})
	wait.UntilWithin(t, 20*time.Second, "a catch-up after the new connection", func() bool {
		return metricValue(t, scrape(t, base), "realtimed_bus_catchups_total") > before
	})
}

// metricValue returns the value of an unlabelled metric in a scrape.
func metricValue(t *testing.T, scraped, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(scraped, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in the metrics", name)
	return 0
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
