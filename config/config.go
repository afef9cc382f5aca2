// Package config reads realtimed's configuration from the environment, with command-line flags
// overriding it. Every setting is listed in Vars, which the README's table mirrors.
package config

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/adminui"
	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/limits"
)

// Config is realtimed's configuration.
type Config struct {
	// DatabaseURL is DATABASE_URL as given; DB is it parsed (nil when neither it nor a PG*
	// variable names a database).
	DatabaseURL string
	DB          *database.Config
	Addr        string
	// InternalAddr, when set, serves the operators' endpoints (metrics, the admin API, the
	// Admin UI) instead of Addr.
	InternalAddr string
	TLSCert      string
	TLSKey       string
	JWTSecret    string
	// JWTPreviousSecrets are HMAC secrets still accepted while being rotated out.
	JWTPreviousSecrets []string
	// JWTPublicKeys are the keys read from REALTIME_JWT_PUBLIC_KEYS (parsed and checked).
	JWTPublicKeys   []auth.PublicKey
	JWKSURL         string
	JWKSRefresh     time.Duration
	JWKSMinInterval time.Duration
	JWKSTimeout     time.Duration
	JWTIssuer       string
	JWTAudience     []string
	JWTLeeway       time.Duration
	JWTUserClaim    string
	SessionQuery    string
	MembershipQuery string
	AllowQueryToken bool
	// HandshakeRate is the handshakes per second one client address may make (0: no limit).
	HandshakeRate    float64
	HandshakeBurst   int
	TrustedProxies   []netip.Prefix
	MaxConnsPerUser  int
	HandshakeTimeout time.Duration
	CORSOrigins      []string
	LogLevel         logrus.Level
	LogFormat        string
	ReferenceSchema  bool
	AutoMigrate      bool
	ApplyTriggers    bool
	TriggersDir      string
	PingInterval     time.Duration
	PingTimeout      time.Duration
	ConnectTimeout   time.Duration
	// PreauthMaxPayload bounds each message before the Socket.IO CONNECT is accepted.
	PreauthMaxPayload int
	// PreauthMaxConns bounds the connections that have not completed the CONNECT (0: no limit).
	PreauthMaxConns int
	ReadTimeout     time.Duration
	MaxPayload      int
	SendQueueBytes  int
	ShutdownTimeout time.Duration
	AdminToken      string
	AdminUI         AdminUI
	Console         bool
	Demo            bool
	ClientEventRate int
	ClientEventMax  int
	TypingRate      int
	TypingTimeout   time.Duration
	MaxEventBytes   int
	RecoveryWindow  time.Duration // 0: connection-state recovery off
	Retention       time.Duration
	// Source is where the event stream comes from: "notify" (outbox rows and NOTIFY) or "wal"
	// (logical messages read from the replication slot WALSlot).
	Source   string
	WALSlot  string
	WALStall time.Duration
	// WALAhead: the wal reader's node delivers decoded events before their append commits
	// (docs/delivery.md, "Delivering ahead"). Not in fleet mode.
	WALAhead bool
	Bus      Bus

	// DBWait is how long commands wait for the database to accept connections (0: one attempt).
	DBWait time.Duration
	// ReplaceTriggers lets serve replace live rules that differ from its rule files.
	ReplaceTriggers bool
}

// Bus configures fleet mode: the stream routed through NATS (bus package). Empty URL: off.
type Bus struct {
	URL, Prefix, Creds, CA, Cert, Key string
}

