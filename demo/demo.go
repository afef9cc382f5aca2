// Package demo seeds the reference schema with a small family, so that a newcomer has users,
// tokens and a chat to watch events with (make run).
package demo

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Member is a demo user.
type Member struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// Family is the seeded demo data.
type Family struct {
	ID      string   `json:"familyId"`
	ChatID  string   `json:"chatId"`
	Members []Member `json:"members"`
}

// Fixed ids, so that tokens and commands in the README stay valid across runs.
const (
	familyID = "00000000-0000-4000-8000-000000000001"
	chatID   = "00000000-0000-4000-8000-0000000000c1"
)

var members = []Member{
	{ID: "00000000-0000-4000-8000-00000000000a", Name: "Alex", Role: "parent"},
	{ID: "00000000-0000-4000-8000-00000000000b", Name: "Sam", Role: "parent"},
	{ID: "00000000-0000-4000-8000-00000000000c", Name: "Robin", Role: "child"},
}

// Seed creates the demo family, its members and a family chat, if they do not exist yet.
func Seed(ctx context.Context, conn *pgx.Conn) (Family, error) {
	f := Family{ID: familyID, ChatID: chatID, Members: members}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return f, fmt.Errorf("demo: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	stmts := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO families (id, name) VALUES ($1, 'The Demo Family') ON CONFLICT DO NOTHING`, []any{familyID}},
		{`INSERT INTO chats (id, family_id, name) VALUES ($1, $2, 'Family chat') ON CONFLICT DO NOTHING`, []any{chatID, familyID}},
	}
	for _, m := range members {
		stmts = append(stmts,
			struct {
				sql  string
				args []any
			}{`INSERT INTO users (id, family_id, name, role) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, []any{m.ID, familyID, m.Name, m.Role}},
			struct {
				sql  string
				args []any
			}{`INSERT INTO chat_members (chat_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, []any{chatID, m.ID}})
	}
	for _, st := range stmts {
		if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
			return f, fmt.Errorf("demo: seeding: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return f, fmt.Errorf("demo: %w", err)
	}
	return f, nil
}
