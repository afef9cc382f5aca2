// An example client: the seed's client code, typed with ../events.d.ts. `npm run check`
// type-checks it (tsc --noEmit); nothing here runs in the tests.
import { io, type Socket } from "socket.io-client";
import type { ClientToServerEvents, CommandAck, EventPayloads, ServerToClientEvents, Task } from "../events";

export type RealtimeSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export function connect(url: string, jwtOrSessionToken: string): RealtimeSocket {
  const socket: RealtimeSocket = io(url, {
    auth: { token: jwtOrSessionToken },
    transports: ["websocket", "polling"],
    reconnection: true,
    reconnectionAttempts: 3,
    reconnectionDelay: 1000,
  });

  socket.on("connect", () => console.log("Connected"));
  socket.on("connect_error", (error) => console.error("Connection error:", error.message));

  // Task events
  socket.on("task.created", (event) => console.log("New task:", event.task.name));
  socket.on("task.assigned", (event) => console.log("Task assigned:", event.task.id, "to", event.task.assignedTo));
  socket.on("task.completed", (event) => console.log("Task completed by:", event.completedBy));
  socket.on("task.deleted", (event) => forget(event.taskId));

  // Karma events
  socket.on("karma.awarded", (event) => console.log("Karma awarded:", event.amount, "balance", event.balance));
  socket.on("karma.deducted", (event) => console.log("Karma deducted:", -event.amount, "balance", event.balance));

  // Reward events
  socket.on("claim.created", (event) => console.log("Claim created:", event.claimId, event.reward.name));
  socket.on("approval_task.created", (event) => console.log("Approval needed:", event.taskId, "for claim", event.claimId));
  socket.on("claim.completed", (event) => console.log("Claim completed:", event.claimId));
  socket.on("claim.approved", (event) => {
    const status: "approved" = event.claim.status;
    console.log("Claim", status, "by", event.decidedBy);
  });

  // Chat list (user room) and chat contents (chat room, after room:join)
  socket.on("chat.member_added", (event) => console.log(event.userId, "joined", event.chat?.name));
  socket.on("message.new", (event) => console.log(event.message.userId, "says", event.message.body));
  socket.on("message.read", (event, offset) => console.log(event.userId, "read", event.messageId, "at", event.readAt, offset));

  // Typing indicators of the others in a joined chat
  socket.on("typing.started", ({ chatId, userId }) => console.log(userId, "is typing in", chatId));
  socket.on("typing.stopped", ({ chatId, userId }) => console.log(userId, "stopped typing in", chatId));

  return socket;
}

/** Tells the chat this user is typing (on every keystroke; the server keeps it on). */
export function typing(socket: RealtimeSocket, chatId: string) {
  socket.emit("typing:start", { chatId });
}

/** Stops the indicator, reporting a refusal. */
export async function stoppedTyping(socket: RealtimeSocket, chatId: string) {
  // The ack of a command whose callback is optional comes back untyped: name its type.
  const ack: CommandAck = await socket.emitWithAck("typing:stop", { chatId });
  if (!ack.ok) console.warn("typing:stop refused:", ack.error);
}

/** Joins a chat's room; resolves with the room name or rejects with the server's error code. */
export async function joinChat(socket: RealtimeSocket, chatId: string): Promise<string> {
  const ack = await socket.emitWithAck("room:join", { chatId });
  if (!ack.ok) throw new Error(ack.error);
  return ack.room;
}

/** A handler written apart from socket.on, typed by the event's payload. */
export const logClaim = (event: EventPayloads["claim.created"]) => console.log(event.reward.name, event.claim.cost);

const tasks = new Map<string, Task>();
function forget(id: string) {
  tasks.delete(id);
}

// The declarations are not `any`: each line marked below must be a type error (tsc fails on
// an unused expect-error directive, so these prove that the types catch mistakes).
export function mistakes(socket: RealtimeSocket) {
  // @ts-expect-error an event that does not exist
  socket.on("task.exploded", () => {});
  // @ts-expect-error entities carry id, not MongoDB's _id
  socket.on("task.assigned", (event) => console.log(event.task._id));
  // @ts-expect-error karma events carry amount, not points
  socket.on("karma.awarded", (event) => console.log(event.points));
  // @ts-expect-error a claim.approved payload's status is "approved"
  socket.on("claim.approved", (event) => { const s: "rejected" = event.status; console.log(s); });
  // @ts-expect-error room:join needs a chatId
  socket.emit("room:join", {}, () => {});
  // @ts-expect-error typing events carry chatId and userId, no text
  socket.on("typing.started", (event) => console.log(event.text));
}
