package router

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultMembershipQuery answers "is user $2 a member of chat $1" in the reference schema. A
// membership query takes the chat id ($1) and the user id ($2) as text and returns one row with
// one boolean (is a member) when the chat exists, and no row when it does not.
//
// The chat id names the room (chat:<id>) that rules publish to, so it must be the id exactly as
// rules write it: a UUID in its canonical lowercase text. Another spelling of the same UUID is
// not found, rather than joining a room that no event reaches and no revocation leaves.
const DefaultMembershipQuery = `SELECT EXISTS (
    SELECT 1 FROM chat_members m WHERE m.chat_id = c.id AND m.user_id::text = $2)
FROM chats c WHERE c.id = $1::text::uuid AND c.id::text = $1`

// Access is the answer of a membership check.
type Access uint8

// Membership answers.
const (
	NoSuchChat Access = iota // the chat does not exist
	NotMember                // the chat exists; the user is not one of its members
	Member                   // the user is a member of the chat
)

func (a Access) String() string {
	switch a {
	case Member:
		return "member"
	case NotMember:
		return "not a member"
	}
	return "no such chat"
}

// ErrBadChatID is returned (wrapped) when the database cannot interpret the chat id (for
// example a chat id that is not a UUID where chats are keyed by UUIDs).
var ErrBadChatID = errors.New("router: the database cannot interpret the chat id")

// Querier runs a query: a *pgxpool.Pool, a *pgx.Conn or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Membership decides who may be in a chat room, in the database. It is the one place that
// answers "is user U a member of chat C", for room:join and for recovered connections.
type Membership struct {
	db    Querier
	query string // the membership query, wrapped to read the stream position in its snapshot
}

// NewMembership returns a checker running query (DefaultMembershipQuery when empty) on db.
func NewMembership(db Querier, query string) *Membership {
	if query == "" {
		query = DefaultMembershipQuery
	}
	query = strings.TrimRight(strings.TrimSpace(query), ";")
	return &Membership{db: db, query: `SELECT (SELECT coalesce(max(pos), 0) FROM realtime.events), q.* FROM (` +
		query + "\n) AS q"}
}

// Check reports whether user is a member of chat, and the position of the event stream that
// the answer is as of: a removal published at or below asOf (realtime.revoke_chat_member) is
// reflected in the answer, one above it is not. Errors: ErrBadChatID (wrapped) when the database
// refuses the chat id as malformed; any other error means the answer is unknown.
func (m *Membership) Check(ctx context.Context, userID, chatID string) (access Access, asOf int64, err error) {
	var member bool
	err = m.db.QueryRow(ctx, m.query, chatID, userID).Scan(&asOf, &member)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return NoSuchChat, 0, nil
	case err != nil:
		var pe *pgconn.PgError
		if errors.As(err, &pe) && len(pe.Code) == 5 && pe.Code[:2] == "22" { // data exception
			return NoSuchChat, 0, fmt.Errorf("%w: %s", ErrBadChatID, pe.Message)
		}
		return NoSuchChat, 0, fmt.Errorf("checking membership of chat %q: %w", chatID, err)
	case member:
		return Member, asOf, nil
	}
	return NotMember, asOf, nil
}
