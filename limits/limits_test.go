package limits

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/realtimed/realtimed/socketio/engineio"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time              { return c.t }
func (c *clock) advance(d time.Duration)     { c.t = c.t.Add(d) }
func newClock() *clock                       { return &clock{t: time.Unix(1_700_000_000, 0)} }
func addr(t *testing.T, s string) netip.Addr { t.Helper(); return netip.MustParseAddr(s) }

func TestBurstFromOneAddressIsThrottledOthersAreNot(t *testing.T) {
	c := newClock()
	l := NewIPRateLimiter(IPRateConfig{Rate: 2, Burst: 3, Now: c.now})
	attacker := addr(t, "203.0.113.7")
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow(attacker); !ok {
			t.Fatalf("handshake %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow(attacker)
	if ok {
		t.Fatal("4th handshake in the same instant allowed; want throttled")
	}
	if wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("retry after %v, want (0, 500ms] at 2/s", wait)
	}
	for _, other := range []string{"203.0.113.8", "198.51.100.1", "2001:db8:1::1"} {
		if ok, _ := l.Allow(addr(t, other)); !ok {
			t.Fatalf("%s refused while another address is throttled", other)
		}
	}
	c.advance(500 * time.Millisecond)
	if ok, _ := l.Allow(attacker); !ok {
		t.Fatal("no handshake allowed after the bucket refilled one token")
	}
	if ok, _ := l.Allow(attacker); ok {
		t.Fatal("a second handshake allowed with only one token refilled")
	}
}

func TestIPv6GroupedBySlash64AndMappedIPv4Unmapped(t *testing.T) {
	c := newClock()
	l := NewIPRateLimiter(IPRateConfig{Rate: 1, Burst: 1, Now: c.now})
	if ok, _ := l.Allow(addr(t, "2001:db8:aa:bb::1")); !ok {
		t.Fatal("first IPv6 handshake refused")
	}
	if ok, _ := l.Allow(addr(t, "2001:db8:aa:bb:ffff::2")); ok {
		t.Fatal("another address of the same /64 got a bucket of its own")
	}
	if ok, _ := l.Allow(addr(t, "2001:db8:aa:bc::1")); !ok {
		t.Fatal("a different /64 was throttled")
	}
	if ok, _ := l.Allow(addr(t, "192.0.2.1")); !ok {
		t.Fatal("IPv4 refused")
	}
	if ok, _ := l.Allow(addr(t, "::ffff:192.0.2.1")); ok {
		t.Fatal("the IPv4-mapped form of an address got a bucket of its own")
	}
}

func TestMemoryStaysBoundedUnderAnAddressFlood(t *testing.T) {
	c := newClock()
	const max = 1000
	l := NewIPRateLimiter(IPRateConfig{Rate: 1, Burst: 2, MaxAddresses: max, Now: c.now})
	victim := addr(t, "192.0.2.200")
	l.Allow(victim)
	l.Allow(victim) // bucket empty
	for i := 0; i < 20*max; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if ok, _ := l.Allow(a); !ok {
			t.Fatalf("new address %s refused", a)
		}
		if n := l.Len(); n > max {
			t.Fatalf("%d addresses tracked, bound is %d", n, max)
		}
	}
	// Refilled buckets are the first to go: after a refill the flood evicts them, not the
	// busy ones.
	c.advance(10 * time.Second)
	busy := addr(t, "192.0.2.201")
	for i := 0; i < 2; i++ {
		l.Allow(busy)
	}
	for i := 0; i < max-10; i++ {
		l.Allow(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := l.Len(); n > max {
		t.Fatalf("%d addresses tracked, bound is %d", n, max)
	}
	if ok, _ := l.Allow(busy); ok {
		t.Fatal("the busy address's empty bucket was evicted instead of refilled ones")
	}
}

func TestAllowRequestAnswers429WithRetryAfter(t *testing.T) {
	c := newClock()
	l := NewIPRateLimiter(IPRateConfig{Rate: 0.5, Burst: 1, Now: c.now})
	srv := engineio.NewServer(engineio.Options{AllowRequest: l.AllowRequest}, nil, func(*engineio.Conn) engineio.Handler { return nopHandler{} })
	defer srv.Close()
	handshake := func(remote string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	if w := handshake("192.0.2.1:1111"); w.Code != http.StatusOK {
		t.Fatalf("first handshake: %d %s", w.Code, w.Body)
	}
	w := handshake("192.0.2.1:2222")
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("second handshake: status %d, want 429", w.Code)
	}
	if got := w.Header().Get("Retry-After"); got != "2" {
		t.Fatalf("Retry-After %q, want 2", got)
	}
	if body := w.Body.String(); !strings.Contains(body, `"message":"Too many connection attempts`) {
		t.Fatalf("body %s lacks the message", body)
	}
	if w := handshake("192.0.2.2:1111"); w.Code != http.StatusOK {
		t.Fatalf("another address: %d %s", w.Code, w.Body)
	}
}

type nopHandler struct{}

func (nopHandler) OnMessage(*engineio.Conn, engineio.Packet)           {}
func (nopHandler) OnClose(*engineio.Conn, engineio.CloseReason, error) {}

func TestClientAddr(t *testing.T) {
	trusted, err := ParsePrefixes("10.0.0.0/8, 192.168.1.10, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		trusted      []netip.Prefix
		want         string
		ok           bool
	}{
		{"direct IPv4", "203.0.113.5:4000", nil, trusted, "203.0.113.5", true},
		{"direct IPv6", "[2001:db8::5]:4000", nil, trusted, "2001:db8::5", true},
		{"mapped IPv4", "[::ffff:203.0.113.5]:4000", nil, trusted, "203.0.113.5", true},
		{"untrusted peer's XFF ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, trusted, "203.0.113.5", true},
		{"no trusted proxies: XFF ignored", "10.0.0.1:4000", []string{"198.51.100.1"}, nil, "10.0.0.1", true},
		{"trusted proxy", "10.1.2.3:4000", []string{"198.51.100.1"}, trusted, "198.51.100.1", true},
		{"client-written entries are left of the real one", "10.1.2.3:4000", []string{"1.2.3.4, 198.51.100.1"}, trusted, "198.51.100.1", true},
		{"chain of trusted proxies", "10.1.2.3:4000", []string{"198.51.100.1, 192.168.1.10", "10.9.9.9"}, trusted, "198.51.100.1", true},
		{"trusted proxy without XFF", "192.168.1.10:80", nil, trusted, "192.168.1.10", true},
		{"garbage hop stops the walk", "10.1.2.3:4000", []string{"198.51.100.1, nonsense"}, trusted, "10.1.2.3", true},
		{"IPv6 proxy", "[fd00::1]:4000", []string{"2001:db8::9"}, trusted, "2001:db8::9", true},
		{"bare address", "203.0.113.5", nil, trusted, "203.0.113.5", true},
		{"unparsable", "@", nil, trusted, "invalid IP", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, h := range tc.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			got, ok := ClientAddr(r, tc.trusted)
			if got.String() != tc.want || ok != tc.ok {
				t.Fatalf("ClientAddr = %s, %v; want %s, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParsePrefixesRejectsGarbage(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/x"} {
		if _, err := ParsePrefixes(bad); err == nil || !strings.Contains(err.Error(), "not an address") {
			t.Errorf("ParsePrefixes(%q) = %v, want an error", bad, err)
		}
	}
	got, err := ParsePrefixes(" 10.1.2.3/8 ,, ::ffff:192.0.2.1 ")
	if err != nil || fmt.Sprint(got) != "[10.0.0.0/8 192.0.2.1/32]" {
		t.Fatalf("ParsePrefixes = %v, %v", got, err)
	}
}

func TestRequestErrorIsARefusal(t *testing.T) {
	var re *engineio.RequestError
	err := NewIPRateLimiter(IPRateConfig{Rate: 1, Burst: 1}).AllowRequest(httptest.NewRequest("GET", "/", nil))
	if err != nil || errors.As(err, &re) {
		t.Fatalf("first request refused: %v", err)
	}
}

func BenchmarkAllow(b *testing.B) {
	l := NewIPRateLimiter(IPRateConfig{Rate: 1e9, Burst: 1 << 30})
	addrs := make([]netip.Addr, 1024)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Allow(addrs[i&1023])
	}
}

func BenchmarkAllowRequest(b *testing.B) {
	l := NewIPRateLimiter(IPRateConfig{Rate: 1e9, Burst: 1 << 30})
	r := httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=websocket", nil)
	r.RemoteAddr = "203.0.113.9:51234"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := l.AllowRequest(r); err != nil {
			b.Fatal(err)
		}
	}
}
