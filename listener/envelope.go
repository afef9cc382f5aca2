package listener

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrBadEnvelope is returned (wrapped) for a notification that is not a valid envelope.
var ErrBadEnvelope = errors.New("listener: bad envelope")

// Envelope is one event as realtime.on_commit() notifies it (DESIGN.md, "The SQL contract"):
// {"id":42,"pos":17,"event":"task.created","users":[…],"rooms":[…],"payload":{…},"ts":…}.
// An envelope too large for NOTIFY arrives as {"id":42,"pos":17,"ref":true} and is completed
// from the outbox row.
type Envelope struct {
	ID      int64           `json:"id"`      // outbox row id (insert order)
	Pos     int64           `json:"pos"`     // commit-ordered offset
	Event   string          `json:"event"`   // <entity>.<action>
	Users   []string        `json:"users"`   // delivered to user:<id>
	Rooms   []string        `json:"rooms"`   // delivered to these rooms as named
	Payload json.RawMessage `json:"payload"` // sent to clients as the event's argument
	TS      int64           `json:"ts"`      // commit time, microseconds since the Unix epoch
	Ref     bool            `json:"ref"`     // only id and pos: read the rest from the outbox
}

// Batch is a notification of the wal source: one per batch the stream reader appended,
// {"batch":[envelope, …],"last":Q} with the batch's envelopes in position order (Q the last's
// position, at the end so that BatchLast finds it without decoding) when they fit in a
// notification, else {"through":Q}: read the outbox up to position Q.
type Batch struct {
	Batch   []*Envelope `json:"batch,omitempty"`
	Through int64       `json:"through,omitempty"`
	Last    int64       `json:"last,omitempty"`
}

// BatchLast returns the position a batch notification ends with ("last":Q as its final
// member), without decoding the rest: a node that delivered the batch's events already (its
// wal reader delivers ahead) passes it over at that cost. ok is false when the payload does
// not end that way.
func BatchLast(payload string) (last int64, ok bool) {
	const key = `,"last":`
	body, found := strings.CutSuffix(payload, "}")
	if !found {
		return 0, false
	}
	i := strings.LastIndex(body, key)
	if i < 0 {
		return 0, false
	}
	digits := body[i+len(key):]
	if digits == "" || len(digits) > 18 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		last = last*10 + int64(c-'0')
	}
	return last, true
}

// IsBatch reports whether a notification payload is a Batch rather than one Envelope.
func IsBatch(payload string) bool {
	return strings.HasPrefix(payload, `{"batch":`) || strings.HasPrefix(payload, `{"through":`)
}

// DecodeBatch parses and validates a Batch notification.
func DecodeBatch(b []byte) (*Batch, error) {
	var batch Batch
	if err := json.Unmarshal(b, &batch); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEnvelope, err)
	}
	if batch.Through < 0 || (batch.Through == 0 && len(batch.Batch) == 0) {
		return nil, fmt.Errorf("%w: a batch with neither envelopes nor a position", ErrBadEnvelope)
	}
	for _, e := range batch.Batch {
		if e == nil {
			return nil, fmt.Errorf("%w: a null envelope in a batch", ErrBadEnvelope)
		}
		if err := e.validate(); err != nil {
			return nil, err
		}
	}
	return &batch, nil
}

// Decode parses and validates a notification payload.
func Decode(b []byte) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEnvelope, err)
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Validate reports why an envelope (decoded or read from the outbox) is not a valid event.
func (e *Envelope) Validate() error { return e.validate() }

func (e *Envelope) validate() error {
	switch {
	case e.ID <= 0:
		return fmt.Errorf("%w: missing or invalid id", ErrBadEnvelope)
	case e.Pos <= 0:
		return fmt.Errorf("%w: missing or invalid pos (event %d)", ErrBadEnvelope, e.ID)
	case e.Ref:
		return nil
	case e.Event == "":
		return fmt.Errorf("%w: event %d has no name", ErrBadEnvelope, e.ID)
	case len(e.Payload) == 0 || string(e.Payload) == "null":
		return fmt.Errorf("%w: event %d has no payload", ErrBadEnvelope, e.ID)
	case len(e.Users) == 0 && len(e.Rooms) == 0:
		return fmt.Errorf("%w: event %d has no recipients", ErrBadEnvelope, e.ID)
	}
	return nil
}

// CommittedAt returns the commit time recorded by the database, or the zero time if unknown.
func (e *Envelope) CommittedAt() time.Time {
	if e.TS == 0 {
		return time.Time{}
	}
	return time.UnixMicro(e.TS)
}
