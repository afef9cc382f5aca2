package router

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/auth/authtest"
	"github.com/realtimed/realtimed/internal/siotest"
	"github.com/realtimed/realtimed/internal/wait"
)

const (
	testIssuer   = "https://issuer.test"
	testAudience = "realtimed"
)

var (
	currentSecret  = []byte("current-secret-0123456789abcdef-0123456789")
	previousSecret = []byte("previous-secret-0123456789abcdef-012345678")
)

// fullVerifier accepts every kind of key at once: two HMAC secrets, PEM keys (RSA with a kid,
// P-256, P-384, Ed25519 without) and a JWKS (another RSA key and a P-256 key), with iss/aud.
func fullVerifier(t *testing.T) *auth.Verifier {
	t.Helper()
	k := authtest.Shared(t)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(authtest.JWKS(authtest.JWK(&k.Other.PublicKey, "jwks-rsa", "RS256")))
	}))
	t.Cleanup(jwksSrv.Close)
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	jwks, err := auth.NewJWKS(auth.JWKSConfig{URL: jwksSrv.URL, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := jwks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	jv, err := auth.NewJWTVerifier(auth.JWTConfig{
		Secrets: [][]byte{currentSecret, previousSecret},
		Keys: []auth.PublicKey{{ID: "rsa-2024", Key: &k.RSA.PublicKey}, {Key: &k.P256.PublicKey},
			{Key: &k.P384.PublicKey}, {Key: k.Ed.Public()}},
		JWKS:     jwks,
		Issuer:   testIssuer,
		Audience: []string{testAudience},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &auth.Verifier{JWT: jv}
}

// claims are valid claims for user, changed by extra (nil values delete).
func claims(user string, extra map[string]any) jwt.MapClaims {
	c := authtest.Claims(user, map[string]any{"iss": testIssuer, "aud": testAudience})
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

type hostileCase struct {
	name     string
	opts     siotest.Options
	code     string
	contains string // in the connect_error message
}

func hostileCases(t *testing.T) []hostileCase {
	k := authtest.Shared(t)
	now := time.Now()
	hs := func(c jwt.MapClaims) string { return authtest.Sign(t, "HS256", currentSecret, "", c) }
	valid := hs(claims("victim", nil))
	rsaPEM := authtest.PublicPEM(t, &k.RSA.PublicKey)
	tok := func(s string) siotest.Options { return tokenAuth(s) }
	return []hostileCase{
		{"expired", tok(hs(claims("u", map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}))),
			auth.CodeExpired, "token expired"},
		{"expired by a second", tok(hs(claims("u", map[string]any{"exp": now.Add(-time.Second).Unix()}))), auth.CodeExpired, "expired"},
		{"not yet valid (nbf)", tok(hs(claims("u", map[string]any{"nbf": now.Add(time.Hour).Unix()}))), auth.CodeNotYetValid, "not valid yet"},
		{"issued in the future (iat)", tok(hs(claims("u", map[string]any{"iat": now.Add(time.Hour).Unix()}))), auth.CodeNotYetValid, "not valid yet"},
		{"wrong issuer", tok(hs(claims("u", map[string]any{"iss": "https://evil.test"}))), auth.CodeInvalidToken, "issuer"},
		{"no issuer", tok(hs(claims("u", map[string]any{"iss": nil}))), auth.CodeInvalidToken, "no issuer"},
		{"wrong audience", tok(hs(claims("u", map[string]any{"aud": []string{"billing", "admin"}}))), auth.CodeInvalidToken, "audience"},
		{"no audience", tok(hs(claims("u", map[string]any{"aud": nil}))), auth.CodeInvalidToken, "no audience"},
		{"no expiry", tok(hs(claims("u", map[string]any{"exp": nil}))), auth.CodeInvalidToken, "no expiry"},
		{"exp is a string", tok(hs(claims("u", map[string]any{"exp": "tomorrow"}))), auth.CodeInvalidToken, "invalid"},
		{"no user id", tok(hs(claims("u", map[string]any{"sub": nil}))), auth.CodeInvalidToken, `"sub"`},
		{"user id is an object", tok(hs(claims("u", map[string]any{"sub": map[string]any{"id": 1}}))), auth.CodeInvalidToken, `"sub"`},
		{"wrong HMAC secret", tok(authtest.Sign(t, "HS256", []byte("guessed-secret"), "", claims("u", nil))), auth.CodeInvalidToken, "signature is invalid"},
		{"HS512 with the wrong secret", tok(authtest.Sign(t, "HS512", []byte("guessed-secret"), "", claims("u", nil))), auth.CodeInvalidToken, "signature is invalid"},
		{"wrong RSA key under our kid", tok(authtest.Sign(t, "RS256", k.Other, "rsa-2024", claims("u", nil))), auth.CodeInvalidToken, "signature is invalid"},
		{"wrong RSA key without kid", tok(authtest.Sign(t, "RS256", mustRSA(t), "", claims("u", nil))), auth.CodeInvalidToken, "signature is invalid"},
		{"wrong EC key", tok(authtest.Sign(t, "ES256", mustP256(t), "", claims("u", nil))), auth.CodeInvalidToken, "signature is invalid"},
		{"our RSA key signing under the JWKS kid", tok(authtest.Sign(t, "RS256", k.RSA, "jwks-rsa", claims("u", nil))), auth.CodeInvalidToken, "signature is invalid"},
		{"alg none", tok(authtest.Raw(t, map[string]any{"alg": "none", "typ": "JWT"}, claims("u", nil), nil)), auth.CodeInvalidToken, "algorithm not allowed"},
		{"alg None", tok(authtest.Raw(t, map[string]any{"alg": "None"}, claims("u", nil), nil)), auth.CodeInvalidToken, "algorithm not allowed"},
		{"alg none with a signature", tok(authtest.Raw(t, map[string]any{"alg": "none"}, claims("u", nil), authtest.HMAC(currentSecret))), auth.CodeInvalidToken, "algorithm not allowed"},
		{"no alg", tok(authtest.Raw(t, map[string]any{"typ": "JWT"}, claims("u", nil), authtest.HMAC(currentSecret))), auth.CodeInvalidToken, "algorithm not allowed"},
		{"unknown alg", tok(authtest.Raw(t, map[string]any{"alg": "HS1024"}, claims("u", nil), authtest.HMAC(currentSecret))), auth.CodeInvalidToken, "algorithm not allowed"},
		{"HS/RS confusion: HS256 keyed with our RSA public key PEM", tok(authtest.Raw(t, map[string]any{"alg": "HS256", "kid": "rsa-2024"}, claims("u", nil), authtest.HMAC(rsaPEM))),
			auth.CodeInvalidToken, "signature is invalid"},
		{"unknown kid", tok(authtest.Sign(t, "RS256", mustRSA(t), "made-up", claims("u", nil))), auth.CodeInvalidToken, "unknown signing key"},
		{"kid is not a string", tok(authtest.Raw(t, map[string]any{"alg": "RS256", "kid": 7}, claims("u", nil), nil)), auth.CodeInvalidToken, "kid"},
		{"attacker's key embedded in the header (jwk)", tok(signWithHeader(t, "RS256", mustRSA(t), map[string]any{"jwk": map[string]any{"kty": "RSA", "n": "x", "e": "AQAB"}}, claims("u", nil))),
			auth.CodeInvalidToken, "signature is invalid"},
		{"attacker's key set URL in the header (jku)", tok(signWithHeader(t, "RS256", mustRSA(t), map[string]any{"jku": "https://evil.test/jwks.json", "kid": "evil"}, claims("u", nil))),
			auth.CodeInvalidToken, "unknown signing key"},
		{"critical header", tok(signWithHeader(t, "HS256", currentSecret, map[string]any{"crit": []string{"exp"}}, claims("u", nil))), auth.CodeInvalidToken, "crit"},
		{"truncated signature", tok(valid[:len(valid)-4]), auth.CodeInvalidToken, "signature is invalid"},
		{"truncated mid-character", tok(valid[:len(valid)-6]), auth.CodeInvalidToken, "malformed"},
		{"truncated inside the claims", tok(valid[:strings.LastIndex(valid, ".")-10]), auth.CodeInvalidToken, "invalid token"},
		{"signature stripped", tok(valid[:strings.LastIndex(valid, ".")+1]), auth.CodeInvalidToken, "signature is invalid"},
		{"oversized", tok(hs(claims("u", map[string]any{"pad": strings.Repeat("x", 10000)}))), auth.CodeInvalidToken, "too long"},
		{"claims are not JSON", tok(authtest.Raw(t, map[string]any{"alg": "HS256"}, []byte("not json"), authtest.HMAC(currentSecret))), auth.CodeInvalidToken, "malformed"},
		{"claims are a JSON array", tok(authtest.Raw(t, map[string]any{"alg": "HS256"}, []any{1, 2}, authtest.HMAC(currentSecret))), auth.CodeInvalidToken, "malformed"},
		{"header is not JSON", tok(authtest.B64([]byte("{alg")) + "." + authtest.B64([]byte(`{"sub":"u"}`)) + ".sig"), auth.CodeInvalidToken, "malformed"},
		{"not base64", tok("!!!.???.***"), auth.CodeInvalidToken, "malformed"},
		{"random garbage", tok("garbage"), auth.CodeInvalidToken, "invalid token"},
		{"empty token", tok(""), auth.CodeMissingToken, "no token"},
		{"no auth at all", siotest.Options{}, auth.CodeMissingToken, "no token"},
		{"token is a number", siotest.Options{Auth: map[string]any{"token": 42}}, auth.CodeInvalidToken, "must be a string"},
		{"token is an object", siotest.Options{Auth: map[string]any{"token": map[string]string{"jwt": valid}}}, auth.CodeInvalidToken, "must be a string"},
		{"token in the URL query", siotest.Options{Query: url.Values{"token": {valid}}}, auth.CodeMissingToken, "URL query string is not accepted"},
		{"expired token in the Authorization header", siotest.Options{Header: http.Header{"Authorization": {"Bearer " +
			hs(claims("u", map[string]any{"exp": now.Add(-time.Hour).Unix()}))}}}, auth.CodeExpired, "expired"},
	}
}

func signWithHeader(t *testing.T, alg string, key any, header map[string]any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), c)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHostileTokensAreRefusedWithTheirReason(t *testing.T) {
	f := newFixture(t, fullVerifier(t))
	cases := hostileCases(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := f.connect(t, tc.opts)
			if c.Refused == nil {
				t.Fatalf("connected (sid %s); want connect_error %s", c.SID, tc.code)
			}
			if c.Refused.Code() != tc.code || !strings.Contains(c.Refused.Message, tc.contains) {
				t.Fatalf("connect_error %q data.code %q; want code %q and a message containing %q",
					c.Refused.Message, c.Refused.Code(), tc.code, tc.contains)
			}
			if !strings.HasPrefix(c.Refused.Message, "Authentication failed: ") {
				t.Fatalf("message %q", c.Refused.Message)
			}
		})
	}
	if n := f.io.Of("/").Count(); n != 0 {
		t.Fatalf("%d sockets connected after only hostile tokens", n)
	}
	f.mu.Lock()
	refused := len(f.refused)
	f.mu.Unlock()
	if refused != len(cases) {
		t.Fatalf("AuthFailed hook called %d times for %d refusals", refused, len(cases))
	}
	assertNoTokenLogged(t, f.logs.String(), cases)
}

