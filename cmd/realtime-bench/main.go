// Command realtime-bench is a load generator for servers that speak realtimed's contract
// (realtimed itself, or the Node socket.io peer): Go clients speaking Socket.IO over websocket,
// data created in the server's database, events written through PostgreSQL. It logs progress
// on stderr and prints one JSON object, its result, as the last line of stdout.
//
//	realtime-bench -workload idle     -clients 10000 -pid $(pgrep -n realtimed)
//	realtime-bench -workload fanout   -clients 1000 -events 2000 -payload-bytes 300 -pid …
//	realtime-bench -workload personal -clients 5000 -rate 2000 -duration 30s -pid …
//	realtime-bench -workload reconnect -clients 5000 -concurrency 1000 -pid …
//	realtime-bench report [-label realtimed] [-baseline node] results.jsonl…
//
// Serve realtimed for it with REALTIME_HANDSHAKE_RATE=0 and REALTIME_MAX_CONNECTIONS_PER_USER=0:
// the defaults answer a burst of new connections from one address with HTTP 429 and cap the
// connections of one user (the fanout workload's user room), as they should for real clients.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/bench/procstat"
	"github.com/realtimed/realtimed/bench/report"
	"github.com/realtimed/realtimed/bench/workload"
)

type options struct {
	workload    string
	url         string
	db          string
	secret      string
	pid         int
	statsURL    string
	clients     int
	sourceIPs   string
	concurrency int
	migrate     bool
	keep        bool
	label       string
	logLevel    string

	events       int
	warmup       int
	payloadBytes int
	rate         float64
	room         string
	drain        time.Duration

	duration time.Duration
	writers  int
	missed   int

	settleMin, settleMax time.Duration
	hold                 time.Duration
	cpuProfile           string
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("realtime-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.workload, "workload", "", "idle, fanout, personal or reconnect (required)")
	fs.StringVar(&o.url, "url", "http://127.0.0.1:3001", "base URL of the server under test")
	fs.StringVar(&o.db, "db", getenv("DATABASE_URL"), "PostgreSQL URL of the database the server listens to (default $DATABASE_URL)")
	fs.StringVar(&o.secret, "secret", getenv("REALTIME_JWT_SECRET"), "the server's HS256 JWT secret (default $REALTIME_JWT_SECRET)")
	fs.IntVar(&o.pid, "pid", 0, "server process id: CPU and RSS read from /proc")
	fs.StringVar(&o.statsURL, "stats-url", "", "or a URL answering {rssKB, cpuSec} (the Node peer's /stats)")
	fs.IntVar(&o.clients, "clients", 1000, "clients to connect (personal: users, one client each)")
	fs.StringVar(&o.sourceIPs, "source-ips", "", "comma-separated local addresses to connect from, in turn (e.g. 127.0.0.1,127.0.0.2)")
	fs.IntVar(&o.concurrency, "concurrency", 64, "connections opened at once")
	fs.BoolVar(&o.migrate, "migrate", true, "apply realtimed's migrations (realtime + reference schema) and rules to the database first")
	fs.BoolVar(&o.keep, "keep", false, "keep the created data")
	fs.StringVar(&o.label, "label", "", "name of the server in the result (e.g. realtimed, node), for reports")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error (logs go to stderr)")
	fs.IntVar(&o.events, "events", 1000, "fanout: measured events")
	fs.IntVar(&o.warmup, "warmup", 50, "fanout: events sent and awaited before measuring")
	fs.IntVar(&o.payloadBytes, "payload-bytes", 300, "fanout: payload size in bytes")
	fs.Float64Var(&o.rate, "rate", 0, "events per second (fanout: 0 = back to back; personal: required)")
	fs.StringVar(&o.room, "room", workload.RoomChat, "fanout: chat (clients join chat:<id> with room:join) or user (clients share one user room)")
	fs.DurationVar(&o.drain, "drain", 0, "how long to wait without progress for the last deliveries (default: fanout 30s, personal 10s)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "personal: how long to write")
	fs.IntVar(&o.writers, "writers", 8, "personal: database connections writing tasks")
	fs.IntVar(&o.missed, "missed", 2, "reconnect: events each user misses while disconnected (plus one to the chat)")
	fs.DurationVar(&o.settleMin, "settle-min", 15*time.Second, "idle: wait at least this long before reading RSS")
	fs.DurationVar(&o.settleMax, "settle-max", 90*time.Second, "idle: stop waiting for a stable RSS after this long")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the bench's own CPU profile to this file")
	fs.DurationVar(&o.hold, "hold", 0, "idle: keep the clients connected this long after measuring (to profile the server)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case o.workload != "idle" && o.workload != "fanout" && o.workload != "personal" && o.workload != "reconnect":
		return nil, errors.New("-workload must be idle, fanout, personal or reconnect")
	case o.db == "":
		return nil, errors.New("-db (or DATABASE_URL) is required: the bench creates its users there")
	case o.secret == "":
		return nil, errors.New("-secret (or REALTIME_JWT_SECRET) is required: the bench signs its users' tokens")
	case o.clients < 1:
		return nil, errors.New("-clients must be at least 1")
	case o.pid != 0 && o.statsURL != "":
		return nil, errors.New("give -pid or -stats-url, not both")
	case o.workload == "idle" && o.pid == 0 && o.statsURL == "":
		return nil, errors.New("idle needs -pid or -stats-url to read the server's memory")
	case o.workload == "personal" && o.rate <= 0:
		return nil, errors.New("personal needs -rate > 0")
	}
	return o, nil
}

func (o *options) config(log logrus.FieldLogger) workload.Config {
	c := workload.Config{
		Target:      workload.Target{URL: o.url, Concurrency: o.concurrency},
		DatabaseURL: o.db,
		Secret:      o.secret,
		Settle:      procstat.SettleOptions{Min: o.settleMin, Max: o.settleMax},
		Migrate:     o.migrate,
		Keep:        o.keep,
		Label:       o.label,
		Log:         log,
	}
	if o.sourceIPs != "" {
		c.Target.SourceIPs = strings.Split(o.sourceIPs, ",")
	}
	switch {
	case o.pid != 0:
		c.Server = procstat.PID(o.pid)
	case o.statsURL != "":
		c.Server = procstat.URL(o.statsURL)
	}
	return c
}

func run(ctx context.Context, o *options, log logrus.FieldLogger) (any, error) {
	c := o.config(log)
	switch o.workload {
	case "idle":
		return workload.Idle(ctx, c, workload.IdleOptions{Clients: o.clients, Hold: o.hold})
	case "fanout":
		return workload.Fanout(ctx, c, workload.FanoutOptions{Clients: o.clients, Events: o.events,
			Warmup: o.warmup, PayloadBytes: o.payloadBytes, Rate: o.rate, Room: o.room, Drain: o.drain})
	case "reconnect":
		return workload.Reconnect(ctx, c, workload.ReconnectOptions{Clients: o.clients, Missed: o.missed})
	default:
		return workload.Personal(ctx, c, workload.PersonalOptions{Users: o.clients, Rate: o.rate,
			Duration: o.duration, Writers: o.writers, Drain: o.drain})
	}
}

// raiseFileLimit lifts the soft limit on open files to the hard limit: each client is a socket.
func raiseFileLimit(log logrus.FieldLogger) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			log.WithError(err).Warn("could not raise the open-file limit")
		}
	}
}

