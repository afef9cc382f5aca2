package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/servertest"
)

// startNode serves a node on a free port until the test ends; it returns its base URL.
func startNode(t *testing.T) string {
	t.Helper()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	_, url := servertest.Start(t, map[string]string{"DATABASE_URL": pgtest.NewDatabase(t), "REALTIME_JWT_SECRET": "s"}, log)
	return url
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
