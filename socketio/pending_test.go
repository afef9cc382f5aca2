package socketio

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/internal/wait"
)

// Until a namespace accepted its CONNECT, a connection holds almost nothing (issue 15, finding
// 1): a binary packet is refused before any attachment is buffered, a message over
// PendingMaxPayload closes the connection (websocket status 1009, polling 413), and after the
// CONNECT the configured maxPayload applies.
func TestPendingConnectionHoldsNothing(t *testing.T) {
	ts := newTestServer(t, Options{})
	t.Run("binary event before CONNECT", func(t *testing.T) {
		transports(t, ts, func(t *testing.T, dial func() rawClient) {
			c := dial()
			c.send(text(`510-["message",` + placeholders(10) + `]`)) // no attachment follows
			c.closed()
			ts.waitLog(t, logrus.InfoLevel, "protocol violation", logrus.Fields{"sid": c.sid(), logrus.ErrorKey: "binary packet"})
		})
	})
	t.Run("binary ack before CONNECT", func(t *testing.T) {
		transports(t, ts, func(t *testing.T, dial func() rawClient) {
			c := dial()
			c.send(text(`61-1[` + ph0 + `]`))
			c.closed()
		})
	})
	big := `2["message","` + strings.Repeat("x", DefaultPendingMaxPayload) + `"]`
	t.Run("large message before CONNECT", func(t *testing.T) {
		ws := ts.dialWebsocket(t)
		ws.send(text(big))
		if err := readUntilClosed(ws.ws); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
			t.Fatalf("websocket: %v, want close 1009", err)
		}
		p := ts.dialPolling(t)
		if status, _ := httpDo(t, http.MethodPost, p.url, "4"+big); status != http.StatusRequestEntityTooLarge {
			t.Fatalf("polling: status %d, want 413", status)
		}
	})
	t.Run("CONNECT with a large auth payload, then large messages", func(t *testing.T) {
		auth := `{"token":"` + strings.Repeat("t", 4000) + `","pid":"p","offset":"o"}`
		transports(t, ts, func(t *testing.T, dial func() rawClient) {
			c := dial()
			connect(t, c, "/", auth)
			c.send(text(big))
			expectPrefix(t, c, `2["message-back","xxx`)
		})
	})
}

// placeholders returns n placeholders, comma-separated.
func placeholders(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"_placeholder":true,"num":` + string(rune('0'+i)) + `}`)
	}
	return b.String()
}

// readUntilClosed reads a websocket until it fails and returns the error.
func readUntilClosed(ws *websocket.Conn) error {
	_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return err
		}
	}
}

// A connection counts as pending until a namespace accepted its CONNECT: a refused CONNECT
// leaves it pending, and the connect timeout (seconds by default) closes it.
func TestPendingUntilConnectAccepted(t *testing.T) {
	if got := (Options{}).withDefaults().ConnectTimeout; got != DefaultConnectTimeout || got > 10*time.Second {
		t.Fatalf("default connect timeout %v", got)
	}
	ts := newTestServer(t, Options{ConnectTimeout: 500 * time.Millisecond})
	ts.io.Of("/private").Use(func(*Socket) error { return &ConnectError{Message: "no"} })
	eng := ts.io.Engine()

	c := ts.dialWebsocket(t)
	wait.Until(t, "one pending connection", func() bool { return eng.Pending() == 1 })
	c.send(text(`0/private,`))
	expectPrefix(t, c, `4/private,{"message":"no"`)
	if eng.Pending() != 1 {
		t.Fatalf("%d pending after a refused CONNECT, want 1", eng.Pending())
	}
	connect(t, c, "/", "")
	wait.Until(t, "no pending connection", func() bool { return eng.Pending() == 0 })

	idle := ts.dialWebsocket(t)
	started := time.Now()
	idle.closed()
	if d := time.Since(started); d > 5*time.Second {
		t.Fatalf("closed after %v, want the 500ms connect timeout", d)
	}
	wait.Until(t, "the timed-out connection's place released", func() bool { return eng.Pending() == 0 })
	echoes(t, c, "unharmed")
}

// A handler panic closes the websocket with status 1011.
func TestHandlerPanicClosesWith1011(t *testing.T) {
	ts := newTestServer(t, Options{})
	c := ts.dialWebsocket(t)
	connect(t, c, "/", "")
	c.send(text(`2["panic"]`))
	err := readUntilClosed(c.ws)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseInternalServerErr {
		t.Fatalf("%v, want close 1011", err)
	}
}
