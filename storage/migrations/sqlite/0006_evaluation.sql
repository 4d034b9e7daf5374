-- Program evaluation: each member's survey settings, their survey answers, the anonymous "what should we improve?"
-- suggestions (kept apart from any member id), and a weekly activity record for the engagement figures.
-- Every row that names a member goes with them (ON DELETE CASCADE) when they ask to be forgotten.

CREATE TABLE survey_settings (
    member_id      INTEGER PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    declined_at    TEXT,                -- declined surveys for good (NULL: may be asked)
    next_survey_at TEXT                 -- UTC; the next follow-up; NULL when declined
);
CREATE INDEX survey_settings_due ON survey_settings (next_survey_at) WHERE next_survey_at IS NOT NULL;

CREATE TABLE surveys (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: ids are in buttons and outbox keys
    member_id         INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    kind              TEXT    NOT NULL CHECK (kind IN ('baseline', 'followup')),
    state             TEXT    NOT NULL CHECK (state IN ('offered', 'answering', 'completed', 'skipped', 'expired')),
    items             TEXT    NOT NULL,   -- this survey's questions in order, comma-separated
    position          INTEGER NOT NULL DEFAULT 0,  -- the question being asked
    offered_at        TEXT    NOT NULL,
    completed_at      TEXT,
    who5_1            INTEGER CHECK (who5_1 BETWEEN 0 AND 5),
    who5_2            INTEGER CHECK (who5_2 BETWEEN 0 AND 5),
    who5_3            INTEGER CHECK (who5_3 BETWEEN 0 AND 5),
    who5_4            INTEGER CHECK (who5_4 BETWEEN 0 AND 5),
    who5_5            INTEGER CHECK (who5_5 BETWEEN 0 AND 5),
    burnout           INTEGER CHECK (burnout BETWEEN 1 AND 5),
    satisfaction      INTEGER CHECK (satisfaction BETWEEN 1 AND 5),
    pair_satisfaction INTEGER CHECK (pair_satisfaction BETWEEN 1 AND 5)
);
CREATE INDEX surveys_member ON surveys (member_id, offered_at);
CREATE INDEX surveys_completed ON surveys (completed_at) WHERE completed_at IS NOT NULL;

-- Not tied to a person: no member id, only the week it was written, and a random row id (no order to match).
CREATE TABLE survey_suggestions (
    id   INTEGER PRIMARY KEY,
    week TEXT    NOT NULL,              -- the Monday of the ISO week, "2026-03-02"
    text TEXT    NOT NULL
);
CREATE INDEX survey_suggestions_week ON survey_suggestions (week);

-- Who was active in which week, and how (counts only, never content): posted, replied, checked in, talked in a pair.
CREATE TABLE activity (
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    week      TEXT    NOT NULL,         -- the Monday of the ISO week, "2026-03-02"
    kind      TEXT    NOT NULL CHECK (kind IN ('post', 'reply', 'checkin', 'pair')),
    count     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (member_id, week, kind)
);
CREATE INDEX activity_week ON activity (week);

-- When each pairing's mentee first asked for a mentor (the request row goes once they are matched): wait to match.
CREATE TABLE pairing_waits (
    pairing_id   INTEGER PRIMARY KEY REFERENCES pairings (id) ON DELETE CASCADE,
    requested_at TEXT    NOT NULL
);
