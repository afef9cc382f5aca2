package procstat

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses must not shift the fields.
	line := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 7 0 1000 1 1\n"
	user, sys, err := parseStatCPU([]byte(line))
	if err != nil || user != 2.5 || sys != 1.3 {
		t.Fatalf("user %v, sys %v, %v; want 2.5 and 1.3", user, sys, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 a b c"} {
		if _, _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
}

func TestParseStatusRSS(t *testing.T) {
	rss, err := parseStatusRSS([]byte("Name:\tx\nVmPeak:\t 9 kB\nVmRSS:\t   12345 kB\nThreads: 3\n"))
	if err != nil || rss != 12345 {
		t.Fatalf("rss %d, %v", rss, err)
	}
	if _, err := parseStatusRSS([]byte("Name:\tzombie\n")); err == nil {
		t.Fatal("missing VmRSS accepted")
	}
}

func TestPIDReadsThisProcess(t *testing.T) {
	src := PID(os.Getpid())
	a, err := src.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var b Sample
	for { // burn CPU until the 10 ms clock moves
		x := 0
		for i := 0; i < 1_000_000; i++ {
			x += i * i
		}
		_ = x
		if b, err = src.Sample(context.Background()); err != nil {
			t.Fatal(err)
		}
		if b.CPUSec > a.CPUSec || time.Now().After(deadline) {
			break
		}
	}
	if b.CPUSec <= a.CPUSec || a.RSSKB <= 0 {
		t.Fatalf("samples %+v then %+v", a, b)
	}
	if _, err := PID(1 << 30).Sample(context.Background()); err == nil {
		t.Fatal("a process that does not exist gave a sample")
	}
}

func TestURLSource(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stats":
			fmt.Fprint(w, `{"rssKB": 51200, "cpuSec": 1.25, "sockets": 3}`)
		case "/partial":
			fmt.Fprint(w, `{"rssKB": 1}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	s, err := URL(srv.URL + "/stats").Sample(context.Background())
	if err != nil || s.RSSKB != 51200 || s.CPUSec != 1.25 {
		t.Fatalf("%+v, %v", s, err)
	}
	for _, path := range []string{"/partial", "/missing"} {
		if _, err := URL(srv.URL + path).Sample(context.Background()); err == nil {
			t.Errorf("%s: accepted", path)
		}
	}
}

type fakeSource []int64

func (f *fakeSource) Name() string { return "fake" }
func (f *fakeSource) Sample(context.Context) (Sample, error) {
	v := (*f)[0]
	if len(*f) > 1 {
		*f = (*f)[1:]
	}
	return Sample{RSSKB: v, At: time.Now()}, nil
}

func TestSettle(t *testing.T) {
	fast := SettleOptions{Min: 5 * time.Millisecond, Max: time.Second, Interval: time.Millisecond, Window: 3}
	src := &fakeSource{100, 200, 300, 1000, 1001, 1002, 5000}
	s, ok, err := Settle(context.Background(), src, fast)
	if err != nil || !ok || s.RSSKB != 1002 {
		t.Fatalf("settled at %+v, %v, %v", s, ok, err)
	}
	growing := &fakeSource{}
	for i := int64(1); i < 10_000; i++ {
		*growing = append(*growing, i*100)
	}
	fast.Max = 20 * time.Millisecond
	if _, ok, err := Settle(context.Background(), growing, fast); err != nil || ok {
		t.Fatalf("a growing RSS settled (%v, %v)", ok, err)
	}
	if !strings.Contains(src.Name(), "fake") {
		t.Fatal("name")
	}
}
