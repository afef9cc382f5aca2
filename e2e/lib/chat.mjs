// Chat helpers for end-to-end tests: chats in the reference schema, acknowledged commands.

/** Creates a chat in a family with the given member ids; returns its id. */
export async function createChat(pool, familyId, memberIds = [], name = "Chat") {
  const { rows } = await pool.query("INSERT INTO chats (family_id, name) VALUES ($1, $2) RETURNING id", [familyId, name]);
  const chatId = rows[0].id;
  for (const userId of memberIds) await addMember(pool, chatId, userId);
  return chatId;
}

export async function addMember(pool, chatId, userId) {
  await pool.query("INSERT INTO chat_members (chat_id, user_id) VALUES ($1, $2)", [chatId, userId]);
}

export async function removeMember(pool, chatId, userId) {
  await pool.query("DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2", [chatId, userId]);
}

/** Emits event with args and resolves with the server's ack, or rejects after ms. */
export function emitWithAck(socket, event, ...args) {
  return socket.timeout(10000).emitWithAck(event, ...args);
}

/** Joins chat:<chatId>; fails unless the server acknowledges it. */
export async function joinChat(socket, chatId) {
  const ack = await emitWithAck(socket, "room:join", { chatId });
  if (!ack?.ok) throw new Error(`room:join ${chatId} refused: ${JSON.stringify(ack)}`);
  return ack;
}

/** Publishes an event to chat:<chatId> through realtime.publish; resolves with its outbox id. */
export async function publishToChat(pool, chatId, event, payload) {
  const { rows } = await pool.query("SELECT realtime.publish($1, '{}', ARRAY['chat:' || $2], $3::jsonb) AS id", [
    event, chatId, JSON.stringify(payload),
  ]);
  return rows[0].id;
}
