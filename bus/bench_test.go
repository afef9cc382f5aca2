package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/realtimed/realtimed/internal/natstest"
	"github.com/realtimed/realtimed/listener"
)

// The publisher's and the subscriber's paths against an embedded NATS server, for
// docs/scale.md: events/s and messages/s one core gets through each path on this machine.
//
//	go test -run '^$' -bench . -benchtime 200000x ./bus/

func benchConn(b *testing.B, url string) *Conn {
	b.Helper()
	c, err := Connect(Options{URL: url, Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

func benchEnvelope(pos int64, users int) *listener.Envelope {
	env := &listener.Envelope{ID: pos, Pos: pos, Event: "task.updated", TS: time.Now().UnixMicro(),
		Payload: []byte(`{"id":"7b0c1a9e-4c5d-4f0e-9a51-2f1f0b6c9d3e","title":"Take out the trash","status":"done","points":5}`)}
	for i := 0; i < users; i++ {
		env.Users = append(env.Users, "7b0c1a9e-4c5d-4f0e-9a51-"+strconv.Itoa(100000000000+i))
	}
	return env
}

func recipients(env *listener.Envelope) []string {
	out := make([]string, 0, len(env.Users)+len(env.Rooms))
	for _, u := range env.Users {
		out = append(out, "user:"+u)
	}
	return append(out, env.Rooms...)
}

// BenchmarkPublish: the publisher's work per event (encode once, publish to each recipient
// room), into a server with no subscriber.
func BenchmarkPublish(b *testing.B) {
	srv := natstest.Start(b)
	for _, rooms := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("rooms=%d", rooms), func(b *testing.B) {
			conn := benchConn(b, srv.URL())
			p := &Publisher{cfg: PublisherConfig{Conn: conn, Prefix: "realtime", Recipients: recipients}}
			t := &term{p: p, dials: conn.Dials(), fail: func(err error) { b.Fatal(err) }}
			envs := make([]*listener.Envelope, 1024)
			for i := range envs {
				envs[i] = benchEnvelope(int64(i+1), rooms)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t.publish(envs[i%len(envs)])
			}
			if err := conn.FlushTimeout(30 * time.Second); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.N*rooms)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkRoute: an event from the publisher's connection through the server to a node that
// subscribes to its room, decoded and passed the duplicate check (Deliver does nothing): the
// bus's end-to-end rate on one machine, server included.
func BenchmarkRoute(b *testing.B) {
	srv := natstest.Start(b)
	pubConn, subConn := benchConn(b, srv.URL()), benchConn(b, srv.URL())
	var delivered atomic.Int64
	s := &Subscriber{cfg: SubscriberConfig{Conn: subConn, Prefix: "realtime", Deliver: func(*listener.Envelope) { delivered.Add(1) },
		UserOf: func(string) (string, bool) { return "", false }, Queue: 1 << 16, SubscribeTimeout: 5 * time.Second, Linger: time.Minute},
		log: quietLog(), ch: make(chan *nats.Msg, 1<<16), head: HeadSubject("realtime"), rooms: map[string]*roomSub{}}
	s.Acquire("user:1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-s.ch:
				s.handle(ctx, m)
			}
		}
	}()
	p := &Publisher{cfg: PublisherConfig{Conn: pubConn, Prefix: "realtime", Recipients: recipients}}
	t := &term{p: p, dials: pubConn.Dials(), fail: func(err error) { b.Error(err) }}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		env := benchEnvelope(int64(i+1), 1)
		env.Users = []string{"1"}
		t.publish(env)
		for int64(i)-delivered.Load() > 30000 { // stay under the queue: this measures throughput, not drops
			time.Sleep(10 * time.Microsecond)
		}
	}
	for delivered.Load() < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkJetStreamPublish is the alternative: each event stored in a JetStream stream
// (file storage, one replica) and acknowledged, synchronously and asynchronously, against
// core NATS publications confirmed by a flush every 1000 (what the publisher does every 50ms).
func BenchmarkJetStreamPublish(b *testing.B) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: b.TempDir()}
	srv, err := server.NewServer(opts)
	if err != nil {
		b.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		b.Fatal("jetstream server not ready")
	}
	b.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "REALTIME", Subjects: []string{"realtime.room.>"}, Storage: jetstream.FileStorage}); err != nil {
		b.Fatal(err)
	}
	data := []byte(`{"id":1,"pos":1,"event":"task.updated","users":["7b0c1a9e-4c5d-4f0e-9a51-100000000000"],"rooms":[],"payload":{"id":"7b0c1a9e","title":"Take out the trash","status":"done","points":5},"ts":1}`)
	b.Run("core+flush", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := nc.Publish("realtime.room.user:1", data); err != nil {
				b.Fatal(err)
			}
			if i%1000 == 999 {
				if err := nc.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		}
		_ = nc.Flush()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("jetstream-sync", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := js.Publish(ctx, "realtime.room.user:1", data); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("jetstream-async", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := js.PublishAsync("realtime.room.user:1", data); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("async publications not acknowledged")
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// BenchmarkDecode: a node's cost to read one message (the envelope's JSON).
func BenchmarkDecode(b *testing.B) {
	data, _ := json.Marshal(benchEnvelope(1, 2))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := listener.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSubscribe: rooms subscribed per second, each confirmed by NATS (a socket entering
// a room nobody on the node was in: a connect after a reconnect storm), from 64 goroutines.
func BenchmarkSubscribe(b *testing.B) {
	srv := natstest.Start(b)
	conn := benchConn(b, srv.URL())
	s := &Subscriber{cfg: SubscriberConfig{Conn: conn, Prefix: "realtime", SubscribeTimeout: 10 * time.Second, Queue: 1024},
		log: quietLog(), ch: make(chan *nats.Msg, 1024), head: HeadSubject("realtime"), rooms: map[string]*roomSub{}}
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Acquire("user:" + strconv.FormatInt(n.Add(1), 10))
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "subs/s")
	if s.gap.Load() {
		b.Fatal("a subscription was not confirmed in time")
	}
}
