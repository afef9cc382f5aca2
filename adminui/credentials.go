package adminui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// SessionTTL is how long a session id the UI keeps (localStorage) lets it reconnect without the
// password.
const SessionTTL = 24 * time.Hour

// bcryptSlots bounds the password comparisons that run at once: a bcrypt comparison costs tens
// of milliseconds of CPU, and logins are rare, so a flood of wrong passwords waits here instead
// of taking the node's CPU.
const bcryptSlots = 2

// bcryptWait is how long a login waits for a comparison slot before it is refused.
const bcryptWait = 5 * time.Second

// ErrBusy refuses a login that found no free comparison slot in time.
var ErrBusy = errors.New("too many login attempts at once; try again")

// credentials check the Admin UI's username and password, as instrument()'s basic
// authentication does, and issue session ids. The password is configured either in clear or
// as a bcrypt hash ($2a$/$2b$/$2y$, what instrument() takes). Session ids are signed with a key
// derived from the configuration, so that every node with the same credentials accepts them
// without sharing state, and changing the password ends every session.
type credentials struct {
	user     [sha256.Size]byte
	password [sha256.Size]byte // SHA-256 of the clear password (unused with a hash)
	hash     []byte            // bcrypt hash, or nil
	key      []byte            // HMAC key of session ids
	slots    chan struct{}
}

// IsBcryptHash reports whether a configured password is a bcrypt hash.
func IsBcryptHash(password string) bool {
	for _, p := range []string{"$2a$", "$2b$", "$2y$"} {
		if strings.HasPrefix(password, p) {
			return true
		}
	}
	return false
}

// CheckPassword reports what is wrong with a configured password, or nil: it must not be
// empty, and a bcrypt hash must be well formed.
func CheckPassword(password string) error {
	if password == "" {
		return errors.New("the Admin UI needs a password")
	}
	if IsBcryptHash(password) {
		if _, err := bcrypt.Cost([]byte(password)); err != nil {
			return fmt.Errorf("not a valid bcrypt hash: %w", err)
		}
	}
	return nil
}

func newCredentials(user, password string) (*credentials, error) {
	if user == "" {
		return nil, errors.New("adminui: the username must not be empty")
	}
	if err := CheckPassword(password); err != nil {
		return nil, fmt.Errorf("adminui: %w", err)
	}
	c := &credentials{user: sha256.Sum256([]byte(user)), slots: make(chan struct{}, bcryptSlots)}
	if IsBcryptHash(password) {
		c.hash = []byte(password)
	} else {
		c.password = sha256.Sum256([]byte(password))
	}
	k := sha256.Sum256([]byte("realtimed admin ui sessions\x00" + user + "\x00" + password))
	c.key = k[:]
	return c, nil
}

// check compares a username and password with the configured ones, in constant time for the
// clear password. It fails with ErrBusy when bcrypt comparisons are all taken for too long.
func (c *credentials) check(ctx context.Context, user, password string) (bool, error) {
	u := sha256.Sum256([]byte(user))
	userOK := subtle.ConstantTimeCompare(u[:], c.user[:]) == 1
	if c.hash == nil {
		p := sha256.Sum256([]byte(password))
		return userOK && subtle.ConstantTimeCompare(p[:], c.password[:]) == 1, nil
	}
	ctx, cancel := context.WithTimeout(ctx, bcryptWait)
	defer cancel()
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ErrBusy
	}
	defer func() { <-c.slots }()
	// Compared even when the username is wrong, so that the time taken does not tell.
	passOK := bcrypt.CompareHashAndPassword(c.hash, []byte(password)) == nil
	return userOK && passOK, nil
}

// Session ids: base64url(expiry in Unix seconds (8 bytes) | random (8 bytes) | HMAC (16 bytes)).
const (
	sessionPayload = 16
	sessionMAC     = 16
)

// newSession returns a session id valid until now+SessionTTL.
func (c *credentials) newSession(now time.Time) string {
	b := make([]byte, sessionPayload, sessionPayload+sessionMAC)
	binary.BigEndian.PutUint64(b, uint64(now.Add(SessionTTL).Unix()))
	_, _ = rand.Read(b[8:sessionPayload])
	return base64.RawURLEncoding.EncodeToString(append(b, c.mac(b)...))
}

// validSession reports whether id is a session id this configuration issued and that has not
// expired.
func (c *credentials) validSession(id string, now time.Time) bool {
	if len(id) > 64 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(b) != sessionPayload+sessionMAC {
		return false
	}
	if !hmac.Equal(b[sessionPayload:], c.mac(b[:sessionPayload])) {
		return false
	}
	return now.Unix() < int64(binary.BigEndian.Uint64(b[:8]))
}

func (c *credentials) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(payload)
	return m.Sum(nil)[:sessionMAC]
}
