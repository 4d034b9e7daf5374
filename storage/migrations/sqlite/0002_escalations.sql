-- Crisis escalations: one row per case, its audit trail, and moderator reach-out conversations.

CREATE TABLE escalations (
    id              INTEGER PRIMARY KEY,
    platform        TEXT    NOT NULL,
    workspace       TEXT    NOT NULL,
    subject_key     TEXT,               -- member key of the person; NULL once they are forgotten
    subject_label   TEXT    NOT NULL,   -- what moderators see: a pseudonym or a case handle, never a platform name
    state           TEXT    NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    severity        TEXT    NOT NULL,
    categories      TEXT    NOT NULL,   -- comma-separated
    location        TEXT    NOT NULL,   -- "DM", "#channel", "pair"
    excerpt         TEXT,               -- NULL when alerts hide text, and after the retention purge
    message_count   INTEGER NOT NULL DEFAULT 1,
    opened_at       TEXT    NOT NULL,
    last_message_at TEXT    NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    resolved_at     TEXT,
    resolved_by     TEXT,
    repage_count    INTEGER NOT NULL DEFAULT 0,
    next_repage_at  TEXT,               -- NULL once acknowledged, resolved or breached
    breached        INTEGER NOT NULL DEFAULT 0,
    alert_key       TEXT,               -- outbox key of the first alert, to edit it on acknowledge/resolve
    held_action     TEXT                -- JSON list of [outbox key, action] of group posts held for moderators
);
CREATE INDEX escalations_repage ON escalations (next_repage_at) WHERE next_repage_at IS NOT NULL;
CREATE INDEX escalations_subject ON escalations (subject_key, state);
CREATE INDEX escalations_state ON escalations (state, opened_at);

CREATE TABLE escalation_audit (
    id            INTEGER PRIMARY KEY,
    escalation_id INTEGER NOT NULL REFERENCES escalations (id) ON DELETE CASCADE,
    at            TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    actor         TEXT    NOT NULL,     -- "system", or the moderator's member key (moderators are accountable)
    detail        TEXT
);
CREATE INDEX escalation_audit_case ON escalation_audit (escalation_id, at);

CREATE TABLE outreach (
    escalation_id INTEGER PRIMARY KEY REFERENCES escalations (id) ON DELETE CASCADE,
    moderator_key TEXT NOT NULL,
    subject_key   TEXT NOT NULL,
    opened_at     TEXT NOT NULL
);
CREATE INDEX outreach_subject ON outreach (subject_key);
