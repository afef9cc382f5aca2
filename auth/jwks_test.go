package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/auth/authtest"
	"github.com/realtimed/realtimed/internal/wait"
)

// jwksServer is a JWKS endpoint whose answer the test changes.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	status  int
	body    []byte
	block   chan struct{} // when set, requests wait on it
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{status: http.StatusOK, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		status, body, block := s.status, s.body, s.block
		s.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

// fakeClock is a clock tests move by hand; safe for the fetch goroutines.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type jwksFixture struct {
	srv   *jwksServer
	clock *fakeClock
	jwks  *auth.JWKS
	v     *auth.JWTVerifier
	log   *test.Hook
}

func newJWKSFixture(t *testing.T, body []byte) *jwksFixture {
	t.Helper()
	f := &jwksFixture{srv: newJWKSServer(t, body), clock: newFakeClock()}
	logger, hook := test.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	f.log = hook
	var err error
	f.jwks, err = auth.NewJWKS(auth.JWKSConfig{URL: f.srv.URL + "/.well-known/jwks.json", Timeout: 2 * time.Second,
		Refresh: time.Hour, MinInterval: 10 * time.Second, Logger: logger, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.v, err = auth.NewJWTVerifier(auth.JWTConfig{JWKS: f.jwks})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// verify checks a token and returns "" when accepted, else the error code.
func (f *jwksFixture) verify(t *testing.T, token string) (code, message string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := f.v.Verify(ctx, token)
	if err == nil {
		return "", ""
	}
	var ae *auth.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *auth.Error", err)
	}
	return ae.Code, ae.Message
}

func TestJWKSRotation(t *testing.T) {
	k := authtest.Shared(t)
	f := newJWKSFixture(t, authtest.JWKS(authtest.JWK(&k.RSA.PublicKey, "2024", "RS256")))
	old := authtest.Sign(t, "RS256", k.RSA, "2024", authtest.Claims("u1", nil))
	next := authtest.Sign(t, "RS256", k.Other, "2025", authtest.Claims("u1", nil))

	if code, msg := f.verify(t, old); code != "" {
		t.Fatalf("token of the published key refused: %s %s", code, msg)
	}
	if n := f.srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for the first token, want 1", n)
	}
	// The issuer publishes the next key and starts signing with it.
	f.srv.serve(200, authtest.JWKS(authtest.JWK(&k.RSA.PublicKey, "2024", "RS256"), authtest.JWK(&k.Other.PublicKey, "2025", "RS256")))
	f.clock.Advance(11 * time.Second) // past MinInterval
	if code, msg := f.verify(t, next); code != "" {
		t.Fatalf("token with the new kid refused after the key was published: %s %s", code, msg)
	}
	if n := f.srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (the unknown kid triggers one)", n)
	}
	if code, _ := f.verify(t, old); code != "" {
		t.Fatalf("old key refused while still published: %s", code)
	}
	// The old key is withdrawn; once the set is refreshed its tokens are refused.
	f.srv.serve(200, authtest.JWKS(authtest.JWK(&k.Other.PublicKey, "2025", "RS256")))
	f.clock.Advance(time.Hour + time.Second) // past Refresh: a background refresh starts
	f.verify(t, next)
	wait.Until(t, "the stale set to be refreshed", func() bool { return f.srv.fetches.Load() == 3 && f.jwks.Len() == 1 })
	if code, msg := f.verify(t, old); code != auth.CodeInvalidToken || !strings.Contains(msg, "unknown signing key") {
		t.Fatalf("token of a withdrawn key: %s %q, want invalid_token unknown signing key", code, msg)
	}
	if code, _ := f.verify(t, next); code != "" {
		t.Fatalf("current key refused: %s", code)
	}
}