// AdminUI configures the Socket.IO Admin UI's server side.
type AdminUI struct {
	Enabled  bool
	Username string
	// Password is the password in clear or its bcrypt hash.
	Password string
	ReadOnly bool
	// MaxSockets is how many of its sockets a node shows in detail.
	MaxSockets int
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
	{"DATABASE_URL", "database-url", "", "PostgreSQL connection string: a postgres:// URL or keyword/value (host=… dbname=…); PG* variables fill in what it leaves out; pool_max_conns etc. size the pool. Required unless PG* variables name the database.",
		func(c *Config, v string) error { return setDatabase(c, v) }},
	{"REALTIME_DB_WAIT", "db-wait", "60s", "How long serve, migrate, triggers and demo wait for the database to accept connections at start, retrying with backoff (one log line per attempt). 0: try once.",
		func(c *Config, v string) error { return setDurationOrZero(&c.DBWait, v) }},
	{"REALTIME_ADDR", "addr", ":3001", "HTTP listen address (Socket.IO on /socket.io/, /healthz, /readyz).",
		func(c *Config, v string) error { return setAddr(&c.Addr, v) }},
	{"REALTIME_INTERNAL_ADDR", "internal-addr", "", "Listen address for the operators' endpoints (/metrics, the admin API, the Admin UI), plain HTTP, instead of REALTIME_ADDR. Empty: everything on REALTIME_ADDR.",
		func(c *Config, v string) error { return setOptionalAddr(&c.InternalAddr, v) }},
	{"REALTIME_TLS_CERT", "tls-cert", "", "PEM certificate (chain) file: serve HTTPS/WSS with it. Needs REALTIME_TLS_KEY. Re-read when the file changes.",
		func(c *Config, v string) error { c.TLSCert = v; return nil }},
	{"REALTIME_TLS_KEY", "tls-key", "", "PEM private key file of REALTIME_TLS_CERT.",
		func(c *Config, v string) error { c.TLSKey = v; return nil }},
	{"REALTIME_JWT_SECRET", "jwt-secret", "", "HMAC secret for HS256/HS384/HS512 JWTs (and for realtimed token). Empty: no HMAC tokens.",
		func(c *Config, v string) error { c.JWTSecret = v; return nil }},
	{"REALTIME_JWT_PREVIOUS_SECRETS", "jwt-previous-secrets", "", "Comma-separated HMAC secrets still accepted while they are rotated out.",
		func(c *Config, v string) error { c.JWTPreviousSecrets = splitList(v); return nil }},
	{"REALTIME_JWT_PUBLIC_KEYS", "jwt-public-keys", "", "Comma-separated PEM public key (or certificate) files, each optionally kid=path: enables RS*/PS* (RSA), ES256/384/512 (ECDSA), EdDSA (Ed25519).",
		func(c *Config, v string) error { return setKeys(&c.JWTPublicKeys, v) }},
	{"REALTIME_JWKS_URL", "jwks-url", "", "URL of a JSON Web Key Set (https://…/.well-known/jwks.json) whose keys verify JWTs.",
		func(c *Config, v string) error { return setJWKSURL(&c.JWKSURL, v) }},
	{"REALTIME_JWKS_REFRESH", "jwks-refresh", "1h", "How old the JWKS may get before it is fetched again (in the background).",
		func(c *Config, v string) error { return setDuration(&c.JWKSRefresh, v) }},
	{"REALTIME_JWKS_MIN_INTERVAL", "jwks-min-interval", "10s", "Least time between two JWKS fetches (a token with an unknown kid triggers one).",
		func(c *Config, v string) error { return setDuration(&c.JWKSMinInterval, v) }},
	{"REALTIME_JWKS_TIMEOUT", "jwks-timeout", "3s", "Time limit of one JWKS fetch.",
		func(c *Config, v string) error { return setDuration(&c.JWKSTimeout, v) }},
	{"REALTIME_JWT_ISSUER", "jwt-issuer", "", "When set, a JWT's iss must equal it.",
		func(c *Config, v string) error { c.JWTIssuer = v; return nil }},
	{"REALTIME_JWT_AUDIENCE", "jwt-audience", "", "When set (comma-separated), a JWT's aud must contain one of these.",
		func(c *Config, v string) error { c.JWTAudience = splitList(v); return nil }},
	{"REALTIME_JWT_LEEWAY", "jwt-leeway", "0s", "Clock skew tolerated on a JWT's exp, nbf and iat.",
		func(c *Config, v string) error { return setNonNegDuration(&c.JWTLeeway, v) }},
	{"REALTIME_JWT_USER_CLAIM", "jwt-user-claim", "sub", "JWT claim holding the user id.",
		func(c *Config, v string) error { c.JWTUserClaim = v; return nonEmpty(v) }},
	{"REALTIME_SESSION_QUERY", "session-query", "", "SQL that looks up a session token ($1, text) and returns user id and expiry. Empty: the reference sessions table.",
		func(c *Config, v string) error { c.SessionQuery = v; return nil }},
	{"REALTIME_MEMBERSHIP_QUERY", "membership-query", "", "SQL that answers room:join: chat id ($1) and user id ($2) as text; one row (is member, boolean) when the chat exists, none when it does not. Empty: the reference chats and chat_members tables.",
		func(c *Config, v string) error { c.MembershipQuery = v; return nil }},
	{"REALTIME_ALLOW_QUERY_TOKEN", "allow-query-token", "false", "Also accept the token from the handshake URL (?token=…). Off: URLs end up in access logs.",
		func(c *Config, v string) error { return setBool(&c.AllowQueryToken, v) }},
	{"REALTIME_HANDSHAKE_RATE", "handshake-rate", "20", "New connections per second allowed from one client address (IPv6: per /64); more get HTTP 429. 0: no limit.",
		func(c *Config, v string) error { return setRate(&c.HandshakeRate, v) }},
	{"REALTIME_HANDSHAKE_BURST", "handshake-burst", "60", "New connections one address may open at once before REALTIME_HANDSHAKE_RATE applies.",
		func(c *Config, v string) error { return setPositive(&c.HandshakeBurst, v) }},
	{"REALTIME_TRUSTED_PROXIES", "trusted-proxies", "", "Comma-separated proxy addresses/CIDRs whose X-Forwarded-For names the client address (for the handshake rate).",
		func(c *Config, v string) error { return setPrefixes(&c.TrustedProxies, v) }},
	{"REALTIME_MAX_CONNECTIONS_PER_USER", "max-connections-per-user", "100", "Connections one user may have open at once (per node); more get connect_error too_many_connections. 0: no limit.",
		func(c *Config, v string) error { return setNonNegative(&c.MaxConnsPerUser, v) }},
	{"REALTIME_HANDSHAKE_TIMEOUT", "handshake-timeout", "10s", "Time allowed for the TLS handshake and the headers of each HTTP request.",
		func(c *Config, v string) error { return setDuration(&c.HandshakeTimeout, v) }},
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
		func(c *Config, v string) error { return setRuleFolder(&c.TriggersDir, v) }},
	{"REALTIME_REPLACE_TRIGGERS", "replace-triggers", "false", "Let serve replace live rules that differ from its rule files. Off: serve keeps them, says which differ, and applies nothing (realtimed triggers apply replaces them, saying so).",
		func(c *Config, v string) error { return setBool(&c.ReplaceTriggers, v) }},
	{"REALTIME_PING_INTERVAL", "ping-interval", "25s", "Engine.IO heartbeat interval.",
		func(c *Config, v string) error { return setDuration(&c.PingInterval, v) }},
	{"REALTIME_PING_TIMEOUT", "ping-timeout", "20s", "How long a client may take to answer a ping.",
		func(c *Config, v string) error { return setDuration(&c.PingTimeout, v) }},
	{"REALTIME_CONNECT_TIMEOUT", "connect-timeout", "10s", "A connection that has not completed the Socket.IO CONNECT by then is closed (the official client sends it as soon as it is connected).",
		func(c *Config, v string) error { return setDuration(&c.ConnectTimeout, v) }},
	{"REALTIME_PREAUTH_MAX_PAYLOAD", "preauth-max-payload", "16384", "Largest message a client may send before its Socket.IO CONNECT is accepted (the CONNECT and its auth payload), in bytes; binary attachments are refused until then.",
		func(c *Config, v string) error { return setPositive(&c.PreauthMaxPayload, v) }},
	{"REALTIME_PREAUTH_MAX_CONNECTIONS", "preauth-max-connections", "4096", "Connections of a node that have not completed the Socket.IO CONNECT; past it, new handshakes get HTTP 503 with Retry-After. 0: no limit.",
		func(c *Config, v string) error { return setNonNegative(&c.PreauthMaxConns, v) }},
	{"REALTIME_READ_TIMEOUT", "read-timeout", "10s", "Time a client may take to send one message once it has begun (a websocket message, a polling request body); a stalled one closes the connection.",
		func(c *Config, v string) error { return setDuration(&c.ReadTimeout, v) }},
	{"REALTIME_MAX_PAYLOAD", "max-payload", "1000000", "Largest message a client may send, in bytes (maxPayload).",
		func(c *Config, v string) error { return setPositive(&c.MaxPayload, v) }},
	{"REALTIME_SEND_QUEUE_BYTES", "send-queue-bytes", "4194304", "Bytes queued for one client before it is disconnected as a slow consumer.",
		func(c *Config, v string) error { return setPositive(&c.SendQueueBytes, v) }},
	{"REALTIME_SHUTDOWN_TIMEOUT", "shutdown-timeout", "10s", "On SIGTERM, how long to wait for clients to be closed cleanly.",
		func(c *Config, v string) error { return setDuration(&c.ShutdownTimeout, v) }},
	{"REALTIME_ADMIN_TOKEN", "admin-token", "", "Bearer token for the admin API (/admin/…). Empty disables the admin API.",
		func(c *Config, v string) error { c.AdminToken = v; return nil }},
	{"REALTIME_ADMIN_UI", "admin-ui", "false", "Serve the Socket.IO Admin UI (its /admin namespace, and its files at /admin-ui/). Needs REALTIME_ADMIN_UI_PASSWORD.",
		func(c *Config, v string) error { return setBool(&c.AdminUI.Enabled, v) }},
	{"REALTIME_ADMIN_UI_USERNAME", "admin-ui-username", "admin", "Username of the Admin UI's login.",
		func(c *Config, v string) error { c.AdminUI.Username = v; return nonEmpty(v) }},
	{"REALTIME_ADMIN_UI_PASSWORD", "admin-ui-password", "", "Password of the Admin UI's login, in clear or as a bcrypt hash ($2b$…).",
		func(c *Config, v string) error { c.AdminUI.Password = v; return nil }},
	{"REALTIME_ADMIN_UI_READONLY", "admin-ui-readonly", "false", "Refuse every action of the Admin UI (disconnect, leave).",
		func(c *Config, v string) error { return setBool(&c.AdminUI.ReadOnly, v) }},
	{"REALTIME_ADMIN_UI_SOCKETS", "admin-ui-sockets", "1000", "How many of its sockets each node shows in the Admin UI in detail (counts are always complete).",
		func(c *Config, v string) error { return setPositive(&c.AdminUI.MaxSockets, v) }},
	{"REALTIME_CONSOLE", "console", "true", "Serve the live console at /. Turn it off in production if nobody uses it.",
		func(c *Config, v string) error { return setBool(&c.Console, v) }},
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
	{"REALTIME_MAX_EVENT_BYTES", "max-event-bytes", "1048576", "Largest event payload realtime.publish accepts, in bytes (written into realtime.settings at start); a larger one fails the writer's statement with an SQL error. Keep it at most half of REALTIME_SEND_QUEUE_BYTES.",
		func(c *Config, v string) error { return setPositive(&c.MaxEventBytes, v) }},
	{"REALTIME_RECOVERY_WINDOW", "recovery-window", "2m", "How long a disconnected client (socket.io-client >= 4.6) may come back, to any node, and get the events it missed (socket.recovered). 0 turns connection-state recovery off.",
		func(c *Config, v string) error { return setDurationOrZero(&c.RecoveryWindow, v) }},
	{"REALTIME_RETENTION", "retention", "1h", "How long events stay in the outbox before they are pruned (by one node at a time). At least the recovery window.",
		func(c *Config, v string) error { return setDuration(&c.Retention, v) }},
	{"REALTIME_SOURCE", "source", "notify", "Where the event stream comes from: notify (realtime.publish writes an outbox row and notifies at commit) or wal (one logical message per event, read by one node from the replication slot; needs wal_level=logical and the REPLICATION attribute). Set at start; see docs/delivery.md for switching a running system.",
		func(c *Config, v string) error { return setSource(&c.Source, v) }},
	{"REALTIME_WAL_SLOT", "wal-slot", "realtimed", "The logical replication slot of the wal source (created if missing). An abandoned slot retains WAL: drop it when you stop using the wal source.",
		func(c *Config, v string) error { return setSlotName(&c.WALSlot, v) }},
	{"REALTIME_WAL_STALL", "wal-stall", "30s", "In wal mode, /readyz turns false when WAL waits in the slot and its position has not moved for this long.",
		func(c *Config, v string) error { return setDuration(&c.WALStall, v) }},
	{"REALTIME_WAL_AHEAD", "wal-ahead", "true", "In wal mode without a bus, the node reading the slot delivers each event to its own clients as soon as it is decoded, with the position its append will give it, instead of after the append's commit and NOTIFY (docs/delivery.md, \"Delivering ahead\"). false: every node waits for the append.",
		func(c *Config, v string) error { return setBool(&c.WALAhead, v) }},
	{"REALTIME_BUS", "bus", "", "NATS server URL(s), comma-separated (nats://user:pass@host:4222, tls://… for TLS): fleet mode. One elected node publishes the stream to a subject per room; each node subscribes to the rooms of its own sockets only. Empty: every node reads the whole stream from PostgreSQL.",
		func(c *Config, v string) error { return setBusURL(&c.Bus.URL, v) }},
	{"REALTIME_BUS_PREFIX", "bus-prefix", "realtime", "First token of every NATS subject (<prefix>.room.<room>, <prefix>.head): deployments sharing a NATS server use different prefixes.",
		func(c *Config, v string) error { return setBusPrefix(&c.Bus.Prefix, v) }},
	{"REALTIME_BUS_CREDS", "bus-creds", "", "NATS credentials file (JWT and NKey seed).",
		func(c *Config, v string) error { c.Bus.Creds = v; return nil }},
	{"REALTIME_BUS_CA", "bus-ca", "", "PEM file of the root certificates that verify the NATS server (TLS).",
		func(c *Config, v string) error { c.Bus.CA = v; return nil }},
	{"REALTIME_BUS_CERT", "bus-cert", "", "PEM client certificate for NATS servers that verify clients. Needs REALTIME_BUS_KEY.",
		func(c *Config, v string) error { c.Bus.Cert = v; return nil }},
	{"REALTIME_BUS_KEY", "bus-key", "", "PEM private key of REALTIME_BUS_CERT.",
		func(c *Config, v string) error { c.Bus.Key = v; return nil }},
}

