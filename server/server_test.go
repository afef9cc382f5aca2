package server_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/server"
)

// startNode serves a node on a free port until the test ends; it returns its base URL.
func startNode(t *testing.T) string {
	t.Helper()
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"DATABASE_URL": pgtest.NewDatabase(t), "REALTIME_JWT_SECRET": "s"}[k]
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	srv, err := server.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestHealthAndReadiness(t *testing.T) {
	base := startNode(t)
	if code, body := getJSON(t, base+"/healthz"); code != 200 || body["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, body)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := getJSON(t, base+"/readyz")
		if code == 200 && body["ready"] == true {
			checks := body["checks"].(map[string]any)
			if checks["database"] != true || checks["listener"] != true || checks["serving"] != true {
				t.Fatalf("readyz checks %v", checks)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %d %v", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
