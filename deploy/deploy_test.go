// Package deploy_test checks the container files against the code: no container engine runs
// on the machines this project is developed and tested on, so what can be checked without one
// is checked here (the compose file parses and names only real settings, the image builds the
// same command as `make build`, the load balancer is sticky and passes websocket upgrades).
package deploy_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/realtimed/realtimed/config"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type service struct {
	Image       string            `yaml:"image"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Volumes     []string `yaml:"volumes"`
	Ports       []string `yaml:"ports"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Ulimits map[string]struct {
		Soft int `yaml:"soft"`
		Hard int `yaml:"hard"`
	} `yaml:"ulimits"`
}

type compose struct {
	Services map[string]service `yaml:"services"`
}

func loadCompose(t *testing.T) compose {
	t.Helper()
	var c compose
	if err := yaml.Unmarshal([]byte(read(t, "../docker-compose.yml")), &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	return c
}

func knownVars() map[string]bool {
	known := map[string]bool{}
	for _, v := range config.Vars {
		known[v.Env] = true
	}
	return known
}

func TestComposeNamesOnlyRealSettings(t *testing.T) {
	raw := read(t, "../docker-compose.yml")
	known := knownVars()
	for _, name := range regexp.MustCompile(`\b(REALTIME_[A-Z0-9_]+|DATABASE_URL)\b`).FindAllString(raw, -1) {
		if !known[name] {
			t.Errorf("docker-compose.yml names %s, which config.Vars does not define", name)
		}
	}
	for name, svc := range loadCompose(t).Services {
		if svc.Image != "realtimed:local" {
			continue
		}
		for env := range svc.Environment {
			if !known[env] {
				t.Errorf("service %s sets %s, which config.Vars does not define", name, env)
			}
		}
		if svc.Environment["DATABASE_URL"] == "" {
			t.Errorf("service %s has no DATABASE_URL", name)
		}
	}
}

func TestComposeTopology(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"postgres", "migrate", "rules", "realtimed-1", "realtimed-2", "lb"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("service %s is missing", name)
		}
	}
	for _, tc := range []struct {
		service, command, after, condition string
	}{
		{"migrate", "migrate up", "postgres", "service_healthy"},
		{"rules", "triggers apply", "migrate", "service_completed_successfully"},
		{"realtimed-1", "serve", "rules", "service_completed_successfully"},
		{"realtimed-2", "serve", "rules", "service_completed_successfully"},
	} {
		svc := c.Services[tc.service]
		if got := strings.Join(svc.Command, " "); got != tc.command {
			t.Errorf("%s runs %q, want %q", tc.service, got, tc.command)
		}
		if svc.Image != "realtimed:local" || svc.Build == nil {
			t.Errorf("%s does not use the image built from this repository", tc.service)
		}
		if got := svc.DependsOn[tc.after].Condition; got != tc.condition {
			t.Errorf("%s waits for %s with %q, want %q", tc.service, tc.after, got, tc.condition)
		}
	}
	for _, name := range []string{"realtimed-1", "realtimed-2"} {
		env := c.Services[name].Environment
		if env["REALTIME_AUTO_MIGRATE"] != "false" || env["REALTIME_APPLY_TRIGGERS"] != "false" {
			t.Errorf("%s migrates or applies rules itself; the one-shot services do that once", name)
		}
		if d, err := time.ParseDuration(env["REALTIME_SHUTDOWN_TIMEOUT"]); err != nil || d <= 0 || d >= 15*time.Second {
			t.Errorf("%s: REALTIME_SHUTDOWN_TIMEOUT %q must be below the stop_grace_period (15s)", name, env["REALTIME_SHUTDOWN_TIMEOUT"])
		}
	}
	lb := c.Services["lb"]
	if !slices.Contains(lb.Volumes, "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro") {
		t.Errorf("lb does not mount deploy/nginx.conf: %v", lb.Volumes)
	}
	for _, r := range []string{"realtimed-1", "realtimed-2"} {
		if lb.DependsOn[r].Condition != "service_healthy" {
			t.Errorf("lb does not wait for %s to be healthy", r)
		}
	}
}

var fromLine = regexp.MustCompile(`(?m)^FROM\s+(\S+)`)