// assertNoTokenLogged fails when a token, or its signature, appears in the logs.
func assertNoTokenLogged(t *testing.T, logs string, cases []hostileCase) {
	t.Helper()
	if !strings.Contains(logs, "auth: connection refused") {
		t.Fatalf("no refusal was logged; logs:\n%s", logs)
	}
	for _, tc := range cases {
		for _, secret := range secretsOf(tc.opts) {
			if len(secret) >= 12 && strings.Contains(logs, secret) {
				t.Errorf("case %q: the token (or its signature) appears in the logs", tc.name)
			}
		}
	}
}

func secretsOf(o siotest.Options) []string {
	var out []string
	add := func(tok string) {
		out = append(out, tok)
		if i := strings.LastIndex(tok, "."); i >= 0 {
			out = append(out, tok[i+1:])
		}
	}
	if m, ok := o.Auth.(map[string]any); ok {
		if s, ok := m["token"].(string); ok {
			add(s)
		}
	}
	if h := o.Header.Get("Authorization"); h != "" {
		add(strings.TrimPrefix(h, "Bearer "))
	}
	if q := o.Query.Get("token"); q != "" {
		add(q)
	}
	return out
}

func TestEachValidKindOfTokenIsAccepted(t *testing.T) {
	k := authtest.Shared(t)
	f := newFixture(t, fullVerifier(t))
	ns := f.io.Of("/")
	for i, tc := range []struct {
		name      string
		alg, kid  string
		key       any
		viaHeader bool
	}{
		{"HS256 current secret", "HS256", "", currentSecret, false},
		{"HS256 previous secret (rotation)", "HS256", "", previousSecret, false},
		{"HS384", "HS384", "", currentSecret, false},
		{"HS512", "HS512", "", previousSecret, false},
		{"RS256 PEM key by kid", "RS256", "rsa-2024", k.RSA, false},
		{"RS256 PEM key without kid", "RS256", "", k.RSA, false},
		{"RS384", "RS384", "rsa-2024", k.RSA, false},
		{"RS512", "RS512", "rsa-2024", k.RSA, false},
		{"PS256", "PS256", "rsa-2024", k.RSA, false},
		{"ES256", "ES256", "", k.P256, false},
		{"ES384", "ES384", "", k.P384, false},
		{"EdDSA", "EdDSA", "", k.Ed, false},
		{"RS256 JWKS key by kid", "RS256", "jwks-rsa", k.Other, false},
		{"RS256 JWKS key without kid", "RS256", "", k.Other, false},
		{"Authorization: Bearer header", "ES256", "", k.P256, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := fmt.Sprintf("user-%d", i)
			token := authtest.Sign(t, tc.alg, tc.key, tc.kid, claims(user, nil))
			o := tokenAuth(token)
			if tc.viaHeader {
				o = siotest.Options{Header: http.Header{"Authorization": {"Bearer " + token}}}
			}
			c := f.connect(t, o)
			if c.Refused != nil {
				t.Fatalf("refused: %s (%s)", c.Refused.Message, c.Refused.Code())
			}
			wait.Until(t, "the socket in its user room", func() bool { return ns.RoomSize(UserRoom(user)) == 1 })
		})
	}
}