func TestJWKSUnknownKidFetchesAreRateLimited(t *testing.T) {
	k := authtest.Shared(t)
	f := newJWKSFixture(t, authtest.JWKS(authtest.JWK(&k.RSA.PublicKey, "good", "")))
	if err := f.jwks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(11 * time.Second)
	var wg sync.WaitGroup
	codes := make([]string, 50)
	for i := 0; i < 20; i++ { // one after the other: each would refetch without the limit
		tok := authtest.Sign(t, "RS256", k.Other, fmt.Sprintf("made-up-%d", i), authtest.Claims("u", nil))
		codes[i], _ = f.verify(t, tok)
	}
	for i := 20; i < len(codes); i++ { // at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := authtest.Sign(t, "RS256", k.Other, fmt.Sprintf("made-up-%d", i), authtest.Claims("u", nil))
			codes[i], _ = f.verify(t, tok)
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != auth.CodeInvalidToken {
			t.Fatalf("token %d with a made-up kid: code %q, want invalid_token", i, c)
		}
	}
	if n := f.srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches for 50 made-up kids, want 2 (startup + one rate-limited refetch)", n)
	}
}

func TestJWKSOutageKeepsTheLastGoodSet(t *testing.T) {
	k := authtest.Shared(t)
	for _, outage := range []struct {
		name   string
		status int
		body   []byte
	}{
		{"HTTP 500", 500, []byte("oops")},
		{"HTML instead of JSON", 200, []byte("<html>maintenance</html>")},
		{"no usable key", 200, authtest.JWKS(map[string]any{"kty": "RSA", "use": "enc", "kid": "x", "n": "AQAB", "e": "AQAB"})},
		{"empty set", 200, []byte(`{"keys":[]}`)},
		{"oversized", 200, []byte(`{"keys":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`)},
	} {
		t.Run(outage.name, func(t *testing.T) {
			f := newJWKSFixture(t, authtest.JWKS(authtest.JWK(&k.P256.PublicKey, "ec1", "ES256")))
			good := authtest.Sign(t, "ES256", k.P256, "ec1", authtest.Claims("u", nil))
			if code, _ := f.verify(t, good); code != "" {
				t.Fatalf("good token refused: %s", code)
			}
			f.srv.serve(outage.status, outage.body)
			f.clock.Advance(2 * time.Hour)
			f.verify(t, good) // starts the background refresh, which fails
			wait.Until(t, "the failed refresh to be logged", func() bool { return f.srv.fetches.Load() == 2 && hasWarning(f.log, "keeping the last good key set") })

			if code, msg := f.verify(t, good); code != "" {
				t.Fatalf("token of the last good set refused during the outage: %s %s", code, msg)
			}
			// A new kid cannot be checked during the outage: retry later, not "invalid".
			f.clock.Advance(11 * time.Second)
			newKid := authtest.Sign(t, "RS256", k.RSA, "rsa-new", authtest.Claims("u", nil))
			if code, _ := f.verify(t, newKid); code != auth.CodeUnavailable {
				t.Fatalf("new kid during the outage: %q, want auth_unavailable", code)
			}
			// The endpoint recovers with the new key.
			f.srv.serve(200, authtest.JWKS(authtest.JWK(&k.P256.PublicKey, "ec1", "ES256"), authtest.JWK(&k.RSA.PublicKey, "rsa-new", "")))
			f.clock.Advance(11 * time.Second)
			if code, msg := f.verify(t, newKid); code != "" {
				t.Fatalf("new kid after recovery: %s %s", code, msg)
			}
		})
	}
}

func TestJWKSUnreachableAtStartIsUnavailableNotInvalid(t *testing.T) {
	k := authtest.Shared(t)
	f := newJWKSFixture(t, nil)
	f.srv.serve(503, []byte("down"))
	tok := authtest.Sign(t, "RS256", k.RSA, "k", authtest.Claims("u", nil))
	if code, _ := f.verify(t, tok); code != auth.CodeUnavailable {
		t.Fatalf("code %q, want auth_unavailable", code)
	}
	if !hasWarning(f.log, "cannot fetch the signing keys") {
		t.Fatal("the failed fetch was not logged")
	}
}

