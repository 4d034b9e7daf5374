-- Members (created only at consent), their platform identities, pseudonyms, anonymous group posts,
-- and the moderation audit trail (reveal, mute, remove).

CREATE TABLE members (
    id              INTEGER PRIMARY KEY,
    pseudonym       TEXT    NOT NULL UNIQUE,
    role            TEXT,               -- 'peer', 'mentor', 'staff'; NULL when skipped
    topics          TEXT    NOT NULL DEFAULT '',   -- comma-separated topic slugs
    language        TEXT,
    timezone        TEXT,
    checkin_pref    TEXT,               -- handed to check-ins: 'daily', 'weekly', 'none'; NULL when skipped
    onboarding_step TEXT    NOT NULL DEFAULT 'role',
    muted           INTEGER NOT NULL DEFAULT 0,
    consent_version INTEGER NOT NULL,
    joined_at       TEXT    NOT NULL
);

CREATE TABLE member_identities (
    platform  TEXT    NOT NULL,
    workspace TEXT    NOT NULL,
    user_id   TEXT    NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    PRIMARY KEY (platform, workspace, user_id)
);
CREATE INDEX member_identities_member ON member_identities (member_id);

-- Every pseudonym ever drawn stays reserved while its member exists, so an old post never points at someone else.
CREATE TABLE pseudonyms (
    pseudonym  TEXT    PRIMARY KEY,
    member_id  INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    created_at TEXT    NOT NULL,
    retired_at TEXT
);
CREATE INDEX pseudonyms_member ON pseudonyms (member_id);

CREATE TABLE group_posts (
    id          INTEGER PRIMARY KEY,
    public_id   TEXT    NOT NULL UNIQUE,   -- what people type: /peer reply P7K2 ...
    member_id   INTEGER REFERENCES members (id) ON DELETE SET NULL,  -- the mapping moderation needs
    pseudonym   TEXT    NOT NULL,
    topic       TEXT    NOT NULL,
    platform    TEXT    NOT NULL,
    workspace   TEXT    NOT NULL,
    channel_id  TEXT    NOT NULL,
    parent_id   INTEGER REFERENCES group_posts (id) ON DELETE SET NULL,
    outbox_key  TEXT    NOT NULL,
    text        TEXT,                      -- kept only when [groups] keep_text is true
    created_at  TEXT    NOT NULL,
    removed_at  TEXT,
    removed_by  TEXT
);
CREATE INDEX group_posts_member ON group_posts (member_id, created_at);
CREATE INDEX group_posts_created ON group_posts (created_at);

CREATE TABLE moderation_audit (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    action    TEXT NOT NULL,          -- 'reveal', 'mute', 'unmute', 'remove_post'
    actor     TEXT NOT NULL,          -- the moderator's member key
    target    TEXT NOT NULL,          -- a pseudonym or a post id, never a platform identity
    reason    TEXT
);