func main() { os.Exit(mainWithArgs(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)) }

func mainWithArgs(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "report" {
		return reportMain(args[1:], stdout, stderr)
	}
	o, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "realtime-bench:", err)
		return 2
	}
	log := logrus.New()
	log.SetOutput(stderr)
	if lvl, err := logrus.ParseLevel(o.logLevel); err == nil {
		log.SetLevel(lvl)
	}
	raiseFileLimit(log)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			log.WithError(err).Error("starting the CPU profile")
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, o, log)
	if err != nil {
		log.WithError(err).Error("bench failed")
		return 1
	}
	b, err := json.Marshal(res)
	if err != nil {
		log.WithError(err).Error("encoding the result")
		return 1
	}
	fmt.Fprintln(stdout, string(b))
	return 0
}

// reportMain prints a Markdown table comparing two labelled servers from result files.
func reportMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("realtime-bench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	label := fs.String("label", "realtimed", "the server compared")
	baseline := fs.String("baseline", "node", "the server it is compared with")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "realtime-bench report: give one or more result files (JSON lines)")
		return 2
	}
	var all []report.Result
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(stderr, "realtime-bench report:", err)
			return 1
		}
		rs, err := report.Read(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "realtime-bench report: %s: %v\n", name, err)
			return 1
		}
		all = append(all, rs...)
	}
	if err := report.Markdown(stdout, all, *label, *baseline); err != nil {
		fmt.Fprintln(stderr, "realtime-bench report:", err)
		return 1
	}
	return 0
}
