package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/realtimed/realtimed/internal/servertest"
	"github.com/realtimed/realtimed/internal/wait"
)

// served is a `realtimed serve` process.
type served struct {
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

// Logs returns what the process wrote so far.
func (s *served) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

func (s *served) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.Write(p)
}

// exited reports whether the process has ended.
func (s *served) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// startServe runs `realtimed serve` with env (and PATH only) on a free loopback port; it is
// stopped with SIGTERM when the test ends.
func startServe(t *testing.T, env ...string) *served {
	t.Helper()
	addr := servertest.FreeAddr(t)
	s := &served{url: "http://" + addr, done: make(chan struct{})}
	s.cmd = exec.Command(binary, "serve")
	s.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "REALTIME_ADDR=" + addr}, env...)
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// waitReady waits until the node answers /readyz with 200, and fails if it exits first.
func (s *served) waitReady(t *testing.T) {
	t.Helper()
	wait.Until(t, "the node to be ready", func() bool {
		if s.exited() {
			t.Fatalf("realtimed exited:\n%s", s.Logs())
		}
		res, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

// get returns the body of a GET of path on the node.
func (s *served) get(t *testing.T, path string) string {
	t.Helper()
	res, err := http.Get(s.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeDatabase listens on a loopback port and counts the connections it is offered (closing
// them): a DATABASE_URL that shows whether a command touched the database.
func fakeDatabase(t *testing.T) (url string, connections func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var (
		mu sync.Mutex
		n  int
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			c.Close()
		}
	}()
	return fmt.Sprintf("postgres://u@%s/db?sslmode=disable", ln.Addr()), func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// lastLine returns the last line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
