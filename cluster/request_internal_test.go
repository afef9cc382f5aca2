package cluster

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

func TestDecodeRequest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		ok      bool
	}{
		{"no arguments", `{"type":"cluster.request","request":"r1","from":"n2","op":"admin.sockets"}`, true},
		{"arguments", `{"type":"cluster.request","request":"r1","from":"n2","op":"admin.devices","args":{"user":"u1"}}`, true},
		{"not JSON", `{"type":`, false},
		{"other type", `{"type":"typing","request":"r1","from":"n2","op":"admin.sockets"}`, false},
		{"no request id", `{"type":"cluster.request","from":"n2","op":"admin.sockets"}`, false},
		{"no sender", `{"type":"cluster.request","request":"r1","op":"admin.sockets"}`, false},
		{"no op", `{"type":"cluster.request","request":"r1","from":"n2"}`, false},
		{"wrong field type", `{"type":"cluster.request","request":1,"from":"n2","op":"admin.sockets"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeRequest([]byte(tc.payload))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadRequest) {
				t.Fatalf("err = %v, want ErrBadRequest", err)
			}
		})
	}
}

// A malformed request or one for an operation nobody serves is logged and dropped; a node's
// own request is not answered.
func TestRequestsThatAreNotAnswered(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c, err := New(Config{Node: "n1", Pool: pool, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	answered := false
	c.Serve("op", func([]byte) (any, error) { answered = true; return nil, nil })
	for _, p := range []string{
		`{"type":"cluster.request","op":"op"}`,
		`{"type":"cluster.request","request":"r","from":"n2","op":"unknown"}`,
		`{"type":"cluster.request","request":"r","from":"n1","op":"op"}`,
	} {
		c.Deliver([]byte(p))
	}
	if answered {
		t.Fatal("a request was answered")
	}
	warnings := 0
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			warnings++
		}
	}
	if warnings != 2 {
		t.Fatalf("%d warnings, want 2 (malformed, unknown op)", warnings)
	}
}
