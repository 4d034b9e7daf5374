-- Check-in schedules (one per member, the due time indexed) and the check-ins sent and answered.

CREATE TABLE checkin_schedules (
    member_id         INTEGER PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    frequency         TEXT    NOT NULL CHECK (frequency IN ('daily', 'weekdays', 'weekly', 'days')),
    days              TEXT    NOT NULL DEFAULT '',  -- weekday numbers 0 (Monday) to 6, for 'weekly' and 'days'
    local_time        TEXT    NOT NULL,             -- "HH:MM" in the member's timezone
    timezone          TEXT    NOT NULL,
    quiet_start       TEXT,                         -- "HH:MM": no check-in between quiet_start and quiet_end
    quiet_end         TEXT,
    paused_until      TEXT,                         -- UTC; NULL when not paused
    next_checkin_at   TEXT,                         -- UTC; NULL when off or paused
    missed            INTEGER NOT NULL DEFAULT 0,   -- consecutive unanswered check-ins
    slowed            INTEGER NOT NULL DEFAULT 0,   -- 1: weekly until the member answers again
    share_trend       INTEGER NOT NULL DEFAULT 0,   -- 1: moderators may be told of a falling trend
    trend_offered_at  TEXT,
    outstanding_id    INTEGER                       -- the last check-in sent, until answered
);
CREATE INDEX checkin_schedules_due ON checkin_schedules (next_checkin_at) WHERE next_checkin_at IS NOT NULL;

CREATE TABLE checkins (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused after a forget: ids are in outbox keys
    member_id   INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    due_at      TEXT    NOT NULL,
    sent_at     TEXT    NOT NULL,
    answered_at TEXT,
    mood        INTEGER CHECK (mood BETWEEN 1 AND 5),
    skipped     INTEGER NOT NULL DEFAULT 0,
    note        TEXT
);
CREATE INDEX checkins_member ON checkins (member_id, sent_at);
