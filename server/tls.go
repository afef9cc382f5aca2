package server

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// certCheckInterval is how often, at most, the certificate files are looked at for changes.
const certCheckInterval = 5 * time.Second

// certFiles serves a certificate pair from files, re-reading them when either changes (a
// renewed certificate is picked up without a restart). A pair that fails to load keeps the
// previous one in use.
type certFiles struct {
	certPath, keyPath string
	log               logrus.FieldLogger
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string // modification times and sizes of the files loaded
	checkedAt time.Time
}

func newCertFiles(certPath, keyPath string, log logrus.FieldLogger) (*certFiles, error) {
	c := &certFiles{certPath: certPath, keyPath: keyPath, log: log, now: time.Now}
	if err := c.load(c.fileStamp()); err != nil {
		return nil, err
	}
	return c, nil
}

// tlsConfig returns the server's TLS configuration: TLS 1.2 or later, HTTP/1.1 (websockets
// need it; Node's https server speaks the same).
func (c *certFiles) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: c.get,
	}
}

func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); now.Sub(c.checkedAt) >= certCheckInterval {
		c.checkedAt = now
		if stamp := c.fileStamp(); stamp != c.stamp {
			if err := c.load(stamp); err != nil {
				c.log.WithError(err).Warn("tls: cannot reload the certificate; keeping the previous one")
			} else {
				c.log.WithField("cert", c.certPath).Info("tls: certificate reloaded")
			}
		}
	}
	return c.cert, nil
}

func (c *certFiles) load(stamp string) error {
	cert, err := tls.LoadX509KeyPair(c.certPath, c.keyPath)
	if err != nil {
		return fmt.Errorf("tls: loading %s and %s: %w", c.certPath, c.keyPath, err)
	}
	c.cert, c.stamp = &cert, stamp
	return nil
}

func (c *certFiles) fileStamp() string {
	stamp := ""
	for _, p := range []string{c.certPath, c.keyPath} {
		if fi, err := os.Stat(p); err == nil {
			stamp += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
		}
	}
	return stamp
}

// httpErrorLog routes net/http's own error lines into logrus: failed TLS handshakes (scanners,
// clients that give up) at debug, anything else at warn.
type httpErrorLog struct{ log logrus.FieldLogger }

func (h httpErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.Contains(msg, "TLS handshake error") {
		h.log.Debug(msg)
	} else {
		h.log.Warn(msg)
	}
	return len(p), nil
}