func setSource(dst *string, v string) error {
	switch v {
	case "notify", "wal":
		*dst = v
		return nil
	}
	return errors.New("must be notify or wal")
}

var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

func setSlotName(dst *string, v string) error {
	if !slotName.MatchString(v) {
		return errors.New("a replication slot's name is 1-63 lower-case letters, digits and underscores")
	}
	*dst = v
	return nil
}

// setBusURL accepts comma-separated nats://, tls://, ws:// or wss:// URLs.
func setBusURL(dst *string, v string) error {
	*dst = v
	for _, u := range splitList(v) {
		scheme, rest, ok := strings.Cut(u, "://")
		if !ok || rest == "" || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, scheme) {
			return errors.New("want nats://host:port (or tls://, ws://, wss://), comma-separated")
		}
	}
	return nil
}

// setBusPrefix accepts one subject token: letters, digits, _ and -.
func setBusPrefix(dst *string, v string) error {
	*dst = v
	if v == "" || strings.ContainsFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) {
		return errors.New("want letters, digits, _ and -")
	}
	return nil
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
				return c, fmt.Errorf("config: %s (--%s) = %s: %w", v.Env, v.Flag, shown(values[v.Env]), err)
			}
		}
		if c.Demo && c.JWTSecret == "" {
			return c, errors.New("config: REALTIME_DEMO needs REALTIME_JWT_SECRET, to sign the demo members' tokens")
		}
		if c.PingTimeout >= c.PingInterval*4 {
			return c, errors.New("config: REALTIME_PING_TIMEOUT should be shorter than a few REALTIME_PING_INTERVALs")
		}
		if err := checkTLS(c.TLSCert, c.TLSKey); err != nil {
			return c, err
		}
		if err := checkOperators(c); err != nil {
			return c, err
		}
		if (c.Bus.Cert == "") != (c.Bus.Key == "") {
			return c, errors.New("config: REALTIME_BUS_CERT and REALTIME_BUS_KEY go together")
		}
		if c.Retention < c.RecoveryWindow {
			return c, errors.New("config: REALTIME_RETENTION must be at least REALTIME_RECOVERY_WINDOW (recovery replays the outbox)")
		}
		return c, nil
	}
}

