package sioclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/bench/sioclient"
	"github.com/realtimed/realtimed/socketio"
	"github.com/realtimed/realtimed/socketio/engineio"
)

// newServer serves a Socket.IO namespace that accepts the token "good", answers "echo" with
// its argument, and pings every 20ms.
func newServer(t *testing.T) (*httptest.Server, *socketio.Namespace) {
	t.Helper()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	io := socketio.NewServer(socketio.Options{Logger: log, Engine: engineio.Options{
		PingInterval: 20 * time.Millisecond, PingTimeout: 200 * time.Millisecond}})
	ns := io.Of("/")
	ns.Use(func(s *socketio.Socket) error {
		var auth struct{ Token string }
		_ = json.Unmarshal(s.Auth(), &auth)
		if auth.Token != "good" {
			return &socketio.ConnectError{Message: "bad token", Data: map[string]string{"code": "invalid_token"}}
		}
		s.Join("everyone")
		return nil
	})
	ns.On("echo", func(s *socketio.Socket, e *socketio.Event) { _ = e.AckRaw(e.Args, nil) })
	srv := httptest.NewServer(io)
	t.Cleanup(srv.Close)
	return srv, ns
}

func TestDialCallRunAndHeartbeats(t *testing.T) {
	srv, ns := newServer(t)
	d, err := sioclient.NewDialer(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, "good")
	if err != nil {
		t.Fatal(err)
	}
	if c.SID() == "" {
		t.Fatal("no socket id")
	}
	ack, err := c.Call(ctx, "echo", map[string]string{"chatId": "c1"})
	if err != nil || string(ack) != `[{"chatId":"c1"}]` {
		t.Fatalf("ack %s, %v", ack, err)
	}

	var got atomic.Int64
	var last atomic.Value
	done := make(chan error, 1)
	go func() {
		done <- c.Run(func(msg []byte) {
			last.Store(string(msg))
			got.Add(1)
		})
	}()
	// Several ping intervals pass: the client must answer them to stay connected.
	time.Sleep(300 * time.Millisecond)
	if n, err := ns.Emit([]string{"everyone"}, "hello", map[string]int{"n": 1}); err != nil || n != 1 {
		t.Fatalf("emit reached %d sockets, %v (the client should still be connected)", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got.Load() != 1 || last.Load() != `["hello",{"n":1}]` {
		t.Fatalf("received %d events, last %v", got.Load(), last.Load())
	}
	_ = c.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}

func TestDialRefused(t *testing.T) {
	srv, _ := newServer(t)
	d, err := sioclient.NewDialer(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Dial(context.Background(), "bad")
	var ce *sioclient.ConnectError
	if !errors.As(err, &ce) || ce.Message != "bad token" || !strings.Contains(string(ce.Data), "invalid_token") {
		t.Fatalf("error %v, want a ConnectError", err)
	}
}

func TestWebsocketURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"http://127.0.0.1:3001", "ws://127.0.0.1:3001/socket.io/?EIO=4&transport=websocket"},
		{"https://h/base/", "wss://h/base/socket.io/?EIO=4&transport=websocket"},
	}
	for _, c := range cases {
		if got, err := sioclient.WebsocketURL(c.in); err != nil || got != c.want {
			t.Errorf("WebsocketURL(%q) = %q, %v", c.in, got, err)
		}
	}
	if _, err := sioclient.WebsocketURL("ftp://x"); err == nil {
		t.Error("ftp accepted")
	}
	if _, err := sioclient.NewDialer("http://x", nil); err != nil {
		t.Error(err)
	}
}