func TestHMACConfusionIsAnAlgorithmErrorWithoutSecrets(t *testing.T) {
	k := authtest.Shared(t)
	jv, err := auth.NewJWTVerifier(auth.JWTConfig{Keys: []auth.PublicKey{{Key: &k.RSA.PublicKey}}})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, &auth.Verifier{JWT: jv})
	pemKey := authtest.PublicPEM(t, &k.RSA.PublicKey)
	for _, secret := range [][]byte{pemKey, []byte(strings.TrimSpace(string(pemKey))), k.RSA.PublicKey.N.Bytes()} {
		token := authtest.Raw(t, map[string]any{"alg": "HS256", "typ": "JWT"}, authtest.Claims("u", nil), authtest.HMAC(secret))
		c := f.connect(t, tokenAuth(token))
		if c.Refused == nil || c.Refused.Code() != auth.CodeInvalidToken || !strings.Contains(c.Refused.Message, "algorithm not allowed") {
			t.Fatalf("HS256 token keyed with the RSA public key: %+v", c.Refused)
		}
	}
	// The same key's real RS256 token goes through.
	if c := f.connect(t, tokenAuth(authtest.Sign(t, "RS256", k.RSA, "", authtest.Claims("u", nil)))); c.Refused != nil {
		t.Fatalf("RS256 refused: %+v", c.Refused)
	}
}

