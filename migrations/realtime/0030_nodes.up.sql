-- Cluster membership for the admin API (issue 8). Every realtimed node announces itself in
-- realtime.nodes and refreshes seen_at while it runs; a node that stops cleanly deletes its
-- row, one that dies is ignored once seen_at is stale. A node answering an admin request asks
-- the others over NOTIFY on the realtime_control channel; they write their answers to
-- realtime.node_replies (unlogged: short-lived, no WAL), which the asking node reads and deletes.
CREATE TABLE realtime.nodes (
    id         text PRIMARY KEY,
    hostname   text NOT NULL,
    addr       text NOT NULL,
    pid        integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now()
);

CREATE UNLOGGED TABLE realtime.node_replies (
    request    text NOT NULL,
    node       text NOT NULL,
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request, node)
);
