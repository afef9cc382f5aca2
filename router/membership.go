package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
// not found, rather than joining a room that no event reaches and no revocation leaves. The
// user id is compared the same way, through the (chat_id, user_id) key: a user id that is not
// a UUID in canonical text is no member (the CASE keeps the cast from failing on it), and the
// check reads one index entry however large the chat (comparing user_id::text instead read
// every member of the chat: 1-2 ms per check in a chat of 5,000).
const DefaultMembershipQuery = `SELECT EXISTS (
    SELECT 1 FROM chat_members m WHERE m.chat_id = c.id
    AND m.user_id = CASE WHEN $2 ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN $2::uuid END)
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

// BatchQuerier also sends many queries in one round trip: a *pgxpool.Pool, a *pgxpool.Conn, a
// *pgx.Conn or a transaction.
type BatchQuerier interface {
	Querier
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
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
	return m.checkOn(ctx, m.db, userID, chatID)
}

func (m *Membership) checkOn(ctx context.Context, db Querier, userID, chatID string) (Access, int64, error) {
	var (
		member bool
		asOf   int64
	)
	err := db.QueryRow(ctx, m.query, chatID, userID).Scan(&asOf, &member)
	return answer(err, member, asOf, chatID)
}

// answer turns the outcome of one membership query into Check's results.
func answer(err error, member bool, asOf int64, chatID string) (Access, int64, error) {
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

// MembershipCheck is one question of CheckMany and, once it returned, its answer.
type MembershipCheck struct {
	UserID, ChatID string
	// Access and AsOf are as Check returns them; Err is the check's own error (ErrBadChatID
	// wrapped when the database refused the chat id).
	Access Access
	AsOf   int64
	Err    error
}

// CheckMany answers every check in one round trip on db (a connection the caller holds: no
// other connection is asked for), each as Check would. It returns an error only when the
// database could not answer at all; a chat id the database refuses is that check's Err (the
// others are then asked one by one, since a failed query ends the round trip's transaction).
func (m *Membership) CheckMany(ctx context.Context, db BatchQuerier, checks []MembershipCheck) error {
	if len(checks) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for i := range checks {
		c := &checks[i]
		var member bool
		b.Queue(m.query, c.ChatID, c.UserID).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&c.AsOf, &member)
			c.Access, c.AsOf, c.Err = answer(err, member, c.AsOf, c.ChatID)
			return c.Err
		})
	}
	err := db.SendBatch(ctx, b).Close()
	if err == nil {
		return nil
	}
	if !slices.ContainsFunc(checks, func(c MembershipCheck) bool { return errors.Is(c.Err, ErrBadChatID) }) {
		return fmt.Errorf("checking the membership of %d chats: %w", len(checks), err)
	}
	for i := range checks {
		c := &checks[i]
		if c.Access, c.AsOf, c.Err = m.checkOn(ctx, db, c.UserID, c.ChatID); c.Err != nil && !errors.Is(c.Err, ErrBadChatID) {
			return c.Err
		}
	}
	return nil
}
