package socketio_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/socketio"
	"github.com/realtimed/realtimed/socketio/engineio"
)

// Codec benchmarks: go test -run '^$' -bench . -benchmem ./socketio/

var benchArgs = []json.RawMessage{
	json.RawMessage(`{"taskId":"5b0c1f7e-8f6f-4c39-9d5e-1f0c3b7a2d11","familyId":"0d4c8a63-2a55-4f1e-8b64-7b2b8e9d2f10","task":{"name":"Take out the trash","status":"pending","karma":5}}`),
}

// BenchmarkEncodeEventAt is the cost of encoding one event (packet and websocket frame) for a
// broadcast, paid once whatever the number of receivers.
func BenchmarkEncodeEventAt(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = socketio.EncodeEventAt("/", 123456, "task.created", benchArgs...)
	}
}

func BenchmarkDecodePacket(b *testing.B) {
	pkt := []byte(`2["room:join",{"chatId":"5b0c1f7e-8f6f-4c39-9d5e-1f0c3b7a2d11"}]`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := socketio.DecodePacket(pkt, 10); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBroadcast sends a 300-byte event to a room of 1,000 websocket clients connected over
// loopback TCP, and reports the cost per delivery: wall time, CPU time of the process (server
// and clients together: the clients are raw sockets counting bytes, in the same process) and
// heap allocations, which must be zero on the hot path (the packet and its frame are built
// once per broadcast, outside the loop). "paced" waits for every client to receive each event
// before the next (one write per socket per event); "burst" sends all events back to back, so
// that each socket's writer drains several queued frames with one write. "writers" is the
// default I/O (epoll poller, shared non-blocking writers); "goroutines" is Options.GoroutineIO
// (a reading goroutine per connection, a flush goroutine per write), for comparison.
func BenchmarkBroadcast(b *testing.B) {
	for _, mode := range []string{"paced", "burst"} {
		for _, io := range []string{"writers", "goroutines"} {
			b.Run(mode+"/"+io, func(b *testing.B) {
				const sockets = 1000
				ns, clients := broadcastRoom(b, sockets, io == "goroutines")
				enc, frame := benchEvent(ns)
				usage := startUsage(b)
				for i := 1; i <= b.N; i++ {
					if n := ns.Broadcast([]string{"room"}, "", enc); n != sockets {
						b.Fatalf("broadcast reached %d sockets", n)
					}
					if mode == "paced" {
						clients.wait(b, int64(i)*frame*sockets)
					}
				}
				clients.wait(b, int64(b.N)*frame*sockets)
				usage.report(b, float64(b.N)*sockets)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*sockets), "ns/delivery")
			})
		}
	}
}

// BenchmarkBroadcastPersonal sends 300-byte events, each to the personal room of the next of
// 1,000 connected sockets in turn (as events to one user's device). "paced" waits for each
// event to arrive and for directBroadcastGap to pass before the next: every broadcast is
// written from the broadcasting goroutine (Conn.SendDirect), with no writer handoff; the CPU
// time includes the waiting loop. "burst" sends back to back: the shared writers take over
// and coalesce. The CPU time includes the raw clients reading, in the same process.
func BenchmarkBroadcastPersonal(b *testing.B) {
	for _, mode := range []string{"paced", "burst"} {
		b.Run(mode, func(b *testing.B) {
			const sockets = 1000
			ns, clients := broadcastRoom(b, sockets, false)
			targets := ns.Sockets("room")
			rooms := make([][]string, len(targets))
			for i, s := range targets {
				s.Join("personal:" + s.ID())
				rooms[i] = []string{"personal:" + s.ID()}
			}
			enc, frame := benchEvent(ns)
			usage := startUsage(b)
			for i := 1; i <= b.N; i++ {
				sent := time.Now()
				if n := ns.Broadcast(rooms[i%len(rooms)], "", enc); n != 1 {
					b.Fatalf("broadcast reached %d sockets", n)
				}
				if mode == "paced" {
					clients.wait(b, int64(i)*frame)
					for time.Since(sent) < 110*time.Microsecond {
						time.Sleep(20 * time.Microsecond)
					}
				}
			}
			clients.wait(b, int64(b.N)*frame)
			usage.report(b, float64(b.N))
		})
	}
}

