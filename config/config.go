// Package config reads realtimed's configuration from the environment, with command-line flags
// overriding it. Every setting is listed in Vars, which the README's table mirrors.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// Config is realtimed's configuration.
type Config struct {
	DatabaseURL     string
	Addr            string
	JWTSecret       string
	SessionQuery    string
	MembershipQuery string
	CORSOrigins     []string
	LogLevel        logrus.Level
	LogFormat       string
	ReferenceSchema bool
	AutoMigrate     bool
	ApplyTriggers   bool
	TriggersDir     string
	PingInterval    time.Duration
	PingTimeout     time.Duration
	ConnectTimeout  time.Duration
	MaxPayload      int
	SendQueueBytes  int
	ShutdownTimeout time.Duration
	AdminToken      string
	Demo            bool
	ClientEventRate int
	ClientEventMax  int
	TypingRate      int
	TypingTimeout   time.Duration
}

// Var is one setting: its environment variable, flag, default and meaning.
type Var struct {
	Env     string
	Flag    string
	Default string
	Help    string
	set     func(c *Config, v string) error
}

// Vars lists every setting, in the order the README documents them.
var Vars = []Var{
	{"DATABASE_URL", "database-url", "", "PostgreSQL connection URL (postgres://…). Required.",
		func(c *Config, v string) error { return setURL(&c.DatabaseURL, v) }},
	{"REALTIME_ADDR", "addr", ":3001", "HTTP listen address (Socket.IO on /socket.io/, /healthz, /readyz).",
		func(c *Config, v string) error { c.Addr = v; return nonEmpty(v) }},
	{"REALTIME_JWT_SECRET", "jwt-secret", "", "HS256 secret for JWTs. Empty disables JWT authentication.",
		func(c *Config, v string) error { c.JWTSecret = v; return nil }},
	{"REALTIME_SESSION_QUERY", "session-query", "", "SQL that looks up a session token ($1) and returns user id and expiry. Empty: the reference sessions table.",
		func(c *Config, v string) error { c.SessionQuery = v; return nil }},
	{"REALTIME_MEMBERSHIP_QUERY", "membership-query", "", "SQL that answers room:join: chat id ($1) and user id ($2) as text; one row (is member, boolean) when the chat exists, none when it does not. Empty: the reference chats and chat_members tables.",
		func(c *Config, v string) error { c.MembershipQuery = v; return nil }},
	{"REALTIME_CORS_ORIGINS", "cors-origins", "http://localhost:3000,http://localhost:8443,https://localhost:8443",
		"Comma-separated browser origins allowed to connect (besides the server's own), or * for any.",
		func(c *Config, v string) error { return setOrigins(&c.CORSOrigins, v) }},
	{"REALTIME_LOG_LEVEL", "log-level", "info", "Log level: debug (one line per connection and delivered event), info, warn, error.",
		func(c *Config, v string) error { return setLevel(&c.LogLevel, v) }},
	{"REALTIME_LOG_FORMAT", "log-format", "text", "Log format: text or json.",
		func(c *Config, v string) error { return setEnum(&c.LogFormat, v, "text", "json") }},
	{"REALTIME_REFERENCE_SCHEMA", "reference-schema", "false", "Also migrate the seed's reference application schema (demo and tests).",
		func(c *Config, v string) error { return setBool(&c.ReferenceSchema, v) }},
	{"REALTIME_AUTO_MIGRATE", "auto-migrate", "true", "Apply pending migrations when serve starts.",
		func(c *Config, v string) error { return setBool(&c.AutoMigrate, v) }},
	{"REALTIME_APPLY_TRIGGERS", "apply-triggers", "true", "Apply the rule files when serve starts.",
		func(c *Config, v string) error { return setBool(&c.ApplyTriggers, v) }},
	{"REALTIME_TRIGGERS_DIR", "triggers-dir", "", "Folder of rule files (*.sql) to apply instead of the built-in sql/triggers/.",
		func(c *Config, v string) error { c.TriggersDir = v; return nil }},
	{"REALTIME_PING_INTERVAL", "ping-interval", "25s", "Engine.IO heartbeat interval.",
		func(c *Config, v string) error { return setDuration(&c.PingInterval, v) }},
	{"REALTIME_PING_TIMEOUT", "ping-timeout", "20s", "How long a client may take to answer a ping.",
		func(c *Config, v string) error { return setDuration(&c.PingTimeout, v) }},
	{"REALTIME_CONNECT_TIMEOUT", "connect-timeout", "45s", "A connection that has not completed the Socket.IO CONNECT by then is closed.",
		func(c *Config, v string) error { return setDuration(&c.ConnectTimeout, v) }},
	{"REALTIME_MAX_PAYLOAD", "max-payload", "1000000", "Largest message a client may send, in bytes (maxPayload).",
		func(c *Config, v string) error { return setPositive(&c.MaxPayload, v) }},
	{"REALTIME_SEND_QUEUE_BYTES", "send-queue-bytes", "4194304", "Bytes queued for one client before it is disconnected as a slow consumer.",
		func(c *Config, v string) error { return setPositive(&c.SendQueueBytes, v) }},
	{"REALTIME_SHUTDOWN_TIMEOUT", "shutdown-timeout", "10s", "On SIGTERM, how long to wait for clients to be closed cleanly.",
		func(c *Config, v string) error { return setDuration(&c.ShutdownTimeout, v) }},
	{"REALTIME_ADMIN_TOKEN", "admin-token", "", "Bearer token for the admin API (/admin/…). Empty disables the admin API.",
		func(c *Config, v string) error { c.AdminToken = v; return nil }},
	{"REALTIME_DEMO", "demo", "false", "Demo mode for the console at /: lists the demo family with tokens and enables /demo/ endpoints that write to the database. Development only.",
		func(c *Config, v string) error { return setBool(&c.Demo, v) }},
	{"REALTIME_CLIENT_EVENT_RATE", "client-event-rate", "20", "Client events (commands) one socket may send per second, in bursts of up to twice as many; the rest are dropped (acked rate_limited).",
		func(c *Config, v string) error { return setPositive(&c.ClientEventRate, v) }},
	{"REALTIME_CLIENT_EVENT_MAX_BYTES", "client-event-max-bytes", "4096", "Largest client event (its arguments), in bytes; larger ones are dropped (acked payload_too_large).",
		func(c *Config, v string) error { return setPositive(&c.ClientEventMax, v) }},
	{"REALTIME_TYPING_RATE", "typing-rate", "2", "Typing indicators one socket may start per second, in bursts of up to twice as many (acked rate_limited beyond).",
		func(c *Config, v string) error { return setPositive(&c.TypingRate, v) }},
	{"REALTIME_TYPING_TIMEOUT", "typing-timeout", "5s", "A typing indicator that typing:start has not renewed for this long ends with typing.stopped.",
		func(c *Config, v string) error { return setDuration(&c.TypingTimeout, v) }},
}

