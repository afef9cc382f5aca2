package listener

// Offer delivers events the node's wal reader decoded, numbered with the positions their
// append will give them, before the append has committed (walsource.Config.Ahead;
// docs/delivery.md, "Delivering ahead"). Positions delivered already are passed over. Events
// that continue the stream (the first follows the last delivered position) are delivered at
// once. Events further ahead (the listener has not yet caught up with the appends before them,
// whose notifications are on their way) wait, within limits, until the stream reaches them, and
// are then delivered without waiting for their own append; those dropped at the limits arrive
// through the stream after their append. envs must be contiguous and follow one another from
// one offer to the next; an offer that does not continue the waiting ones replaces them. Offer
// reports whether every event of envs has been delivered when it returns. Offers are refused
// until the listener has caught up with the outbox after (re)connecting.
func (l *Listener) Offer(envs []*Envelope) bool {
	if len(envs) == 0 {
		return false
	}
	l.deliverMu.Lock()
	defer l.deliverMu.Unlock()
	if !l.caughtUp.Load() { // checked under deliverMu: a lost connection forgets under it too
		return false
	}
	last := l.lastPos.Load()
	for len(envs) > 0 && envs[0].Pos <= last {
		envs = envs[1:]
	}
	if len(envs) == 0 {
		return false
	}
	l.early.add(envs)
	l.deliverEarly()
	return l.lastPos.Load() >= envs[len(envs)-1].Pos
}

// Limits of the events waiting ahead of the listener's position: beyond them the oldest are
// dropped (they arrive through the stream).
const (
	maxEarlyEvents = 50_000
	maxEarlyBytes  = 16 << 20
)

// early holds offered events, contiguous, that wait for the listener's position to reach them.
type early struct {
	envs  []*Envelope
	bytes int
}

// add appends envs, or replaces what waits when envs does not continue it; then drops the
// oldest beyond the limits.
func (e *early) add(envs []*Envelope) {
	if n := len(e.envs); n > 0 && e.envs[n-1].Pos+1 != envs[0].Pos {
		e.reset()
	}
	for _, env := range envs {
		e.envs = append(e.envs, env)
		e.bytes += len(env.Payload)
	}
	for len(e.envs) > 0 && (len(e.envs) > maxEarlyEvents || e.bytes > maxEarlyBytes) {
		e.pop()
	}
}

func (e *early) pop() *Envelope {
	env := e.envs[0]
	e.envs[0] = nil
	e.envs = e.envs[1:]
	e.bytes -= len(env.Payload)
	if len(e.envs) == 0 {
		e.reset()
	}
	return env
}

func (e *early) reset() { e.envs, e.bytes = nil, 0 }

// deliverEarly delivers the waiting events the position has reached and drops those it has
// passed. deliverMu must be held.
func (l *Listener) deliverEarly() {
	for len(l.early.envs) > 0 {
		next := l.early.envs[0]
		last := l.lastPos.Load()
		if next.Pos > last+1 {
			return
		}
		l.early.pop()
		if next.Pos <= last {
			continue
		}
		l.lastPos.Store(next.Pos)
		l.handle(next)
		l.delivered.Add(1)
		l.ahead.Add(1)
	}
}

// forgetEarly marks the listener as not caught up and drops the waiting events (the connection
// was lost: the stream resumes from the outbox, and offers are refused until it has caught up).
func (l *Listener) forgetEarly() {
	l.deliverMu.Lock()
	l.caughtUp.Store(false)
	l.early.reset()
	l.deliverMu.Unlock()
}

// Waiting returns how many offered events wait for the listener's position to reach them.
func (l *Listener) Waiting() int {
	l.deliverMu.Lock()
	defer l.deliverMu.Unlock()
	return len(l.early.envs)
}
