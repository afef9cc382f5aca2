package engineio

import (
	"net/http"
	"slices"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/sirupsen/logrus"
)

const allowedOrigin = "http://app.example:3000"

func corsServer(t *testing.T) *testServer {
	return newTestServer(t, Options{CheckOrigin: func(origin string, r *http.Request) bool {
		return origin == allowedOrigin || SameOrigin(origin, r)
	}})
}

// A browser's preflight for a cross-origin polling request from an allowed origin is answered
// with the CORS headers it needs, credentials included.
func TestCORSPreflight(t *testing.T) {
	ts := corsServer(t)
	res := do(t, http.MethodOptions, ts.url("transport=polling"), "", http.Header{
		"Origin":                         {allowedOrigin},
		"Access-Control-Request-Method":  {"POST"},
		"Access-Control-Request-Headers": {"content-type"},
	})
	if res.status != http.StatusNoContent {
		t.Fatalf("status %d", res.status)
	}
	for h, want := range map[string]string{
		"Access-Control-Allow-Origin":      allowedOrigin,
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET, POST, OPTIONS",
		"Access-Control-Allow-Headers":     "content-type",
	} {
		if got := res.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if !slices.Contains(res.header.Values("Vary"), "Origin") {
		t.Errorf("Vary: %q", res.header.Values("Vary"))
	}
}

// Every polling response to an allowed origin carries the origin and credentials headers;
// a disallowed origin gets 403 without them, so the browser refuses to read it.
func TestCORSPolling(t *testing.T) {
	ts := corsServer(t)
	allowed := http.Header{"Origin": {allowedOrigin}}
	res := do(t, http.MethodGet, ts.url("transport=polling"), "", allowed)
	if res.status != http.StatusOK || res.header.Get("Access-Control-Allow-Origin") != allowedOrigin ||
		res.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("handshake: %d %v", res.status, res.header)
	}
	sid := parseOpen(t, res.body).SID
	post := do(t, http.MethodPost, ts.url("transport=polling&sid="+sid), "4hi", allowed)
	if post.status != http.StatusOK || post.header.Get("Access-Control-Allow-Origin") != allowedOrigin {
		t.Fatalf("POST: %d %v", post.status, post.header)
	}

	for _, origin := range []string{"https://evil.example", "null", "http://app.example:3001"} {
		res := do(t, http.MethodGet, ts.url("transport=polling"), "", http.Header{"Origin": {origin}})
		if res.status != http.StatusForbidden || res.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("origin %s: %d %v", origin, res.status, res.header)
		}
		pre := do(t, http.MethodOptions, ts.url("transport=polling"), "", http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"POST"}})
		if pre.status != http.StatusForbidden || pre.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("preflight from %s: %d %v", origin, pre.status, pre.header)
		}
		// A request for an existing session from a foreign page is refused too.
		stolen := do(t, http.MethodPost, ts.url("transport=polling&sid="+sid), "4x", http.Header{"Origin": {origin}})
		if stolen.status != http.StatusForbidden {
			t.Fatalf("POST from %s: %d", origin, stolen.status)
		}
	}
	ts.waitLog(t, logrus.DebugLevel, "request refused", logrus.Fields{"why": "origin not allowed", "status": 403})

	// Same-origin requests and clients that send no Origin (non-browser) are allowed.
	same := do(t, http.MethodGet, ts.url("transport=polling"), "", http.Header{"Origin": {ts.URL}})
	if same.status != http.StatusOK {
		t.Fatalf("same origin: %d", same.status)
	}
}

// The websocket handshake applies the same origin allow-list.
func TestCORSWebsocketOrigin(t *testing.T) {
	ts := corsServer(t)
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{allowedOrigin, true},
		{"", true},
		{"https://evil.example", false},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		ws, res, err := dialWS(t, ts.wsURL("transport=websocket"), h)
		if tc.ok {
			if err != nil {
				t.Fatalf("origin %q refused: %v", tc.origin, err)
			}
			w := &wsSession{t: t, ws: ws}
			w.sid = parseOpen(t, w.readText()).SID
			w.echoes("hi")
			continue
		}
		if err != websocket.ErrBadHandshake || res == nil || res.StatusCode != http.StatusForbidden {
			t.Fatalf("origin %q: err %v, response %v", tc.origin, err, res)
		}
	}
	// An upgrade of an existing polling session from a foreign origin is refused too.
	p, _ := ts.openPolling(t)
	_, res, err := dialWS(t, ts.wsURL("transport=websocket&sid="+p.sid), http.Header{"Origin": {"https://evil.example"}})
	if err == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign upgrade: %v", err)
	}
	p.echoes("unharmed")
}
