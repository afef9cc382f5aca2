// Types of the events realtimed delivers for the reference schema, for socket.io-client v4:
//
//   import { io, type Socket } from "socket.io-client";
//   import type { ServerToClientEvents, ClientToServerEvents } from "./events";
//   const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, { auth: { token } });
//   socket.on("task.completed", (event) => console.log(event.completedBy, event.task.name));
//
// One entry of EventPayloads per event of docs/events.md (a Go test checks that the names
// match, and `npm run check` checks the catalogue's example payloads against these types).
// Entities are table rows with camelCase keys; ids are UUID strings; timestamps are ISO 8601
// strings with an offset; unset columns are null.

/** A UUID, as a string. */
export type UUID = string;
/** An ISO 8601 timestamp with an offset, e.g. "2026-05-01T17:30:00.123456+00:00". */
export type Timestamp = string;

export type Role = "parent" | "child";

// ---- Entities (rows of the reference schema) ----

export interface Task {
  id: UUID;
  familyId: UUID;
  /** A chore, or the parents' approval of a reward claim (claimId set). */
  kind: "chore" | "approval";
  name: string;
  description: string | null;
  assignmentType: "member" | "role" | "unassigned";
  /** The member, when assignmentType is "member". */
  assignedTo: UUID | null;
  /** The role, when assignmentType is "role": every member of the family with it. */
  assignedRole: Role | null;
  status: "pending" | "completed";
  karma: number;
  createdBy: UUID | null;
  completedBy: UUID | null;
  completedAt: Timestamp | null;
  deletedAt: Timestamp | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
  claimId: UUID | null;
}

export interface KarmaTransaction {
  id: UUID;
  familyId: UUID;
  userId: UUID;
  /** Signed: > 0 awarded, < 0 deducted. */
  amount: number;
  reason: string;
  actorId: UUID | null;
  taskId: UUID | null;
  /** The member's balance after this transaction. */
  balanceAfter: number;
  createdAt: Timestamp;
  claimId: UUID | null;
}