// checkOperators checks the settings of the operators' endpoints together. The Admin UI's
// password is never shown in a message.
func checkOperators(c Config) error {
	if c.InternalAddr != "" && c.InternalAddr == c.Addr {
		return errors.New("config: REALTIME_INTERNAL_ADDR must differ from REALTIME_ADDR")
	}
	if c.Demo && !c.Console {
		return errors.New("config: REALTIME_DEMO needs the console (REALTIME_CONSOLE=true)")
	}
	if !c.AdminUI.Enabled {
		return nil
	}
	if err := adminui.CheckPassword(c.AdminUI.Password); err != nil {
		return fmt.Errorf("config: REALTIME_ADMIN_UI_PASSWORD: %w", err)
	}
	return nil
}

// InvalidError marks an error found in the configuration after loading it (a session query
// that does not fit, say): commands exit with status 2 on it, as on a Load error.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// RequireDatabase reports a clear error when DATABASE_URL is missing.
func (c Config) RequireDatabase() error {
	if c.DB == nil {
		return fmt.Errorf("config: %w", database.ErrNoDatabase)
	}
	return nil
}

var (
	keywordPassword = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)
	urlPassword     = regexp.MustCompile(`(://[^:/@]*:)[^@]*@`)
)

// shown is how a value appears in an error message: quoted, passwords masked (in URLs and in
// keyword/value connection strings).
func shown(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		return strconv.Quote(u.Redacted())
	}
	v = urlPassword.ReplaceAllString(v, "${1}xxxxx@")
	return strconv.Quote(keywordPassword.ReplaceAllString(v, "${1}xxxxx"))
}

