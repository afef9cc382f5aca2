package tcpproxy

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echoServer echoes lines back until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, r *bufio.Reader, msg string, timeout time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return "", err
	}
	return r.ReadString('\n')
}

func TestForwardCutBlackholeRefuse(t *testing.T) {
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c, bufio.NewReader(c)
	}
	c, r := dial()
	if got, err := roundTrip(c, r, "hello", 5*time.Second); err != nil || got != "hello\n" {
		t.Fatalf("forwarded %q, %v", got, err)
	}

	p.Blackhole(true)
	if _, err := roundTrip(c, r, "lost", 300*time.Millisecond); err == nil {
		t.Fatal("a black-holed connection carried data")
	}
	p.Blackhole(false)

	p.Cut()
	if _, err := roundTrip(c, r, "after cut", 5*time.Second); err == nil {
		t.Fatal("a cut connection still works")
	}

	p.Refuse(true)
	c2, r2 := dial()
	if _, err := roundTrip(c2, r2, "refused", 5*time.Second); err == nil {
		t.Fatal("a refused connection carried data")
	}
	p.Refuse(false)
	c3, r3 := dial()
	if got, err := roundTrip(c3, r3, "again", 5*time.Second); err != nil || got != "again\n" {
		t.Fatalf("after refusing: %q, %v", got, err)
	}
}
