// Command realtime-nats runs a NATS server (the nats-server module, embedded) for the
// end-to-end tests of fleet mode and for trying REALTIME_BUS without installing NATS:
//
//	realtime-nats -addr 127.0.0.1:0
//
// It prints "listening on nats://host:port" once the server accepts clients, and runs until
// SIGINT or SIGTERM. Not a production server: no configuration beyond the address.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/realtimed/realtimed/internal/natstest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0: a free port)")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "realtime-nats:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("port %q: %w", portText, err)
	}
	if port == 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return err
		}
		port = ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
	}
	srv, err := natstest.Run(host, port)
	if err != nil {
		return err
	}
	fmt.Printf("listening on nats://%s\n", net.JoinHostPort(host, strconv.Itoa(port)))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	srv.Shutdown()
	srv.WaitForShutdown()
	return nil
}
