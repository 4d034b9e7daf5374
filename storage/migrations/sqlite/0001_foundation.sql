-- Foundation: the durable outbox and the log of inbound platform event ids (redelivery guard).

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    idem_key        TEXT    NOT NULL UNIQUE,
    priority        INTEGER NOT NULL,
    kind            TEXT    NOT NULL,
    payload         TEXT,               -- JSON of the action; NULL once delivered (text is not kept)
    recipient       TEXT,               -- member key of the one person addressed; cleared on delivery
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'dead', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    lease_owner     TEXT,
    lease_until     TEXT,
    last_error      TEXT,
    ref             TEXT,               -- JSON MessageRef of the delivered message
    created_at      TEXT    NOT NULL,
    finished_at     TEXT
);
CREATE INDEX outbox_due ON outbox (status, priority, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient) WHERE status = 'pending';

CREATE TABLE inbound_events (
    event_key TEXT PRIMARY KEY,
    seen_at   TEXT NOT NULL
);
CREATE INDEX inbound_events_seen ON inbound_events (seen_at);