func TestDockerfile(t *testing.T) {
	df := read(t, "../Dockerfile")
	froms := fromLine.FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, found %d FROM lines", len(froms))
	}
	// The builder's Go is the one go.mod asks for.
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(read(t, "../go.mod"))
	if goVersion == nil || !strings.HasPrefix(froms[0][1], "golang:"+goVersion[1]) {
		t.Errorf("builder image %s does not match go.mod's Go %v", froms[0][1], goVersion)
	}
	// The same command as `make build` (scripts/build.sh), static, with the revision.
	if !strings.Contains(read(t, "../Makefile"), "scripts/build.sh") || !strings.Contains(read(t, "../scripts/build.sh"), "./cmd/realtimed") {
		t.Fatal("make build no longer builds ./cmd/realtimed with scripts/build.sh")
	}
	build := regexp.MustCompile(`(?m)^RUN .*go build .*$`).FindString(df)
	if !strings.Contains(build, "./cmd/realtimed") || !strings.Contains(build, "CGO_ENABLED=0") {
		t.Errorf("the image does not build ./cmd/realtimed statically: %q", build)
	}
	// The context has no .git: the revision comes as a build argument, to the linker.
	if !strings.Contains(build, "-X github.com/realtimed/realtimed/buildinfo.revision=${REVISION}") || !strings.Contains(df, "\nARG REVISION") {
		t.Errorf("the image does not record the revision (ARG REVISION, -X …/buildinfo.revision): %q", build)
	}
	// A small runtime image, not root.
	final := df[strings.LastIndex(df, "\nFROM "):]
	if base := froms[len(froms)-1][1]; !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final image %s is not a static base", base)
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(final)
	if user == nil || user[1] == "root" || strings.HasPrefix(user[1], "0") {
		t.Errorf("the final stage does not run as a non-root user: %v", user)
	}
	for _, want := range []string{`ENTRYPOINT ["/usr/local/bin/realtimed"]`, `"/usr/local/bin/realtimed", "ready"`} {
		if !strings.Contains(final, want) {
			t.Errorf("the final stage lacks %s", want)
		}
	}
	ignore := read(t, "../.dockerignore")
	for _, p := range []string{".pg", "e2e/node_modules", "bin"} {
		if !strings.Contains(ignore, p+"\n") {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}
}

