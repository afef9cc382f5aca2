package triggers_test

import (
	"strings"
	"testing"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// chat creates a chat with members (no events are checked here).
func (f *family) chat(members ...string) string {
	f.t.Helper()
	id := f.value(`INSERT INTO chats (family_id, name) VALUES ($1, 'Family') RETURNING id::text`, f.id)
	for _, m := range members {
		f.exec(`INSERT INTO chat_members (chat_id, user_id) VALUES ($1, $2)`, id, m)
	}
	return id
}

func (f *family) message(chat, sender string) string {
	f.t.Helper()
	return f.value(`INSERT INTO messages (chat_id, user_id, body) VALUES ($1, $2, 'hello') RETURNING id::text`, chat, sender)
}

func TestChatRules(t *testing.T) {
	conn := connect(t)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, f *family)
	}{
		{"a new chat has nobody to tell", func(t *testing.T, f *family) {
			f.none(f.changes(func() { f.chat() }))
		}},
		{"chat.updated goes to the members", func(t *testing.T, f *family) {
			chat := f.chat(f.parents[0], f.children[0])
			p := f.one(f.changes(func() { f.exec(`UPDATE chats SET name = 'Renamed' WHERE id = $1`, chat) }),
				"chat.updated", []string{f.parents[0], f.children[0]})
			fields(t, p, map[string]any{"chatId": chat, "familyId": f.id})
			fields(t, entity(t, p, "chat"), map[string]any{"name": "Renamed"})
			f.none(f.changes(func() { f.exec(`UPDATE chats SET updated_at = now() + interval '1 minute' WHERE id = $1`, chat) }))
			f.none(f.changes(func() { f.exec(`UPDATE chats SET name = name WHERE id = $1`, chat) }))
		}},
		{"chat.member_added goes to every member, the new one included", func(t *testing.T, f *family) {
			chat := f.chat(f.parents[0])
			p := f.one(f.changes(func() { f.exec(`INSERT INTO chat_members (chat_id, user_id) VALUES ($1, $2)`, chat, f.children[1]) }),
				"chat.member_added", []string{f.parents[0], f.children[1]})
			fields(t, p, map[string]any{"chatId": chat, "familyId": f.id, "userId": f.children[1]})
			fields(t, entity(t, p, "member"), map[string]any{"chatId": chat, "userId": f.children[1]})
			fields(t, entity(t, p, "chat"), map[string]any{"id": chat, "name": "Family"})
		}},
		{"chat.member_removed goes to the remaining members and the removed one", func(t *testing.T, f *family) {
			chat := f.chat(f.parents[0], f.parents[1], f.children[0])
			p := f.one(f.changes(func() {
				f.exec(`DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2`, chat, f.children[0])
			}), "chat.member_removed", []string{f.parents[0], f.parents[1], f.children[0]})
			fields(t, p, map[string]any{"chatId": chat, "userId": f.children[0], "familyId": f.id})
		}},
		{"moving a membership is a removal and an addition", func(t *testing.T, f *family) {
			chat := f.chat(f.parents[0], f.children[0])
			got := f.changes(func() {
				f.exec(`UPDATE chat_members SET user_id = $3 WHERE chat_id = $1 AND user_id = $2`, chat, f.children[0], f.children[1])
			})
			if len(got) != 2 {
				t.Fatalf("want two events, got %+v", got)
			}
			// The new member is a member already when the removal is announced.
			f.one(got[:1], "chat.member_removed", []string{f.parents[0], f.children[0], f.children[1]})
			f.one(got[1:], "chat.member_added", []string{f.parents[0], f.children[1]})
			f.none(f.changes(func() { f.exec(`UPDATE chat_members SET joined_at = now() WHERE chat_id = $1`, chat) }))
		}},
		{"deleting a chat tells each member they were removed", func(t *testing.T, f *family) {
			chat := f.chat(f.parents[0], f.children[0])
			got := f.changes(func() { f.exec(`DELETE FROM chats WHERE id = $1`, chat) })
			if len(got) != 2 {
				t.Fatalf("want two events, got %+v", got)
			}
			for _, p := range got {
				if p.Event != "chat.member_removed" || len(p.Users) != 1 || p.Payload["userId"] != p.Users[0] ||
					p.Payload["familyId"] != f.id || p.Payload["chat"] != nil {
					t.Errorf("unexpected %+v", p)
				}
			}
		}},
		{"message.new goes to the chat room", func(t *testing.T, f *family) {
			chat := f.chat(f.parents[0], f.children[0])
			var id string
			p := f.one(f.changes(func() { id = f.message(chat, f.children[0]) }), "message.new", nil, "chat:"+chat)
			fields(t, p, map[string]any{"messageId": id, "chatId": chat, "familyId": f.id, "userId": f.children[0]})
			fields(t, entity(t, p, "message"), map[string]any{"id": id, "body": "hello", "chatId": chat, "editedAt": nil})
		}},
		{"message.updated goes to the chat room; a no-op update publishes nothing", func(t *testing.T, f *family) {
			chat := f.chat(f.parents[0])
			id := f.message(chat, f.parents[0])
			p := f.one(f.changes(func() { f.exec(`UPDATE messages SET body = 'edited', edited_at = now() WHERE id = $1`, id) }),
				"message.updated", nil, "chat:"+chat)
			fields(t, entity(t, p, "message"), map[string]any{"body": "edited"})
			f.none(f.changes(func() { f.exec(`UPDATE messages SET body = body WHERE id = $1`, id) }))
		}},
		{"message.deleted goes to the chat room, once", func(t *testing.T, f *family) {
			chat := f.chat(f.parents[0])
			id := f.message(chat, f.parents[0])
			p := f.one(f.changes(func() { f.exec(`UPDATE messages SET deleted_at = now() WHERE id = $1`, id) }),
				"message.deleted", nil, "chat:"+chat)
			fields(t, p, map[string]any{"messageId": id, "chatId": chat})
			f.none(f.changes(func() { f.exec(`UPDATE messages SET body = '' WHERE id = $1`, id) }))
			f.none(f.changes(func() { f.exec(`DELETE FROM messages WHERE id = $1`, id) }))
			other := f.message(chat, f.parents[0])
			f.one(f.changes(func() { f.exec(`DELETE FROM messages WHERE id = $1`, other) }), "message.deleted", nil, "chat:"+chat)
		}},
		{"message.read goes to the chat room; reading again publishes nothing", func(t *testing.T, f *family) {
			chat := f.chat(f.parents[0], f.children[0])
			id := f.message(chat, f.parents[0])
			read := `INSERT INTO message_reads (message_id, user_id) VALUES ($1, $2)
				ON CONFLICT (message_id, user_id) DO UPDATE SET read_at = now()`
			p := f.one(f.changes(func() { f.exec(read, id, f.children[0]) }), "message.read", nil, "chat:"+chat)
			fields(t, p, map[string]any{"messageId": id, "chatId": chat, "familyId": f.id, "userId": f.children[0]})
			if p["readAt"] == nil {
				t.Errorf("no readAt: %v", p)
			}
			fields(t, entity(t, p, "receipt"), map[string]any{"messageId": id, "userId": f.children[0]})
			f.none(f.changes(func() { f.exec(read, id, f.children[0]) }))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newFamily(t, conn)) })
	}
}
