package router

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/internal/siotest"
	"github.com/realtimed/realtimed/socketio"
)

// syncBuffer is a log sink tests read while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is a Socket.IO server with the router's middleware on an httptest server.
type fixture struct {
	url  string
	io   *socketio.Server
	r    *Router
	logs *syncBuffer

	mu      sync.Mutex
	refused []string
}

func newFixture(t *testing.T, v *auth.Verifier, opts ...Option) *fixture {
	t.Helper()
	f := &fixture{logs: &syncBuffer{}}
	log := logrus.New()
	log.SetOutput(f.logs)
	log.SetLevel(logrus.DebugLevel)
	f.io = socketio.NewServer(socketio.Options{Logger: log})
	f.r = New(f.io.Of("/"), v, log, Hooks{AuthFailed: func(code string) {
		f.mu.Lock()
		f.refused = append(f.refused, code)
		f.mu.Unlock()
	}}, opts...)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", f.io)
	srv := httptest.NewServer(mux)
	f.url = srv.URL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.io.Shutdown(ctx)
		srv.Close()
	})
	return f
}

// connect connects with o and fails the test on transport errors.
func (f *fixture) connect(t *testing.T, o siotest.Options) *siotest.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := siotest.Connect(ctx, f.url, o)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tokenAuth(token string) siotest.Options {
	return siotest.Options{Auth: map[string]any{"token": token}}
}