func TestNginxIsStickyAndPassesWebsockets(t *testing.T) {
	conf := read(t, "nginx.conf")
	if strings.Count(conf, "{") != strings.Count(conf, "}") {
		t.Fatal("unbalanced braces")
	}
	upstream := regexp.MustCompile(`(?s)upstream realtimed \{(.*?)\}`).FindStringSubmatch(conf)
	if upstream == nil {
		t.Fatal("no upstream realtimed block")
	}
	if !regexp.MustCompile(`(?m)^\s*(ip_hash|hash \S+( consistent)?|sticky\b.*);`).MatchString(upstream[1]) {
		t.Error("the upstream has no sticky balancing (ip_hash, hash or sticky): polling sessions would break")
	}
	c := loadCompose(t)
	for _, name := range []string{"realtimed-1", "realtimed-2"} {
		port := strings.TrimPrefix(c.Services[name].Environment["REALTIME_ADDR"], ":")
		if !strings.Contains(upstream[1], "server "+name+":"+port) {
			t.Errorf("the upstream does not list %s:%s", name, port)
		}
	}
	for _, want := range []string{
		"proxy_http_version 1.1;",
		"proxy_set_header Upgrade $http_upgrade;",
		"proxy_set_header Connection $connection_upgrade;",
		"map $http_upgrade $connection_upgrade",
		"proxy_set_header Host $http_host;",
		"proxy_pass http://realtimed;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	timeout := regexp.MustCompile(`proxy_read_timeout (\S+);`).FindStringSubmatch(conf)
	if timeout == nil {
		t.Fatal("no proxy_read_timeout")
	}
	d, err := time.ParseDuration(timeout[1])
	if err != nil || d < 45*time.Second {
		t.Errorf("proxy_read_timeout %s is shorter than a ping interval plus timeout (45s by default)", timeout[1])
	}
}

// TestComposeWaitsForARealPostgres: while the postgres image initialises the database, a
// temporary server listens on the Unix socket only; pg_isready must ask over TCP.
func TestComposeWaitsForARealPostgres(t *testing.T) {
	test := loadCompose(t).Services["postgres"].Healthcheck.Test
	joined := strings.Join(test, " ")
	if !strings.Contains(joined, "pg_isready") || !slices.Contains(test, "-h") || test[slices.Index(test, "-h")+1] != "127.0.0.1" {
		t.Fatalf("postgres health check %q: want pg_isready -h 127.0.0.1", joined)
	}
}

// TestComposeRaisesTheOpenFileLimit: a replica needs a file descriptor per client; the
// default 1024 is far below what realtimed doctor expects a node to take (10,000).
func TestComposeRaisesTheOpenFileLimit(t *testing.T) {
	for name, svc := range loadCompose(t).Services {
		if svc.Image != "realtimed:local" {
			continue
		}
		nofile, ok := svc.Ulimits["nofile"]
		if !ok || nofile.Soft < 65536 || nofile.Hard < nofile.Soft {
			t.Errorf("%s: ulimits nofile %+v, want soft at least 65536 and hard at least soft", name, nofile)
		}
	}
}

// TestComposeSaysHowToGetAToken: the compose file and the README show the same commands to
// seed users and sign a token inside a replica, and the image's binary is where they say.
func TestComposeSaysHowToGetAToken(t *testing.T) {
	raw, readme := read(t, "../docker-compose.yml"), read(t, "../README.md")
	for _, cmd := range []string{
		"docker compose exec realtimed-1 /usr/local/bin/realtimed demo",
		"docker compose exec realtimed-1 /usr/local/bin/realtimed token --user <id> --ttl 24h",
		"docker compose exec realtimed-1 /usr/local/bin/realtimed doctor",
	} {
		if !strings.Contains(raw, cmd) || !strings.Contains(readme, cmd) {
			t.Errorf("%q is missing from docker-compose.yml or the README", cmd)
		}
	}
	if !strings.Contains(read(t, "../Dockerfile"), "COPY --from=build /out/realtimed /usr/local/bin/realtimed") {
		t.Error("the image's binary is not /usr/local/bin/realtimed")
	}
	if svc := loadCompose(t).Services["realtimed-1"]; svc.Environment["REALTIME_JWT_SECRET"] == "" {
		t.Error("realtimed-1 has no REALTIME_JWT_SECRET to sign tokens with")
	}
}

// The replicas' operators' endpoints (metrics, admin API, Admin UI) are on their internal
// address, which is published on the host's loopback only and which nginx does not forward.
func TestOperatorsOnTheInternalAddressOnly(t *testing.T) {
	c := loadCompose(t)
	nginx := read(t, "nginx.conf")
	for _, name := range []string{"realtimed-1", "realtimed-2"} {
		svc := c.Services[name]
		internal := svc.Environment["REALTIME_INTERNAL_ADDR"]
		_, port, ok := strings.Cut(internal, ":")
		if !ok || port == "" || internal == svc.Environment["REALTIME_ADDR"] {
			t.Fatalf("%s: REALTIME_INTERNAL_ADDR %q", name, internal)
		}
		if len(svc.Ports) != 1 || !strings.HasPrefix(svc.Ports[0], "127.0.0.1:") || !strings.HasSuffix(svc.Ports[0], ":"+port) {
			t.Errorf("%s publishes %v, want only its internal port %s on 127.0.0.1", name, svc.Ports, port)
		}
		if strings.Contains(nginx, name+":"+port) {
			t.Errorf("nginx forwards %s's internal address", name)
		}
	}
}

// TestComposeRunsTheWALSource: the replicas read events from a logical replication slot, so
// PostgreSQL runs with wal_level=logical (a realtimed with REALTIME_SOURCE=wal refuses to start
// without it) and bounds the WAL an abandoned slot keeps.
func TestComposeRunsTheWALSource(t *testing.T) {
	c := loadCompose(t)
	pg := c.Services["postgres"]
	args := strings.Join(pg.Command, " ")
	if len(pg.Command) == 0 || pg.Command[0] != "postgres" || pg.Entrypoint != nil {
		t.Fatalf("postgres command %q: want the image's entrypoint running postgres with options", args)
	}
	for _, want := range []string{"-c wal_level=logical", "-c max_slot_wal_keep_size="} {
		if !strings.Contains(args, want) {
			t.Errorf("postgres command %q lacks %q", args, want)
		}
	}
	for _, name := range []string{"realtimed-1", "realtimed-2"} {
		if got := c.Services[name].Environment["REALTIME_SOURCE"]; got != "wal" {
			t.Errorf("%s: REALTIME_SOURCE=%q, want wal", name, got)
		}
	}
	// The image's user is a superuser: it has the replication privilege the slot needs.
	if pg.Environment["POSTGRES_USER"] != "realtimed" || !strings.Contains(c.Services["realtimed-1"].Environment["DATABASE_URL"], "//realtimed:") {
		t.Errorf("realtimed connects as the image's superuser (POSTGRES_USER), which may read a replication slot")
	}
}
