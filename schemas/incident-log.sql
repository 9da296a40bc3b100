-- incident-log.sql — the schema of rune's incident log (one SQLite file).
--
-- Embedded into the binary (rune_incident_log_sql) and applied on every
-- open for writing, so it must stay idempotent: only CREATE ... IF NOT
-- EXISTS and INSERT OR IGNORE here. A change that needs a migration bumps
-- schema_version and gets its own step in engine/journal.c.
--
-- Times are TEXT, ISO-8601 UTC with milliseconds ("2026-11-23T11:16:00.123Z"),
-- so they sort as text. *_json columns hold compact JSON with sorted keys.
-- Connection settings (WAL, synchronous=FULL, foreign_keys) are set by
-- journal.c, not here: pragmas are per connection.

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');

-- One row per run, real or simulated.
CREATE TABLE IF NOT EXISTS incidents (
    id             TEXT PRIMARY KEY,          -- "YYYYMMDD-HHMMSS-xxxx"
    runbook        TEXT NOT NULL,             -- name
    title          TEXT,
    runbook_path   TEXT,
    runbook_sha256 TEXT,                      -- hex SHA-256 of the runbook file
    mode           TEXT NOT NULL CHECK (mode IN ('run', 'dry-run')),
    operator       TEXT,
    host           TEXT,
    inputs_json    TEXT,                      -- secrets already masked
    severity       TEXT,
    outcome        TEXT,                      -- NULL while running (or if rune died)
    exit_code      INTEGER,
    started_at     TEXT NOT NULL,
    ended_at       TEXT,
    rto_target_s   INTEGER,                   -- NULL = no target
    rpo_target_s   INTEGER,
    resumed_from   TEXT,                      -- id of the incident this run resumes
    rune_version   TEXT
);
CREATE INDEX IF NOT EXISTS incidents_by_started ON incidents (started_at);
CREATE INDEX IF NOT EXISTS incidents_by_runbook ON incidents (runbook, started_at);

-- Every stage and step attempt of an incident, hash-chained per incident:
-- hash = hex SHA-256(prev_hash || canonical event JSON); see journal_chain.c.
-- An incident's first event links to the head of the incident begun before
-- it (64 zeros for the first, and in logs written before that link).
-- The primary key is also the index by incident (in seq order).
CREATE TABLE IF NOT EXISTS events (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    at          TEXT NOT NULL,
    stage       TEXT,                         -- NULL for run-level events
    step        TEXT,                         -- NULL for stage/run-level events
    attempt     INTEGER NOT NULL DEFAULT 0,   -- 0 when not a step attempt
    kind        TEXT NOT NULL,                -- incident.start, stage.start, step.start, ...
    status      TEXT,
    duration_ms INTEGER,                      -- NULL when not applicable
    detail_json TEXT,
    prev_hash   TEXT NOT NULL,                -- seq 1: the previous incident's head
    hash        TEXT NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

-- The chain across incidents: an incident's first event links to the head
-- of the incident begun before it (the first events in rowid order), and
-- verification finds the event a link names by its hash: among that
-- incident's events (its primary key), or by a whole scan when the chain
-- is already broken. No index of hashes: a hash is random, so each event
-- written dirtied a page of it anywhere in the log — a third of what a
-- step wrote, and nearly all of what a 1,000-step plan wrote once the log
-- held a few thousand incidents. Logs made before lose it here.
CREATE INDEX IF NOT EXISTS events_starts ON events (seq) WHERE seq = 1;
DROP INDEX IF EXISTS events_by_hash;

-- The rune process running an incident (one row per incident; a resumed
-- run replaces it): with the incident's host, whether that process is
-- still alive tells a running incident from an abandoned one. start is
-- "BOOTID:TICKS" (/proc/PID/stat's start time), so a reused pid is not
-- taken for it.
CREATE TABLE IF NOT EXISTS runners (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (id),
    pid         INTEGER NOT NULL,
    start       TEXT NOT NULL
);

-- Every child process a step started, recorded before it runs (its own
-- process group: pgid = pid) and marked ended once reaped: what a dead
-- run's unfinished steps may have left running.
CREATE TABLE IF NOT EXISTS children (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    step        TEXT,
    attempt     INTEGER,
    pid         INTEGER NOT NULL,
    start       TEXT,
    program     TEXT,
    started_at  TEXT NOT NULL,
    ended_at    TEXT
);
CREATE INDEX IF NOT EXISTS children_by_incident ON children (incident_id);

-- Files a run produced (backups, safety copies, reports).
CREATE TABLE IF NOT EXISTS artifacts (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    step        TEXT,
    path        TEXT NOT NULL,
    sha256      TEXT,
    bytes       INTEGER,
    kind        TEXT
);
CREATE INDEX IF NOT EXISTS artifacts_by_incident ON artifacts (incident_id);

-- Incidents this log recorded offline and `rune log push` uploaded to a
-- shared log (docs/teams.md): a second push skips them. log is the
-- shared log's URL with its password masked; head the hash its last
-- event got there (re-chained to the shared log's head).
CREATE TABLE IF NOT EXISTS uploads (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (id),
    log         TEXT NOT NULL,
    head        TEXT,
    uploaded_at TEXT NOT NULL
);