// checkTLS loads the certificate pair once, so that a bad file stops the start with one line.
func checkTLS(cert, key string) error {
	switch {
	case cert == "" && key == "":
		return nil
	case cert == "" || key == "":
		return errors.New("config: REALTIME_TLS_CERT and REALTIME_TLS_KEY go together: set both or neither")
	}
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		return fmt.Errorf("config: REALTIME_TLS_CERT/REALTIME_TLS_KEY (%s, %s): %w", cert, key, err)
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func setKeys(dst *[]auth.PublicKey, v string) error {
	keys, err := auth.ParseKeyFiles(v)
	*dst = keys
	return err
}

func setJWKSURL(dst *string, v string) error {
	*dst = v
	if v == "" {
		return nil
	}
	return auth.CheckJWKSURL(v)
}

func setRate(dst *float64, v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return errors.New("must be a number of connections per second (0 for no limit)")
	}
	*dst = f
	return nil
}

func setPrefixes(dst *[]netip.Prefix, v string) error {
	p, err := limits.ParsePrefixes(v)
	*dst = p
	return err
}

func setNonNegative(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return errors.New("must be a whole number (0 for no limit)")
	}
	*dst = n
	return nil
}

func setNonNegDuration(dst *time.Duration, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return errors.New("must be a duration such as 0s, 30s or 1m")
	}
	*dst = d
	return nil
}

