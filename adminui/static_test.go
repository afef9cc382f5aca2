package adminui

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/realtimed/realtimed/internal/npmlock"
)

// The vendored files, UIVersion and the version e2e/package-lock.json pins agree
// (scripts/vendor-admin-ui.sh keeps them so; the e2e test compares the bytes with npm's).
func TestVendoredUIMatchesTheLockFile(t *testing.T) {
	if got := npmlock.Pinned(t, "@socket.io/admin-ui"); got != UIVersion {
		t.Fatalf("e2e/package-lock.json pins @socket.io/admin-ui %q, adminui serves %s: run scripts/vendor-admin-ui.sh", got, UIVersion)
	}
	page, err := static.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="((?:js|css|img)/[^"]+|favicon\.png)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) < 4 {
		t.Fatalf("index.html refers to %d local files", len(refs))
	}
	for _, m := range refs {
		if _, err := static.ReadFile("static/" + m[1]); err != nil {
			t.Errorf("index.html loads %s, which is not vendored", m[1])
		}
	}
}

func TestHandler(t *testing.T) {
	h := Handler()
	for _, tc := range []struct {
		path, contains, cache string
		status                int
	}{
		{Path, "<title>Socket.IO Admin UI</title>", "no-cache", 200},
		{Path + "favicon.png", "PNG", "immutable", 200},
		{Path + "js/missing.js", "", "", 404},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.contains) || !strings.Contains(w.Header().Get("Cache-Control"), tc.cache) {
			t.Errorf("GET %s: %d, Cache-Control %q", tc.path, w.Code, w.Header().Get("Cache-Control"))
		}
	}
}