export interface Reward {
  id: UUID;
  familyId: UUID;
  name: string;
  description: string | null;
  cost: number;
  active: boolean;
  createdBy: UUID | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export type ClaimStatus = "pending" | "approved" | "rejected" | "completed" | "cancelled";

export interface Claim {
  id: UUID;
  familyId: UUID;
  rewardId: UUID;
  /** The claimant. */
  userId: UUID;
  status: ClaimStatus;
  cost: number;
  note: string | null;
  decidedBy: UUID | null;
  decidedAt: Timestamp | null;
  completedAt: Timestamp | null;
  cancelledAt: Timestamp | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface Chat {
  id: UUID;
  familyId: UUID;
  name: string;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface ChatMember {
  chatId: UUID;
  userId: UUID;
  joinedAt: Timestamp;
}

export interface Message {
  id: UUID;
  chatId: UUID;
  /** The sender (null once the sender's account is deleted). */
  userId: UUID | null;
  body: string;
  createdAt: Timestamp;
  editedAt: Timestamp | null;
  deletedAt: Timestamp | null;
}

export interface MessageRead {
  messageId: UUID;
  /** The reader. */
  userId: UUID;
  readAt: Timestamp;
}

// ---- Payloads ----

export interface TaskEvent {
  taskId: UUID;
  familyId: UUID;
  /** The assigned member (null for role and unassigned tasks); the claimant for an approval task. */
  userId: UUID | null;
  task: Task;
  /** Present on events of approval tasks: the claim to decide. */
  claimId?: UUID | null;
}

export interface ApprovalTaskCreatedEvent extends TaskEvent {
  claimId: UUID | null;
  task: Task & { kind: "approval" };
}

export interface TaskCompletedEvent extends TaskEvent {
  completedBy: UUID | null;
}

export interface KarmaEvent {
  transactionId: UUID;
  familyId: UUID;
  userId: UUID;
  /** Signed, as stored: positive for karma.awarded, negative for karma.deducted. */
  amount: number;
  /** The member's balance after this transaction. */
  balance: number;
  reason: string;
  actorId: UUID | null;
  transaction: KarmaTransaction;
}

export interface ClaimEvent<S extends ClaimStatus = ClaimStatus> {
  claimId: UUID;
  familyId: UUID;
  /** The claimant. */
  userId: UUID;
  rewardId: UUID;
  status: S;
  claim: Claim & { status: S };
  reward: Reward;
}

export interface ClaimDecidedEvent<S extends "approved" | "rejected"> extends ClaimEvent<S> {
  /** The parent who decided. */
  decidedBy: UUID | null;
}

export interface ChatUpdatedEvent {
  chatId: UUID;
  familyId: UUID;
  chat: Chat;
}

export interface ChatMemberEvent {
  chatId: UUID;
  familyId: UUID;
  /** The member added or removed. */
  userId: UUID;
  member: ChatMember;
  /** null when the chat itself was deleted. */
  chat: Chat | null;
}

export interface MessageEvent {
  messageId: UUID;
  chatId: UUID;
  familyId: UUID;
  /** The sender. */
  userId: UUID | null;
  message: Message;
}

export interface MessageReadEvent {
  messageId: UUID;
  chatId: UUID;
  familyId: UUID;
  /** The reader. */
  userId: UUID;
  readAt: Timestamp;
  receipt: MessageRead;
}

/** Every event of docs/events.md and its payload. */
export interface EventPayloads {
  "task.created": TaskEvent;
  "approval_task.created": ApprovalTaskCreatedEvent;
  "task.assigned": TaskEvent;
  "task.updated": TaskEvent;
  "task.completed": TaskCompletedEvent;
  "task.deleted": TaskEvent;
  "karma.awarded": KarmaEvent;
  "karma.deducted": KarmaEvent;
  "claim.created": ClaimEvent<"pending">;
  "claim.approved": ClaimDecidedEvent<"approved">;
  "claim.rejected": ClaimDecidedEvent<"rejected">;
  "claim.completed": ClaimEvent<"completed">;
  "claim.cancelled": ClaimEvent<"cancelled">;
  "chat.updated": ChatUpdatedEvent;
  "chat.member_added": ChatMemberEvent;
  "chat.member_removed": ChatMemberEvent;
  "message.new": MessageEvent;
  "message.updated": MessageEvent;
  "message.deleted": MessageEvent;
  "message.read": MessageReadEvent;
}

/** The name of an event. */
export type EventName = keyof EventPayloads;

/** typing.started / typing.stopped: another client of the chat's room is typing, or stopped. */
export interface TypingEvent {
  chatId: UUID;
  /** Who is typing. */
  userId: UUID;
}

/**
 * Listeners of every event, for socket.io-client's Socket<ServerToClientEvents, …>. The events
 * of the rules carry the event's stream offset as a last argument (kept by the client for
 * connection-state recovery); a one-argument handler can ignore it. Typing indicators come from
 * other clients (typing:start / typing:stop), not from the database, and carry no offset.
 */
export type ServerToClientEvents = {
  [E in EventName]: (payload: EventPayloads[E], offset: string) => void;
} & {
  "typing.started": (payload: TypingEvent) => void;
  "typing.stopped": (payload: TypingEvent) => void;
};

/** The acknowledgement of room:join and room:leave. */
export type RoomAck = { ok: true; room: string } | { ok: false; error: string };

/** The acknowledgement of typing:start and typing:stop. */
export type CommandAck = { ok: true } | { ok: false; error: string };

/**
 * What a client may send (see the README: chat rooms and client commands). Errors:
 * "forbidden", "not_found", "bad_request", "unavailable", "rate_limited".
 */
export interface ClientToServerEvents {
  /** Join chat:<chatId> (members of the chat only). */
  "room:join": (request: { chatId: UUID }, ack: (result: RoomAck) => void) => void;
  /** Leave chat:<chatId>. */
  "room:leave": (request: { chatId: UUID }, ack: (result: RoomAck) => void) => void;
  /** Show the others in chat:<chatId> that this user is typing (send it on every keystroke). */
  "typing:start": (request: { chatId: UUID }, ack?: (result: CommandAck) => void) => void;
  /** Hide the typing indicator. */
  "typing:stop": (request: { chatId: UUID }, ack?: (result: CommandAck) => void) => void;
}
