package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sirupsen/logrus"
)

// The conformance server answers as the public suites expect: a bare Engine.IO echo on
// /engine.io/, and on /socket.io/ the "auth" event after CONNECT, "message-back" and acks.
func TestConformanceHandler(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	srv := httptest.NewServer(Handler(log))
	defer srv.Close()

	res, err := http.Get(srv.URL + "/engine.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.HasPrefix(string(body), `0{"sid":`) || !strings.Contains(string(body), `"pingInterval":300,"pingTimeout":200,"maxPayload":1000000`) {
		t.Fatalf("engine.io open packet %q", body)
	}

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	read := func() string {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	send := func(s string) {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if open := read(); !strings.HasPrefix(open, "0") {
		t.Fatalf("open %q", open)
	}
	send(`40/custom,{"token":"123"}`)
	if reply := read(); !strings.HasPrefix(reply, `40/custom,{"sid":`) {
		t.Fatalf("CONNECT reply %q", reply)
	}
	if auth := read(); auth != `42/custom,["auth",{"token":"123"}]` {
		t.Fatalf("auth event %q", auth)
	}
	send(`42/custom,["message",1,"2"]`)
	if got := read(); got != `42/custom,["message-back",1,"2"]` {
		t.Fatalf("message-back %q", got)
	}
	send(`42/custom,456["message-with-ack",1,"2"]`)
	if got := read(); got != `43/custom,456[1,"2"]` {
		t.Fatalf("ack %q", got)
	}
}