// benchEvent encodes the 300-byte event of the broadcast benchmarks and returns it with the
// size of its websocket frame: "4" + packet, behind a 4-byte header (126..65535 bytes).
func benchEvent(ns *socketio.Namespace) (*socketio.Encoded, int64) {
	enc := ns.EncodeEvent("bench", json.RawMessage(`{"pad":"`+strings.Repeat("x", 280)+`"}`))
	return enc, int64(len(enc.Text()) + 1 + 4)
}

// usage measures the process's CPU time and heap allocations over a benchmark's loop.
type usage struct {
	ms0  runtime.MemStats
	cpu0 time.Duration
}

// startUsage starts measuring, and the benchmark's timer.
func startUsage(b *testing.B) *usage {
	u := &usage{}
	runtime.GC()
	runtime.ReadMemStats(&u.ms0)
	u.cpu0 = cpuTime()
	b.ResetTimer()
	return u
}

// report stops the timer and reports CPU time and allocations per delivery.
func (u *usage) report(b *testing.B, deliveries float64) {
	b.StopTimer()
	cpu := cpuTime() - u.cpu0
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(cpu.Nanoseconds())/deliveries, "cpu-ns/delivery")
	b.ReportMetric(float64(ms1.Mallocs-u.ms0.Mallocs)/deliveries, "allocs/delivery")
	b.ReportMetric(float64(ms1.TotalAlloc-u.ms0.TotalAlloc)/deliveries, "B/delivery")
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// broadcastRoom serves a namespace whose sockets all join "room" and connects n raw clients.
func broadcastRoom(b *testing.B, n int, goroutineIO bool) (*socketio.Namespace, *rawClients) {
	b.Helper()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	srv := socketio.NewServer(socketio.Options{Logger: log, Engine: engineio.Options{PingInterval: time.Hour, GoroutineIO: goroutineIO}})
	ns := srv.Of("/")
	ns.Use(func(s *socketio.Socket) error { s.Join("room"); return nil })
	hs := httptest.NewServer(srv)
	b.Cleanup(hs.Close)
	cs := &rawClients{}
	for i := 0; i < n; i++ {
		c, err := dialRaw(hs.URL)
		if err != nil {
			b.Fatal(err)
		}
		cs.add(c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for ns.RoomSize("room") < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d sockets joined", ns.RoomSize("room"), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Cleanup(cs.close)
	return ns, cs
}

// rawClients count the bytes they receive after their CONNECT reply, without allocating.
type rawClients struct {
	mu    sync.Mutex
	conns []net.Conn
	total atomic.Int64
	wg    sync.WaitGroup
}

func (cs *rawClients) add(c *rawClient) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	counter := &cs.total
	cs.conns = append(cs.conns, c.nc)
	cs.wg.Add(1)
	go func() {
		defer cs.wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := c.br.Read(buf)
			counter.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
}

// wait returns once the clients have received want bytes in all.
func (cs *rawClients) wait(b *testing.B, want int64) {
	deadline := time.Now().Add(60 * time.Second)
	for cs.total.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("the clients received %d of %d bytes", cs.total.Load(), want)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

func (cs *rawClients) close() {
	for _, c := range cs.conns {
		_ = c.Close()
	}
	cs.wg.Wait()
}

type rawClient struct {
	nc net.Conn
	br *bufio.Reader
}

// dialRaw opens a websocket session by hand, joins the main namespace and reads up to the
// CONNECT reply.
func dialRaw(base string) (*rawClient, error) {
	nc, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	fmt.Fprintf(nc, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"+
		"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(nc)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("upgrade: %v %v", res, err)
	}
	c := &rawClient{nc: nc, br: br}
	if open, err := c.readFrame(); err != nil || open[0] != '0' {
		nc.Close()
		return nil, fmt.Errorf("open packet %q: %v", open, err)
	}
	// "40", masked with a zero key.
	if _, err := nc.Write([]byte{0x81, 0x82, 0, 0, 0, 0, '4', '0'}); err != nil {
		return nil, err
	}
	if reply, err := c.readFrame(); err != nil || !strings.HasPrefix(reply, "40") {
		nc.Close()
		return nil, fmt.Errorf("CONNECT reply %q: %v", reply, err)
	}
	return c, nil
}

// readFrame reads one small unmasked server frame.
func (c *rawClient) readFrame() (string, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return "", err
	}
	if hdr[1] >= 126 {
		return "", fmt.Errorf("unexpected long frame")
	}
	p := make([]byte, hdr[1])
	_, err := io.ReadFull(c.br, p)
	return string(p), err
}
