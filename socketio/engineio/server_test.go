package engineio

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestHandshakeOpenPacket(t *testing.T) {
	ts := newTestServer(t, Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond, MaxPayload: 12345})
	res := do(t, http.MethodGet, ts.url("transport=polling"), "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	if ct := res.header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	op := parseOpen(t, res.body)
	if len(op.SID) < 16 || op.PingInterval != 300 || op.PingTimeout != 200 || op.MaxPayload != 12345 {
		t.Errorf("open packet %+v", op)
	}
	if ts.eng.Count() != 1 {
		t.Errorf("Count() = %d, want 1", ts.eng.Count())
	}
}

// The open packet offers the websocket upgrade only to a polling session, and only when
// websocket is allowed and upgrades are not disabled.
func TestUpgradesOfferedOnlyWhereAllowed(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want []string
	}{
		{"both transports", Options{}, []string{"websocket"}},
		{"polling only", Options{Transports: []string{"polling"}}, []string{}},
		{"upgrades disabled", Options{DisableUpgrades: true}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.opts)
			_, op := ts.openPolling(t)
			if !slices.Equal(op.Upgrades, tc.want) {
				t.Errorf("upgrades %q, want %q", op.Upgrades, tc.want)
			}
		})
	}
	t.Run("websocket session", func(t *testing.T) {
		ts := newTestServer(t, Options{})
		_, op := ts.openWebsocket(t)
		if len(op.Upgrades) != 0 {
			t.Errorf("upgrades %q offered over websocket", op.Upgrades)
		}
	})
	t.Run("upgrade refused when disabled", func(t *testing.T) {
		ts := newTestServer(t, Options{DisableUpgrades: true})
		p, _ := ts.openPolling(t)
		if _, res, err := dialWS(t, ts.wsURL("transport=websocket&sid="+p.sid), nil); err == nil || res == nil || res.StatusCode != http.StatusBadRequest {
			t.Fatalf("upgrade with upgrades disabled: err %v", err)
		}
		p.echoes("still polling")
	})
}

// Requests the protocol refuses get Node's status and error code, are logged at debug level,
// and change no session.
func TestRefusedRequests(t *testing.T) {
	ts := newTestServer(t, Options{})
	bystander, _ := ts.openPolling(t)
	pollOnly := newTestServer(t, Options{Transports: []string{"polling"}})
	for _, tc := range []struct {
		name   string
		srv    *testServer
		method string
		query  string
		header http.Header
		status int
		code   int
		why    string
	}{
		{"no EIO", ts, "GET", "transport=polling", nil, 400, 5, "EIO is not 4"},
		{"EIO 3", ts, "GET", "EIO=3&transport=polling", nil, 400, 5, "EIO is not 4"},
		{"no transport", ts, "GET", "EIO=4", nil, 400, 0, "transport not allowed"},
		{"unknown transport", ts, "GET", "EIO=4&transport=carrier-pigeon", nil, 400, 0, "transport not allowed"},
		{"transport not enabled", pollOnly, "GET", "EIO=4&transport=websocket", nil, 400, 0, "transport not allowed"},
		{"POST handshake", ts, "POST", "EIO=4&transport=polling", nil, 400, 2, "handshake is not a GET"},
		{"websocket handshake without upgrade", ts, "GET", "EIO=4&transport=websocket", nil, 400, 3, "websocket handshake is not an upgrade"},
		{"unknown sid GET", ts, "GET", "EIO=4&transport=polling&sid=nope", nil, 400, 1, "unknown sid"},
		{"unknown sid POST", ts, "POST", "EIO=4&transport=polling&sid=nope", nil, 400, 1, "unknown sid"},
		{"unknown sid websocket", ts, "GET", "EIO=4&transport=websocket&sid=nope", nil, 400, 1, "unknown sid"},
		{"PUT", ts, "PUT", "EIO=4&transport=polling&sid=" + bystander.sid, nil, 400, 2, "method not allowed"},
		{"origin not allowed", ts, "GET", "EIO=4&transport=polling", http.Header{"Origin": {"https://evil.example"}}, 403, 4, "origin not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, tc.method, tc.srv.URL+"/engine.io/?"+tc.query, "", tc.header)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", res.status, tc.status, res.body)
			}
			var body struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal([]byte(res.body), &body); err != nil || body.Code != tc.code || body.Message == "" {
				t.Fatalf("body %q, want code %d", res.body, tc.code)
			}
			tc.srv.waitLog(t, logrus.DebugLevel, "request refused", logrus.Fields{"why": tc.why, "code": tc.code})
		})
	}
	bystander.echoes("unharmed")
}
