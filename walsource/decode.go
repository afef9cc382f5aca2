package walsource

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
)

// Prefix is the prefix of the logical messages realtime.publish writes in wal mode.
const Prefix = "realtime"

// event is one decoded logical message: the envelope realtime.publish wrote, without id, pos
// and ts (the reader assigns them when it appends).
type event struct {
	Event   string          `json:"event"`
	Users   []string        `json:"users"`
	Rooms   []string        `json:"rooms"`
	Payload json.RawMessage `json:"payload"`
}

// txn is one committed transaction's events, in the order the transaction wrote them.
type txn struct {
	commitLSN pglogrepl.LSN // where the commit record begins: with the index, an event's identity
	endLSN    pglogrepl.LSN // where the transaction ends: the slot may be confirmed up to it
	committed time.Time
	pos       int64 // the position of its first event when offered ahead, else 0
	events    []event
}

// assembler groups the pgoutput messages of one replication stream into committed
// transactions. Only transactional messages with Prefix count; everything else is passed over.
type assembler struct {
	open    *txn // the transaction between Begin and Commit, or nil
	skipped uint64
}

// feed handles one pgoutput message; it returns the transaction a Commit completed (nil
// otherwise). A transaction without realtime messages completes with no events: the slot may
// still move past it.
func (a *assembler) feed(data []byte) (*txn, error) {
	msg, err := pglogrepl.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parsing a pgoutput message: %w", err)
	}
	switch m := msg.(type) {
	case *pglogrepl.BeginMessage:
		a.open = &txn{commitLSN: m.FinalLSN, committed: m.CommitTime}
	case *pglogrepl.LogicalDecodingMessage:
		if !m.Transactional || m.Prefix != Prefix {
			return nil, nil
		}
		if a.open == nil {
			return nil, fmt.Errorf("a realtime message at %s outside a transaction", m.LSN)
		}
		e, ok := decodeEvent(m.Content)
		if !ok {
			a.skipped++
			return nil, nil
		}
		a.open.events = append(a.open.events, e)
	case *pglogrepl.CommitMessage:
		if a.open == nil {
			return nil, fmt.Errorf("a commit at %s without its begin", m.CommitLSN)
		}
		t := a.open
		a.open = nil
		t.commitLSN, t.endLSN, t.committed = m.CommitLSN, m.TransactionEndLSN, m.CommitTime
		return t, nil
	}
	return nil, nil
}

// inTransaction reports whether a transaction has begun and not committed yet.
func (a *assembler) inTransaction() bool { return a.open != nil }
