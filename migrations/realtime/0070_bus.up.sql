-- Fleet mode (REALTIME_BUS, issue 17). The elected bus publisher reads the stream and publishes
-- each event to NATS once per recipient room; it records here how far the NATS server has
-- confirmed its publications (a PING/PONG after them), so that the next publisher, after a
-- failover, resumes from there: at least once, nodes drop positions they already delivered.
CREATE TABLE realtime.bus_state (
    id                smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    published_through bigint NOT NULL,
    publisher         text NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE realtime.bus_state IS
    'REALTIME_BUS: the stream position through which the elected bus publisher''s NATS publications are confirmed (one row).';