// Load reads the configuration: defaults, then the environment (getenv), then flags in args.
func Load(getenv func(string) string, args []string) (Config, error) {
	fs := flag.NewFlagSet("realtimed", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	build := Flags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("config: unexpected argument %q", fs.Arg(0))
	}
	return build()
}

// Flags registers a flag for every setting on fs and returns the function that builds the
// Config once fs has been parsed: defaults, overridden by the environment, overridden by flags.
func Flags(fs *flag.FlagSet, getenv func(string) string) func() (Config, error) {
	values := make(map[string]string, len(Vars))
	for _, v := range Vars {
		values[v.Env] = v.Default
		if e := getenv(v.Env); e != "" {
			values[v.Env] = e
		}
		fs.Func(v.Flag, v.Help, func(s string) error { values[v.Env] = s; return nil })
	}
	return func() (Config, error) {
		var c Config
		for _, v := range Vars {
			if err := v.set(&c, values[v.Env]); err != nil {
				return c, fmt.Errorf("config: %s (--%s) = %q: %w", v.Env, v.Flag, values[v.Env], err)
			}
		}
		if c.Demo && c.JWTSecret == "" {
			return c, errors.New("config: REALTIME_DEMO needs REALTIME_JWT_SECRET, to sign the demo members' tokens")
		}
		if c.PingTimeout >= c.PingInterval*4 {
			return c, errors.New("config: REALTIME_PING_TIMEOUT should be shorter than a few REALTIME_PING_INTERVALs")
		}
		return c, nil
	}
}

// RequireDatabase reports a clear error when DATABASE_URL is missing.
func (c Config) RequireDatabase() error {
	if c.DatabaseURL == "" {
		return errors.New("config: DATABASE_URL is required (postgres://user@host:5432/db)")
	}
	return nil
}

func nonEmpty(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func setURL(dst *string, v string) error {
	*dst = v
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("must be a postgres:// URL")
	}
	return nil
}

func setOrigins(dst *[]string, v string) error {
	*dst = nil
	for _, o := range strings.Split(v, ",") {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		if o == "" {
			continue
		}
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
				return fmt.Errorf("%q is not an origin like https://app.example.com", o)
			}
		}
		*dst = append(*dst, o)
	}
	return nil
}

func setLevel(dst *logrus.Level, v string) error {
	l, err := logrus.ParseLevel(v)
	if err != nil {
		return errors.New("must be debug, info, warn or error")
	}
	*dst = l
	return nil
}

func setEnum(dst *string, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			*dst = v
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
}

func setBool(dst *bool, v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("must be true or false")
	}
	*dst = b
	return nil
}

func setDuration(dst *time.Duration, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return errors.New("must be a positive duration such as 500ms, 25s or 1m")
	}
	*dst = d
	return nil
}

func setPositive(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return errors.New("must be a positive integer")
	}
	*dst = n
	return nil
}
