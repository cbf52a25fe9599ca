-- lofictl radio: listener ratings and what was played, per station.
-- Plain SQL on purpose: TEXT, BIGINT, REAL and INTEGER columns, timestamps as ISO-8601 UTC text,
-- no triggers, no JSON functions. A server database takes it as it is, except the surrogate ids:
-- on PostgreSQL write "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" for "id INTEGER PRIMARY KEY".

CREATE TABLE IF NOT EXISTS schema_info (
    version INTEGER NOT NULL
);

-- One row per track number a station built (or failed to build).
CREATE TABLE IF NOT EXISTS tracks (
    station     TEXT    NOT NULL,
    number      BIGINT  NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('built', 'failed')),
    recipe      TEXT,            -- the recipe file it was drawn from
    name        TEXT,            -- its own recipe name, <recipe>-<number> (lofictl radio keep)
    title       TEXT,
    seed        BIGINT,
    key_name    TEXT,
    camelot     TEXT,
    tempo       REAL,
    patterns    TEXT,            -- drums track=pattern, comma-separated
    presets     TEXT,            -- track=preset, comma-separated
    duration_s  REAL,
    loudness_lufs REAL,
    build_s     REAL,
    error       TEXT,
    built_at    TEXT    NOT NULL,
    PRIMARY KEY (station, number)
);

-- Each time a track was on air (a replay of an earlier track is a play too).
CREATE TABLE IF NOT EXISTS plays (
    id          INTEGER PRIMARY KEY,
    station     TEXT    NOT NULL,
    number      BIGINT  NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('track', 'replay')),
    started_at  TEXT    NOT NULL,
    seconds     REAL,            -- stream seconds it was on air; NULL while it still is
    ended_by    TEXT             -- 'next' (played out), 'skip' or 'stop'
);

-- Likes and skips, with where in the track they came.
CREATE TABLE IF NOT EXISTS ratings (
    id          INTEGER PRIMARY KEY,
    station     TEXT    NOT NULL,
    number      BIGINT  NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('like', 'skip')),
    position_s  REAL    NOT NULL,
    listener    TEXT,
    at          TEXT    NOT NULL
);

-- How long each listener connection heard each track.
CREATE TABLE IF NOT EXISTS listens (
    id          INTEGER PRIMARY KEY,
    station     TEXT    NOT NULL,
    number      BIGINT  NOT NULL,
    listener    TEXT,
    seconds     REAL    NOT NULL,
    at          TEXT    NOT NULL
);

CREATE INDEX IF NOT EXISTS plays_by_track ON plays (station, number);
CREATE INDEX IF NOT EXISTS ratings_by_track ON ratings (station, number);
CREATE INDEX IF NOT EXISTS listens_by_track ON listens (station, number);
