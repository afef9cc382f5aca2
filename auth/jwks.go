package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// maxJWKSBytes bounds a JWKS response.
const maxJWKSBytes = 1 << 20

// JWKSConfig configures a remote JSON Web Key Set.
type JWKSConfig struct {
	// URL of the key set (https://…/.well-known/jwks.json). Required.
	URL string
	// Timeout bounds one fetch. Zero means 5s.
	Timeout time.Duration
	// Refresh is how old the set may get before it is fetched again (in the background, while
	// the old one keeps serving). Zero means 1h.
	Refresh time.Duration
	// MinInterval is the least time between two fetches, whatever asks for them (a token with
	// an unknown kid, a stale set): a flood of made-up kids costs at most one fetch per
	// interval. Zero means 10s.
	MinInterval time.Duration
	// Client makes the requests. Nil means a client with Timeout.
	Client *http.Client
	// Logger receives fetch failures and key changes. Nil means logrus' standard logger.
	Logger logrus.FieldLogger
	// Now is the clock (tests). Nil means time.Now.
	Now func() time.Time
}

// JWKS is a cached remote key set. It is fetched on first use (or by Refresh), again when it
// gets older than Refresh, and at once when a token names a kid it does not hold, at most once
// per MinInterval. When a fetch fails the last good set stays in use.
type JWKS struct {
	cfg JWKSConfig
	set atomic.Pointer[jwksSnapshot]

	mu          sync.Mutex
	inflight    chan struct{} // closed when the running fetch ends; nil when none runs
	lastAttempt time.Time
	lastErr     error // outcome of the last fetch
}

type jwksSnapshot struct {
	keys    *keyIndex
	fetched time.Time
}

// NewJWKS checks cfg and returns the key set; nothing is fetched yet.
func NewJWKS(cfg JWKSConfig) (*JWKS, error) {
	if err := CheckJWKSURL(cfg.URL); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Hour
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &JWKS{cfg: cfg}, nil
}

// CheckJWKSURL reports whether u is an absolute http(s) URL.
func CheckJWKSURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return errors.New("must be an https:// URL of a JSON Web Key Set")
	}
	return nil
}

// Refresh fetches the set now, or joins the fetch under way, and returns its outcome. It is
// not rate limited: use it at startup.
func (j *JWKS) Refresh(ctx context.Context) error {
	return j.wait(ctx, j.start(true))
}

// Len returns the number of keys in the current set.
func (j *JWKS) Len() int {
	if s := j.set.Load(); s != nil {
		return s.keys.size
	}
	return 0
}

// lookup returns the keys for a token's alg and kid. When the set holds none, a fetch is
// started (rate limited) and, with wait, waited for; then, when there still is no key, the
// error says whether the token is unknown (CodeInvalidToken) or the key set could not be had
// (CodeUnavailable). Without wait it returns nil, nil.
func (j *JWKS) lookup(ctx context.Context, alg, kid string, wait bool) (any, error) {
	snap := j.set.Load()
	if snap != nil {
		if j.cfg.Now().Sub(snap.fetched) >= j.cfg.Refresh {
			j.start(false) // stale: refresh in the background, keep serving
		}
		if keys := snap.keys.find(alg, kid); keys != nil {
			return keys, nil
		}
	}
	done := j.start(false)
	if !wait {
		return nil, nil
	}
	err := j.wait(ctx, done)
	if keys := j.set.Load().keysFor(alg, kid); keys != nil {
		return keys, nil
	}
	if err != nil {
		return nil, &Error{Code: CodeUnavailable, Message: "cannot fetch the signing keys right now", Err: err}
	}
	return nil, errUnknownKey
}

func (s *jwksSnapshot) keysFor(alg, kid string) any {
	if s == nil {
		return nil
	}
	return s.keys.find(alg, kid)
}

// start begins a fetch unless one runs (then it returns that one's channel) or the last one
// began less than MinInterval ago (then it returns nil). force ignores MinInterval.
func (j *JWKS) start(force bool) chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.inflight != nil {
		return j.inflight
	}
	now := j.cfg.Now()
	if !force && !j.lastAttempt.IsZero() && now.Sub(j.lastAttempt) < j.cfg.MinInterval {
		return nil
	}
	j.lastAttempt = now
	done := make(chan struct{})
	j.inflight = done
	go j.run(done)
	return done
}

// wait waits for a fetch (nil: none was started) and returns the outcome of the last fetch.
func (j *JWKS) wait(ctx context.Context, done chan struct{}) error {
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the JWKS: %w", ctx.Err())
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastErr
}

// run fetches the set with its own deadline (a waiter giving up does not cancel it).
func (j *JWKS) run(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), j.cfg.Timeout)
	defer cancel()
	keys, err := j.fetch(ctx)
	if err == nil {
		j.install(keys)
	} else {
		j.failed(err)
	}
	j.mu.Lock()
	j.lastErr = err
	j.inflight = nil
	j.mu.Unlock()
	close(done)
}

func (j *JWKS) fetch(ctx context.Context) ([]PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.cfg.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := j.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: fetching %s: %w", j.cfg.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: %s answered %s", j.cfg.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: reading %s: %w", j.cfg.URL, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks: %s is larger than %d bytes", j.cfg.URL, maxJWKSBytes)
	}
	keys, skipped, err := parseJWKS(body)
	for _, s := range skipped {
		j.cfg.Logger.WithField("url", j.cfg.URL).Warn("jwks: skipped a key: " + s)
	}
	if err != nil {
		return nil, fmt.Errorf("jwks: %s: %w", j.cfg.URL, err)
	}
	return keys, nil
}

func (j *JWKS) install(keys []PublicKey) {
	old := j.set.Load()
	j.set.Store(&jwksSnapshot{keys: newKeyIndex(keys), fetched: j.cfg.Now()})
	kids := make([]string, 0, len(keys))
	for _, k := range keys {
		kids = append(kids, k.ID)
	}
	sort.Strings(kids)
	entry := j.cfg.Logger.WithFields(logrus.Fields{"url": j.cfg.URL, "keys": len(keys), "kids": kids})
	if old == nil || !sameKids(old.keys, kids) {
		entry.Info("jwks: signing keys loaded")
	} else {
		entry.Debug("jwks: signing keys refreshed")
	}
}

func sameKids(x *keyIndex, kids []string) bool {
	n := 0
	for _, k := range kids {
		if k != "" {
			if !x.hasKid(k) {
				return false
			}
			n++
		}
	}
	return n == len(x.kids)
}

func (j *JWKS) failed(err error) {
	entry := j.cfg.Logger.WithError(err).WithField("url", j.cfg.URL)
	if old := j.set.Load(); old != nil {
		entry.WithFields(logrus.Fields{"keys": old.keys.size, "fetched": old.fetched.Format(time.RFC3339)}).
			Warn("jwks: refresh failed; keeping the last good key set")
		return
	}
	entry.Warn("jwks: cannot fetch the signing keys; tokens signed with them are refused for now (clients retry)")
}
