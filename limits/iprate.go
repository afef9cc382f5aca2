// Package limits holds realtimed's handshake limits that do not depend on who the client is:
// a per-address handshake rate limiter with bounded memory, and the client address of a
// request behind trusted proxies.
package limits

import (
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/realtimed/realtimed/socketio/engineio"
)

// DefaultMaxAddresses bounds the addresses an IPRateLimiter tracks (about 100 bytes each).
const DefaultMaxAddresses = 100_000

// IPRateConfig configures an IPRateLimiter.
type IPRateConfig struct {
	// Rate is the sustained number of handshakes per second one address may make (> 0).
	Rate float64
	// Burst is how many handshakes an address may make at once. Values below 1 mean 1.
	Burst int
	// MaxAddresses bounds the addresses tracked at once. Zero means DefaultMaxAddresses.
	MaxAddresses int
	// TrustedProxies are the proxies whose X-Forwarded-For is believed (see ClientAddr).
	TrustedProxies []netip.Prefix
	// Now is the clock (tests). Nil means time.Now.
	Now func() time.Time
}

// IPRateLimiter limits handshakes per client address with a token bucket per address (IPv6
// addresses are grouped by /64, which one host usually owns). Memory is bounded: when
// MaxAddresses are tracked, addresses whose bucket has refilled are forgotten (they are
// indistinguishable from new ones), then, if that was not enough, arbitrary ones.
type IPRateLimiter struct {
	cfg   IPRateConfig
	limit rate.Limit

	mu      sync.Mutex
	buckets map[netip.Addr]*rate.Limiter
}

// NewIPRateLimiter returns a limiter for cfg.
func NewIPRateLimiter(cfg IPRateConfig) *IPRateLimiter {
	if cfg.Burst < 1 {
		cfg.Burst = 1
	}
	if cfg.MaxAddresses <= 0 {
		cfg.MaxAddresses = DefaultMaxAddresses
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &IPRateLimiter{cfg: cfg, limit: rate.Limit(cfg.Rate), buckets: make(map[netip.Addr]*rate.Limiter)}
}

// Allow takes one handshake from addr's bucket. When it is empty it returns false and how long
// until the next handshake would be allowed.
func (l *IPRateLimiter) Allow(addr netip.Addr) (bool, time.Duration) {
	key := Key(addr)
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.cfg.MaxAddresses {
			l.evict(now)
		}
		b = rate.NewLimiter(l.limit, l.cfg.Burst)
		l.buckets[key] = b
	}
	if b.AllowN(now, 1) {
		return true, 0
	}
	if l.limit <= 0 {
		return false, time.Second
	}
	missing := 1 - b.TokensAt(now)
	return false, time.Duration(missing / float64(l.limit) * float64(time.Second))
}

// evict forgets refilled buckets, then arbitrary ones down to 90% of the bound, so that a
// flood of new addresses costs one sweep per tenth of the bound, not one per handshake.
func (l *IPRateLimiter) evict(now time.Time) {
	burst := float64(l.cfg.Burst)
	for k, b := range l.buckets {
		if b.TokensAt(now) >= burst {
			delete(l.buckets, k)
		}
	}
	target := l.cfg.MaxAddresses * 9 / 10
	for k := range l.buckets {
		if len(l.buckets) <= target {
			break
		}
		delete(l.buckets, k)
	}
}

// Len returns the number of addresses tracked.
func (l *IPRateLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// AllowRequest is the Engine.IO handshake hook (engineio.Options.AllowRequest): a throttled
// handshake is answered 429 Too Many Requests with Retry-After.
func (l *IPRateLimiter) AllowRequest(r *http.Request) error {
	addr, _ := ClientAddr(r, l.cfg.TrustedProxies)
	ok, wait := l.Allow(addr)
	if ok {
		return nil
	}
	return &engineio.RequestError{
		Status:     http.StatusTooManyRequests,
		Message:    fmt.Sprintf("Too many connection attempts from your address; retry in %s", wait.Round(100*time.Millisecond)),
		RetryAfter: wait,
	}
}

// Key is the bucket an address counts against: itself for IPv4, its /64 for IPv6.
func Key(addr netip.Addr) netip.Addr {
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.Addr()
	}
	return addr
}
