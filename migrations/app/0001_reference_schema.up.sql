-- The reference application schema: the platform described in the seed (families, members,
-- sessions, tasks, chats). realtimed applies it only when REALTIME_REFERENCE_SCHEMA=true (demo,
-- tests); in production the application owns its schema and its own rules in sql/triggers/.

CREATE TABLE families (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    family_id  uuid NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    name       text NOT NULL,
    role       text NOT NULL CHECK (role IN ('parent', 'child')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_family_role_idx ON users (family_id, role);

-- Opaque session tokens (the seed's better-auth sessions).
CREATE TABLE sessions (
    token      text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE tasks (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    family_id       uuid NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    kind            text NOT NULL DEFAULT 'chore' CHECK (kind IN ('chore', 'approval')),
    name            text NOT NULL,
    description     text,
    assignment_type text NOT NULL DEFAULT 'unassigned'
                    CHECK (assignment_type IN ('member', 'role', 'unassigned')),
    assigned_to     uuid REFERENCES users (id) ON DELETE SET NULL,
    assigned_role   text CHECK (assigned_role IN ('parent', 'child')),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed')),
    karma           integer NOT NULL DEFAULT 0,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    completed_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    completed_at    timestamptz,
    deleted_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (assignment_type <> 'member' OR assigned_to IS NOT NULL),
    CHECK (assignment_type <> 'role' OR assigned_role IS NOT NULL)
);
CREATE INDEX tasks_family_idx ON tasks (family_id);

CREATE TABLE chats (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    family_id  uuid NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE chat_members (
    chat_id   uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX chat_members_user_idx ON chat_members (user_id);
