-- incident-log-pg.sql — the schema of rune's incident log on PostgreSQL
-- (a shared log: --log postgresql://...). Same tables and meaning as the
-- SQLite log (incident-log.sql); see docs/teams.md.
--
-- Embedded into the binary (rune_incident_log_pg_sql) and applied by the
-- first writer that finds no schema, inside one transaction that holds an
-- advisory lock (journal_pg.c), so two rune processes starting at once on
-- an empty database never race on CREATE. Idempotent all the same.
--
-- Times are text, ISO-8601 UTC with milliseconds, exactly as rune hashes
-- them: the hash chain covers the stored text, so it must come back byte
-- for byte (a timestamptz column would not). *_json columns hold compact
-- JSON text with sorted keys, for the same reason (not jsonb).

CREATE TABLE IF NOT EXISTS rune_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO rune_meta (key, value) VALUES ('schema_version', '1') ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS incidents (
    id             text PRIMARY KEY,
    runbook        text NOT NULL,
    title          text,
    runbook_path   text,
    runbook_sha256 text,
    mode           text NOT NULL CHECK (mode IN ('run', 'dry-run')),
    operator       text,
    host           text,
    inputs_json    text,
    severity       text,
    outcome        text,
    exit_code      integer,
    started_at     text NOT NULL,
    ended_at       text,
    rto_target_s   bigint,
    rpo_target_s   bigint,
    resumed_from   text,
    rune_version   text
);
CREATE INDEX IF NOT EXISTS incidents_by_started ON incidents (started_at);
CREATE INDEX IF NOT EXISTS incidents_by_runbook ON incidents (runbook, started_at);

-- Every event, hash-chained per incident; an incident's first event links
-- to the head of the incident whose first event was written just before
-- (pos order). pos is taken inside the append's advisory lock, so among
-- first events it is the order in which they were chained.
CREATE TABLE IF NOT EXISTS events (
    pos         bigserial NOT NULL UNIQUE,
    incident_id text NOT NULL REFERENCES incidents (id),
    seq         bigint NOT NULL CHECK (seq >= 1),
    at          text NOT NULL,
    stage       text,
    step        text,
    attempt     bigint NOT NULL DEFAULT 0,
    kind        text NOT NULL,
    status      text,
    duration_ms bigint,
    detail_json text,
    prev_hash   text NOT NULL,
    hash        text NOT NULL,
    PRIMARY KEY (incident_id, seq)
);
-- The second line of defence behind the advisory locks: no two events
-- with one hash, and no two incidents hanging from the same head.
CREATE UNIQUE INDEX IF NOT EXISTS events_by_hash ON events (hash);
CREATE UNIQUE INDEX IF NOT EXISTS events_one_next ON events (prev_hash) WHERE seq = 1;
CREATE INDEX IF NOT EXISTS events_starts ON events (pos) WHERE seq = 1;

CREATE TABLE IF NOT EXISTS runners (
    incident_id text PRIMARY KEY REFERENCES incidents (id),
    pid         bigint NOT NULL,
    start       text NOT NULL
);

CREATE TABLE IF NOT EXISTS children (
    pos         bigserial PRIMARY KEY,
    incident_id text NOT NULL REFERENCES incidents (id),
    step        text,
    attempt     integer,
    pid         bigint NOT NULL,
    start       text,
    program     text,
    started_at  text NOT NULL,
    ended_at    text
);
CREATE INDEX IF NOT EXISTS children_by_incident ON children (incident_id);

CREATE TABLE IF NOT EXISTS artifacts (
    pos         bigserial PRIMARY KEY,
    incident_id text NOT NULL REFERENCES incidents (id),
    step        text,
    path        text NOT NULL,
    sha256      text,
    bytes       bigint,
    kind        text
);
CREATE INDEX IF NOT EXISTS artifacts_by_incident ON artifacts (incident_id);

-- Incidents recorded offline (a local SQLite log) and uploaded by
-- `rune log push`: their events are chained into this log as they are
-- appended (the first to this log's head); the local chain's own link and
-- head stay here, so the local chain can still be checked: its first
-- local_events rows hashed from local_prev end at local_head (rune log
-- verify does).
CREATE TABLE IF NOT EXISTS uploads (
    incident_id text PRIMARY KEY REFERENCES incidents (id),
    local_prev  text NOT NULL,
    local_head  text NOT NULL,
    local_events bigint NOT NULL,
    from_host   text,
    uploaded_at text NOT NULL
);

-- Runbook locks held on this log's server (engine/run/lock_pg.c): the
-- lock itself is a session advisory lock on key; this row says who took
-- it last and carries the fencing token, one more at every taking. A row
-- describes a holder only while its backend_pid holds the advisory lock.
CREATE TABLE IF NOT EXISTS rune_locks (
    key         bigint PRIMARY KEY,
    name        text NOT NULL,
    token       bigint NOT NULL,
    host        text,
    operator    text,
    incident    text,
    pid         bigint,
    backend_pid integer,
    taken_at    text
);