func TestJWKSFetchTimesOut(t *testing.T) {
	k := authtest.Shared(t)
	srv := newJWKSServer(t, authtest.JWKS(authtest.JWK(&k.RSA.PublicKey, "k", "")))
	srv.block = make(chan struct{})
	t.Cleanup(func() { close(srv.block) })
	jwks, err := auth.NewJWKS(auth.JWKSConfig{URL: srv.URL, Timeout: 200 * time.Millisecond, Logger: logrus.New()})
	if err != nil {
		t.Fatal(err)
	}
	// The endpoint never answers: without the timeout this would wait for the test's end.
	err = jwks.Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Client.Timeout") && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Refresh = %v, want a timeout", err)
	}
}

func TestJWKSDocumentParsing(t *testing.T) {
	k := authtest.Shared(t)
	ec := authtest.JWK(&k.P256.PublicKey, "ec", "ES256")
	badPoint := authtest.JWK(&k.P256.PublicKey, "bad-point", "")
	badPoint["y"] = badPoint["x"]
	wrongAlg := authtest.JWK(&k.P256.PublicKey, "wrong-alg", "RS256")
	restricted := authtest.JWK(&k.RSA.PublicKey, "rs-only", "RS256")
	f := newJWKSFixture(t, authtest.JWKS(
		ec, badPoint, wrongAlg, restricted,
		authtest.JWK(k.Ed.Public(), "ed", ""),
		map[string]any{"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
		map[string]any{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
		map[string]any{"kty": "EC", "kid": "p224", "crv": "P-224", "x": "AA", "y": "AA"},
		map[string]any{"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": authtest.B64(make([]byte, 32))},
	))
	if err := f.jwks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := f.jwks.Len(); n != 3 {
		t.Fatalf("%d usable keys, want 3 (ec, rs-only, ed)", n)
	}
	for _, skipped := range []string{"bad-point", "wrong-alg", "sym", "enc", "p224", "x25519"} {
		if !hasWarning(f.log, skipped) {
			t.Errorf("skipping key %q was not logged", skipped)
		}
	}
	f.clock.Advance(time.Minute)
	for _, tc := range []struct {
		name, token, code string
	}{
		{"ES256", authtest.Sign(t, "ES256", k.P256, "ec", authtest.Claims("u", nil)), ""},
		{"EdDSA", authtest.Sign(t, "EdDSA", k.Ed, "ed", authtest.Claims("u", nil)), ""},
		{"RS256 with an RS256-only key", authtest.Sign(t, "RS256", k.RSA, "rs-only", authtest.Claims("u", nil)), ""},
		{"PS256 with an RS256-only key", authtest.Sign(t, "PS256", k.RSA, "rs-only", authtest.Claims("u", nil)), auth.CodeInvalidToken},
		{"symmetric JWK never becomes an HMAC secret", authtest.Raw(t, map[string]any{"alg": "HS256", "kid": "sym"}, authtest.Claims("u", nil), authtest.HMAC([]byte("secret"))), auth.CodeInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, msg := f.verify(t, tc.token); code != tc.code {
				t.Fatalf("code %q (%s), want %q", code, msg, tc.code)
			}
		})
	}
}

func TestJWKSURLMustBeHTTP(t *testing.T) {
	for _, u := range []string{"", "ftp://x/jwks", "/relative/jwks.json", "https://", "file:///etc/passwd"} {
		if _, err := auth.NewJWKS(auth.JWKSConfig{URL: u}); err == nil {
			t.Errorf("NewJWKS(%q) accepted", u)
		}
	}
}

func hasWarning(h *test.Hook, substr string) bool {
	for _, e := range h.AllEntries() {
		if e.Level <= logrus.WarnLevel && strings.Contains(e.Message+fmt.Sprint(e.Data), substr) {
			return true
		}
	}
	return false
}
