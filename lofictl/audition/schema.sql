-- lofictl listen-test: each listener's answers. Plain SQL, as the radio's (radio/schema.sql):
-- a server database takes it as it is, with "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY".

CREATE TABLE IF NOT EXISTS schema_info (
    version INTEGER NOT NULL
);

-- A listener's id is issued by the server (a signed cookie); first_seen is their first answer.
CREATE TABLE IF NOT EXISTS listeners (
    test        TEXT    NOT NULL,   -- the test file, relative to its project
    listener    TEXT    NOT NULL,
    first_seen  TEXT    NOT NULL,
    PRIMARY KEY (test, listener)
);

-- A/B: which of two systems a listener preferred in a trial (item and pair).
CREATE TABLE IF NOT EXISTS ab_answers (
    id          INTEGER PRIMARY KEY,
    test        TEXT    NOT NULL,
    listener    TEXT    NOT NULL,
    trial       TEXT    NOT NULL,
    item        INTEGER NOT NULL,
    shown_a     TEXT    NOT NULL,   -- the system heard as A
    shown_b     TEXT    NOT NULL,   -- the system heard as B
    winner      TEXT    NOT NULL,
    loser       TEXT    NOT NULL,
    at          TEXT    NOT NULL
);

-- MUSHRA: a score 0-100 per stimulus of a trial (role: system, reference = the hidden one, anchor).
CREATE TABLE IF NOT EXISTS mushra_answers (
    id          INTEGER PRIMARY KEY,
    test        TEXT    NOT NULL,
    listener    TEXT    NOT NULL,
    trial       TEXT    NOT NULL,
    item        INTEGER NOT NULL,
    system      TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('system', 'reference', 'anchor')),
    score       REAL    NOT NULL CHECK (score >= 0 AND score <= 100),
    at          TEXT    NOT NULL
);

CREATE INDEX IF NOT EXISTS ab_by_listener ON ab_answers (test, listener, trial);
CREATE INDEX IF NOT EXISTS mushra_by_listener ON mushra_answers (test, listener, trial);
