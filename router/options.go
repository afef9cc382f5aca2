package router

import "sync"

// Option configures a Router.
type Option func(*options)

type options struct {
	queryToken bool
	maxPerUser int
}

// AllowQueryToken accepts a token from the handshake URL's query string (?token=…) when no
// auth.token or Authorization header is given. Off by default: URLs end up in access logs.
func AllowQueryToken(on bool) Option { return func(o *options) { o.queryToken = on } }

// MaxConnectionsPerUser caps the connections one user may have open at once on this node;
// the next one is refused with CodeTooManyConnections. Zero or less means no cap.
func MaxConnectionsPerUser(n int) Option { return func(o *options) { o.maxPerUser = n } }

// userConns counts each user's open connections. Only users with connections have an entry.
type userConns struct {
	max int // <= 0: unlimited (nothing is counted)

	mu sync.Mutex
	n  map[string]int
}

func newUserConns(max int) *userConns { return &userConns{max: max, n: make(map[string]int)} }

// acquire takes a slot for user, or reports false when the user has max already.
func (u *userConns) acquire(user string) bool {
	if u.max <= 0 {
		return true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n[user] >= u.max {
		return false
	}
	u.n[user]++
	return true
}

// release gives a slot back.
func (u *userConns) release(user string) {
	if u.max <= 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if n := u.n[user]; n > 1 {
		u.n[user] = n - 1
	} else {
		delete(u.n, user)
	}
}

// count returns the slots user holds.
func (u *userConns) count(user string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n[user]
}

// users returns how many users hold slots.
func (u *userConns) users() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.n)
}
