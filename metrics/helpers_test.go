package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type stringWriter struct {
	header http.Header
	b      strings.Builder
	status int
}

func (w *stringWriter) Header() http.Header         { return w.header }
func (w *stringWriter) Write(b []byte) (int, error) { return w.b.Write(b) }
func (w *stringWriter) WriteHeader(status int)      { w.status = status }

func mustRequest(t *testing.T) *http.Request {
	t.Helper()
	return httptest.NewRequest(http.MethodGet, "/metrics", nil)
}