func TestTokenInTheQueryStringOnlyWhenAllowed(t *testing.T) {
	jv, err := auth.NewJWTVerifier(auth.JWTConfig{Secrets: [][]byte{currentSecret}})
	if err != nil {
		t.Fatal(err)
	}
	token := authtest.Sign(t, "HS256", currentSecret, "", authtest.Claims("q", nil))
	query := siotest.Options{Query: url.Values{QueryTokenParam: {token}}}

	off := newFixture(t, &auth.Verifier{JWT: jv})
	if c := off.connect(t, query); c.Refused == nil || c.Refused.Code() != auth.CodeMissingToken {
		t.Fatalf("query token accepted by default: %+v", c.Refused)
	}
	on := newFixture(t, &auth.Verifier{JWT: jv}, AllowQueryToken(true))
	if c := on.connect(t, query); c.Refused != nil {
		t.Fatalf("query token refused when allowed: %+v", c.Refused)
	}
	// auth.token still wins over the query.
	both := tokenAuth("garbage")
	both.Query = query.Query
	if c := on.connect(t, both); c.Refused == nil || c.Refused.Code() != auth.CodeInvalidToken {
		t.Fatalf("auth.token did not take precedence: %+v", c.Refused)
	}
}

func TestConnectionsPerUserAreCapped(t *testing.T) {
	jv, err := auth.NewJWTVerifier(auth.JWTConfig{Secrets: [][]byte{currentSecret}})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, &auth.Verifier{JWT: jv}, MaxConnectionsPerUser(2))
	alice := tokenAuth(authtest.Sign(t, "HS256", currentSecret, "", authtest.Claims("alice", nil)))
	bob := tokenAuth(authtest.Sign(t, "HS256", currentSecret, "", authtest.Claims("bob", nil)))

	first, second := f.connect(t, alice), f.connect(t, alice)
	if first.Refused != nil || second.Refused != nil {
		t.Fatalf("refused below the cap: %+v %+v", first.Refused, second.Refused)
	}
	third := f.connect(t, alice)
	if third.Refused == nil || third.Refused.Code() != CodeTooManyConnections || !strings.Contains(third.Refused.Message, "at most 2") {
		t.Fatalf("third connection: %+v, want too_many_connections", third.Refused)
	}
	if c := f.connect(t, bob); c.Refused != nil {
		t.Fatalf("another user refused: %+v", c.Refused)
	}
	// A closed connection gives its slot back.
	first.Close()
	wait.Until(t, "alice's slot to be released", func() bool { return f.r.users.count("alice") == 1 })
	if c := f.connect(t, alice); c.Refused != nil {
		t.Fatalf("refused after a connection closed: %+v", c.Refused)
	}
	// Parallel attempts never overshoot the cap.
	results := make(chan *siotest.Conn, 10)
	for i := 0; i < 10; i++ {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			c, err := siotest.Connect(ctx, f.url, bob)
			if err != nil {
				t.Error(err)
			}
			results <- c
		}()
	}
	admitted := 0
	for i := 0; i < 10; i++ {
		if c := <-results; c != nil {
			if c.Refused == nil {
				admitted++
			}
			defer c.Close()
		}
	}
	if admitted != 1 {
		t.Fatalf("%d of 10 parallel connections admitted for bob (1 open, cap 2), want 1", admitted)
	}
	if n := f.r.users.count("bob"); n != 2 {
		t.Fatalf("bob holds %d slots, want 2", n)
	}
}

