// Package natstest runs a NATS server inside a test process (the nats-server module), on a
// free loopback port (never the development machine's 127.0.0.1:4222), and restarts it on the
// same port for tests of a bus that loses its server.
package natstest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is an embedded NATS server.
type Server struct {
	port int
	tune func(*server.Options)
	srv  *server.Server
}

// Start starts a server on a free port; it stops when the test ends.
func Start(t testing.TB) *Server { return StartWith(t, nil) }

// StartWith starts a server whose options tune sets (users, TLS); it stops when the test ends.
func StartWith(t testing.TB, tune func(*server.Options)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s := &Server{port: port, tune: tune}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Run starts a server on host:port for a process that is not a test (cmd/realtime-nats).
func Run(host string, port int) (*server.Server, error) { return run(host, port, nil) }

func run(host string, port int, tune func(*server.Options)) (*server.Server, error) {
	opts := &server.Options{Host: host, Port: port, NoLog: true, NoSigs: true, MaxPayload: 8 << 20}
	if tune != nil {
		tune(opts)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natstest: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("natstest: the server on %s:%d is not ready", host, port)
	}
	return srv, nil
}

func (s *Server) start() error {
	srv, err := run("127.0.0.1", s.port, s.tune)
	if err != nil {
		return err
	}
	s.srv = srv
	return nil
}

// URL returns the server's nats:// URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Addr returns the server's host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Shutdown stops the server.
func (s *Server) Shutdown() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
}

// Restart stops the server and starts a new one on the same port after down.
func (s *Server) Restart(t testing.TB, down time.Duration) {
	t.Helper()
	s.Shutdown()
	time.Sleep(down)
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal(err)
}
