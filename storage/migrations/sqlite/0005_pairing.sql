-- Mentor pairing: mentor offers, mentees' requests (and the waitlist), double opt-in proposals, pairings,
-- follow-up feedback, a short-lived relay draft, anonymous program figures and the audit of state changes.
-- Every row that names a member goes with them (ON DELETE CASCADE) when they ask to be forgotten.

CREATE TABLE mentors (
    member_id          INTEGER PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    status             TEXT    NOT NULL
                       CHECK (status IN ('pending', 'approved', 'paused', 'declined', 'stepped_down')),
    topics             TEXT    NOT NULL DEFAULT '',   -- comma-separated topic slugs of lived experience
    languages          TEXT    NOT NULL DEFAULT '',   -- comma-separated
    timezone           TEXT    NOT NULL,
    capacity           INTEGER NOT NULL CHECK (capacity BETWEEN 1 AND 20),
    availability       TEXT    NOT NULL DEFAULT '',
    intro              TEXT    NOT NULL DEFAULT '',
    offered_at         TEXT    NOT NULL,
    decided_at         TEXT,
    decided_by         TEXT,                          -- the moderator's member key (moderators are accountable)
    last_new_mentee_at TEXT,                          -- fairness: who waited longest for a new mentee
    alert_key          TEXT                           -- outbox key of the approval request to moderators
);
CREATE INDEX mentors_status ON mentors (status);

CREATE TABLE pair_requests (
    member_id    INTEGER PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    topics       TEXT    NOT NULL,                    -- the mentee's topics when they asked
    note         TEXT,                                -- shown to proposed mentors; gone once paired
    requested_at TEXT    NOT NULL,
    waiting      INTEGER NOT NULL DEFAULT 0           -- 1: on the waitlist (no free mentor)
);
CREATE INDEX pair_requests_waiting ON pair_requests (waiting, requested_at);

CREATE TABLE proposals (
    id             INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: ids are in buttons and outbox keys
    mentee_id      INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    mentor_id      INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    state          TEXT    NOT NULL CHECK (state IN ('asked_mentor', 'mentor_accepted', 'started',
                                                     'mentor_declined', 'mentee_declined', 'expired', 'cancelled')),
    shared_topics  TEXT    NOT NULL,
    tz_hours_apart REAL,
    created_at     TEXT    NOT NULL,
    expires_at     TEXT,                              -- NULL once no answer is awaited
    decided_at     TEXT
);
CREATE INDEX proposals_expiry ON proposals (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX proposals_mentee ON proposals (mentee_id, created_at);
CREATE INDEX proposals_mentor ON proposals (mentor_id, state);

CREATE TABLE pairings (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    mentee_id     INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    mentor_id     INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    state         TEXT    NOT NULL CHECK (state IN ('active', 'ended')),
    shared_topics TEXT    NOT NULL,
    started_at    TEXT    NOT NULL,
    ended_at      TEXT,
    ended_by      TEXT,                               -- 'mentee', 'mentor', 'step_down', 'left'
    end_reason    TEXT,                               -- a category, never the words typed
    mentee_shares INTEGER NOT NULL DEFAULT 0,         -- pressed Share contact
    mentor_shares INTEGER NOT NULL DEFAULT 0,
    followup_at   TEXT                                -- UTC; NULL once asked or ended
);
CREATE INDEX pairings_mentee ON pairings (mentee_id, state);
CREATE INDEX pairings_mentor ON pairings (mentor_id, state);
CREATE INDEX pairings_followup ON pairings (followup_at) WHERE followup_at IS NOT NULL;

CREATE TABLE pairing_feedback (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pairing_id  INTEGER NOT NULL REFERENCES pairings (id) ON DELETE CASCADE,
    member_id   INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    side        TEXT    NOT NULL CHECK (side IN ('mentee', 'mentor')),
    asked_at    TEXT    NOT NULL,
    answered_at TEXT,
    score       INTEGER CHECK (score BETWEEN 1 AND 5),
    note        TEXT
);
CREATE INDEX pairing_feedback_member ON pairing_feedback (member_id, asked_at);

-- A message typed while in several pairings waits here until its sender picks the pairing (minutes, not days).
CREATE TABLE relay_drafts (
    member_id  INTEGER PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    text       TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);

-- Anonymous counts for program figures (pairings started, end reasons, follow-up scores): no member ids.
CREATE TABLE pairing_figures (
    month  TEXT    NOT NULL,                          -- "2026-03"
    figure TEXT    NOT NULL,                          -- e.g. "started", "ended:not_a_fit", "score:mentee:4"
    count  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (month, figure)
);

-- Each state change of a mentor offer, proposal or pairing; goes with the record it describes.
CREATE TABLE pairing_audit (
    id          INTEGER PRIMARY KEY,
    at          TEXT    NOT NULL,
    mentor_id   INTEGER REFERENCES mentors (member_id) ON DELETE CASCADE,
    proposal_id INTEGER REFERENCES proposals (id) ON DELETE CASCADE,
    pairing_id  INTEGER REFERENCES pairings (id) ON DELETE CASCADE,
    from_state  TEXT,
    to_state    TEXT    NOT NULL,
    actor       TEXT    NOT NULL                      -- 'system', 'mentee', 'mentor' or a moderator's member key
);
CREATE INDEX pairing_audit_mentor ON pairing_audit (mentor_id);
CREATE INDEX pairing_audit_proposal ON pairing_audit (proposal_id);
CREATE INDEX pairing_audit_pairing ON pairing_audit (pairing_id);