// blockingSessions holds every lookup until released, like a slow database.
type blockingSessions struct {
	started chan struct{}
	release chan struct{}
}

func (b *blockingSessions) Verify(ctx context.Context, token string) (*auth.Identity, error) {
	b.started <- struct{}{}
	<-b.release
	return &auth.Identity{UserID: "slow", Method: auth.MethodSession}, nil
}

func TestSlotIsReleasedWhenTheClientLeavesDuringVerification(t *testing.T) {
	slow := &blockingSessions{started: make(chan struct{}, 1), release: make(chan struct{})}
	f := newFixture(t, &auth.Verifier{Sessions: slow}, MaxConnectionsPerUser(1))
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, err := siotest.Connect(ctx, f.url, tokenAuth("slow-session-token"))
		done <- err
	}()
	<-slow.started
	// The client gives up while the lookup runs; the engine notices the close.
	f.io.Engine().Close()
	wait.Until(t, "the connection to close", func() bool { return f.io.Engine().Count() == 0 })
	close(slow.release)
	<-done
	wait.Until(t, "the slot taken after the close to be released", func() bool { return f.r.users.users() == 0 })
	if n := f.io.Of("/").Count(); n != 0 {
		t.Fatalf("%d sockets in the namespace: a socket joined after its connection closed", n)
	}
}

func TestConnectErrorPayloadShape(t *testing.T) {
	f := newFixture(t, fullVerifier(t))
	c := f.connect(t, tokenAuth("garbage"))
	b, _ := json.Marshal(c.Refused)
	if string(b) != `{"message":"Authentication failed: invalid token","data":{"code":"invalid_token"}}` {
		t.Fatalf("payload %s", b)
	}
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
