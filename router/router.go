package router

import (
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/socketio"
)

// Hooks let the caller observe the router (metrics). Nil fields are skipped.
type Hooks struct {
	// Delivered is called once per event with the number of sockets it was queued on.
	Delivered func(env *listener.Envelope, sockets int)
	// AuthFailed is called for every refused connection with the auth error code.
	AuthFailed func(code string)
	// Disconnected is called once per authenticated socket that leaves, with the reason
	// ("transport close", "ping timeout", "slow consumer", "server shutting down", …).
	Disconnected func(reason string)
}

// Router delivers envelopes to sockets and decides who connects.
type Router struct {
	ns       *socketio.Namespace
	verifier *auth.Verifier
	log      *logrus.Logger
	hooks    Hooks
	cmds     Commands
	revs     revocationLog
	opts     options
	users    *userConns
}

// New wires a router into ns: authentication middleware and connection logging.
func New(ns *socketio.Namespace, verifier *auth.Verifier, log *logrus.Logger, hooks Hooks, opts ...Option) *Router {
	r := &Router{ns: ns, verifier: verifier, log: log, hooks: hooks}
	for _, o := range opts {
		o(&r.opts)
	}
	r.users = newUserConns(r.opts.maxPerUser)
	ns.Use(r.authenticate)
	ns.OnConnection(r.onConnection)
	ns.OnDisconnect(r.onDisconnect)
	ns.OnUnknown(r.onUnknown)
	return r
}

// Deliver broadcasts an event to its rooms: users become user:<id> rooms, rooms are used as
// named. The packet is encoded once; the event's position goes last as its offset (a string),
// as Socket.IO's connection-state recovery expects.
func (r *Router) Deliver(env *listener.Envelope) {
	if IsInternal(env) {
		r.internal(env)
		return
	}
	rooms := Recipients(env)
	if len(rooms) == 0 {
		return // an event for nobody (Broadcast would send it to everybody)
	}
	enc := r.Encode(env)
	enc.SetStamp(env.TS) // commit time, for the delivery latency observed at socket write (live events only)
	n := r.ns.Broadcast(rooms, "", enc)
	if r.hooks.Delivered != nil {
		r.hooks.Delivered(env, n)
	}
	if r.log.IsLevelEnabled(logrus.DebugLevel) {
		r.debugDelivered(env, rooms, n)
	}
}

func (r *Router) debugDelivered(env *listener.Envelope, rooms []string, n int) {
	entry := r.log.WithFields(logrus.Fields{"event": env.Event, "pos": env.Pos, "rooms": rooms, "sockets": n})
	if at := env.CommittedAt(); !at.IsZero() {
		entry = entry.WithField("since_commit_ms", float64(time.Since(at).Microseconds())/1000)
	}
	entry.Debug("delivered")
}

// Encode encodes an event as clients receive it: ["event", payload, "<pos>"]. The position
// goes last, as a string: the offset socket.io-client keeps for connection-state recovery.
func (r *Router) Encode(env *listener.Envelope) *socketio.Encoded {
	return r.ns.EncodeEventAt(env.Pos, env.Event, env.Payload)
}

func (r *Router) onConnection(s *socketio.Socket) {
	c := ClientOf(s)
	r.log.WithFields(logrus.Fields{
		"sid": s.ID(), "user": c.UserID, "auth": c.Method, "transport": s.Conn().Transport(),
		"remote": s.Conn().RemoteAddr(),
	}).Debug("connected")
	if !c.ExpiresAt.IsZero() {
		r.expireAt(s, c, c.ExpiresAt)
	}
	// A revocation of the session handled after it was verified and before the socket was in
	// its user room found nothing to close: close it now.
	if c.SessionHash != "" {
		if revoked, known := r.revs.sessionRevokedSince(c.revGen, c.SessionHash); revoked || !known {
			r.closeTransport(s, c, "session revoked while connecting")
		}
	}
}

func (r *Router) onDisconnect(s *socketio.Socket, reason socketio.DisconnectReason) {
	entry := r.log.WithFields(logrus.Fields{"sid": s.ID(), "reason": string(reason)})
	if c := ClientOf(s); c != nil {
		entry = entry.WithField("user", c.UserID)
		c.mu.Lock()
		if c.expiry != nil {
			c.expiry.Stop()
		}
		c.mu.Unlock()
		r.stopAllTyping(s, c)
	}
	entry.Debug("disconnected")
	if r.hooks.Disconnected != nil {
		r.hooks.Disconnected(string(reason))
	}
}

func (r *Router) onUnknown(s *socketio.Socket, e *socketio.Event) {
	r.log.WithFields(logrus.Fields{"sid": s.ID(), "event": e.Name}).Debug("ignored an unknown client event")
	if e.HasAck() {
		reply(e, failAck(ErrUnknownEvent))
	}
}
