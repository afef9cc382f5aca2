// Package workload runs the bench's workloads against any server that speaks realtimed's
// contract (DESIGN.md: Socket.IO v4 with auth.token JWTs, user:<id> rooms, room:join for
// chat:<id>, events from realtime.publish): idle connections, fan-out to one room, and
// personal events written through the rules. Each returns a result that marshals to JSON.
package workload

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/bench/fixture"
	"github.com/realtimed/realtimed/bench/procstat"
	"github.com/realtimed/realtimed/bench/sioclient"
)

// Config is what every workload needs.
type Config struct {
	Target Target
	// DatabaseURL is the database the server listens to; the bench creates its data there.
	DatabaseURL string
	// Secret is the servers' HS256 JWT secret.
	Secret string
	// Server reads the server's CPU and RSS (nil: no server figures).
	Server procstat.Source
	// Settle is how idle measures wait for RSS to settle.
	Settle procstat.SettleOptions
	// Migrate applies realtimed's migrations and rules to the database first.
	Migrate bool
	// Keep leaves the created data in the database.
	Keep bool
	// Label names the server in the result ("realtimed", "node"), for reports.
	Label string
	Log   logrus.FieldLogger
}

// Header is common to every result.
type Header struct {
	Workload  string    `json:"workload"`
	Label     string    `json:"label,omitempty"`
	Target    string    `json:"target"`
	Server    string    `json:"server_stats,omitempty"`
	Clients   int       `json:"clients"`
	Started   time.Time `json:"started"`
	GoVersion string    `json:"bench_go"`
	CPUs      int       `json:"cpus"`
	Host      string    `json:"host,omitempty"`
}

func (c *Config) header(name string, clients int) Header {
	h := Header{Workload: name, Label: c.Label, Target: c.Target.URL, Clients: clients, Started: time.Now().UTC(),
		GoVersion: runtime.Version(), CPUs: runtime.NumCPU()}
	if c.Server != nil {
		h.Server = c.Server.Name()
	}
	h.Host, _ = os.Hostname()
	return h
}

// Usage is a process's resource use over a measured interval.
type Usage struct {
	CPUSec    float64 `json:"cpu_sec"`
	SysSec    float64 `json:"sys_cpu_sec,omitempty"` // the kernel's part of CPUSec (sockets, TCP)
	RSSKBFrom int64   `json:"rss_kb_start"`
	RSSKBTo   int64   `json:"rss_kb_end"`
}

func usage(a, b procstat.Sample) *Usage {
	return &Usage{CPUSec: round3(b.CPUSec - a.CPUSec), SysSec: round3(b.SysSec - a.SysSec), RSSKBFrom: a.RSSKB, RSSKBTo: b.RSSKB}
}

// meter samples the server and the bench itself at the start and end of a measured interval.
type meter struct {
	server, self procstat.Source
	s0, b0       procstat.Sample
	t0           time.Time
}

func (c *Config) startMeter(ctx context.Context) (*meter, error) {
	m := &meter{server: c.Server, self: procstat.PID(os.Getpid())}
	var err error
	if m.server != nil {
		if m.s0, err = m.server.Sample(ctx); err != nil {
			return nil, fmt.Errorf("sampling the server: %w", err)
		}
	}
	if m.b0, err = m.self.Sample(ctx); err != nil {
		return nil, err
	}
	m.t0 = time.Now()
	return m, nil
}

// stop returns the server's and the bench's usage since start, and the wall time.
func (m *meter) stop(ctx context.Context) (server, bench *Usage, wall time.Duration, err error) {
	wall = time.Since(m.t0)
	if m.server != nil {
		s1, err := m.server.Sample(ctx)
		if err != nil {
			return nil, nil, wall, fmt.Errorf("sampling the server: %w", err)
		}
		server = usage(m.s0, s1)
	}
	b1, err := m.self.Sample(ctx)
	if err != nil {
		return nil, nil, wall, err
	}
	return server, usage(m.b0, b1), wall, nil
}

// setup creates the fixture and returns a cleanup function.
func (c *Config) setup(ctx context.Context, users int) (*fixture.Fixture, func(), error) {
	start := time.Now()
	f, err := fixture.Setup(ctx, fixture.Options{DatabaseURL: c.DatabaseURL, Secret: c.Secret, Users: users, Migrate: c.Migrate})
	if err != nil {
		return nil, nil, err
	}
	c.Log.WithFields(logrus.Fields{"run": f.RunID, "users": users, "families": len(f.Families),
		"chat": f.ChatID, "elapsed": time.Since(start).Round(time.Millisecond).String()}).Info("data created")
	cleanup := func() {
		if c.Keep {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := f.Cleanup(ctx, c.DatabaseURL); err != nil {
			c.Log.WithError(err).Warn("cleaning up the bench data")
		}
	}
	return f, cleanup, nil
}

// joinChat is a Connect join step: room:join {chatId} and an {ok:true} ack.
func joinChat(chatID string) func(ctx context.Context, i int, c *sioclient.Client) error {
	return func(ctx context.Context, _ int, c *sioclient.Client) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ack, err := c.Call(ctx, "room:join", map[string]string{"chatId": chatID})
		if err != nil {
			return err
		}
		if !bytes.Contains(ack, []byte(`"ok":true`)) {
			return fmt.Errorf("room:join refused: %s", ack)
		}
		return nil
	}
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func perSec(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return round3(float64(n) / d.Seconds())
}