func nonEmpty(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func setDatabase(c *Config, v string) error {
	c.DatabaseURL = v
	db, err := database.ParseSetting(v)
	if errors.Is(err, database.ErrNoDatabase) {
		return nil // RequireDatabase says so, for the commands that need one
	}
	c.DB = db
	return err
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

func setDurationOrZero(dst *time.Duration, v string) error {
	if v == "0" {
		*dst = 0
		return nil
	}
	return setDuration(dst, v)
}

func setPositive(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return errors.New("must be a positive integer")
	}
	*dst = n
	return nil
}

// setAddr accepts what net.Listen("tcp", …) accepts: [host]:port, with a port number or
// service name, so that a wrong address stops the start before anything else happens.
func setAddr(dst *string, v string) error {
	*dst = v
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return errors.New("must be a listen address such as :3001, 127.0.0.1:3001 or [::1]:3001")
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		return fmt.Errorf("%q is not a port number", port)
	}
	if host != "" && net.ParseIP(host) == nil && !hostname.MatchString(host) {
		return fmt.Errorf("%q is neither an IP address nor a host name", host)
	}
	return nil
}

// setOptionalAddr is setAddr for an address that may be left empty.
func setOptionalAddr(dst *string, v string) error {
	if v == "" {
		*dst = ""
		return nil
	}
	return setAddr(dst, v)
}

var hostname = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$`)

// setRuleFolder checks that a rule folder holds rule files (*.sql) that can be read.
func setRuleFolder(dst *string, v string) error {
	*dst = v
	if v == "" {
		return nil
	}
	entries, err := os.ReadDir(v)
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		return fmt.Errorf("cannot read the folder: %w", pathErr.Err)
	} else if err != nil {
		return fmt.Errorf("cannot read the folder: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".sql") {
			return nil
		}
	}
	return errors.New("the folder has no rule files (*.sql)")
}
