-- Cloud saves, storage objects and leaderboards (asobi-services). Unix ms timestamps.

CREATE TABLE saves (
    id          TEXT PRIMARY KEY,
    player_id   TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    slot        TEXT NOT NULL,
    data        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    inserted_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (player_id, slot)
);

-- player_id NULL: the global namespace only Lua reaches (`game.storage.get/set`).
CREATE TABLE storage_objects (
    id          TEXT PRIMARY KEY,
    collection  TEXT NOT NULL,
    key         TEXT NOT NULL,
    player_id   TEXT REFERENCES players (id) ON DELETE CASCADE,
    value       TEXT NOT NULL,
    version     BIGINT NOT NULL,
    read_perm   TEXT NOT NULL,
    write_perm  TEXT NOT NULL,
    inserted_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (collection, key, player_id)
);
CREATE UNIQUE INDEX storage_objects_global ON storage_objects (collection, key) WHERE player_id IS NULL;
CREATE INDEX storage_objects_player ON storage_objects (player_id);

-- period: the start (Unix ms) of the board's reset period the entry belongs to; 0 for a
-- board that never resets. revision: +1 per write, so caches apply writes in order.
CREATE TABLE leaderboard_entries (
    board_id   TEXT NOT NULL,
    period     BIGINT NOT NULL,
    player_id  TEXT NOT NULL,
    score      BIGINT NOT NULL,
    sub_score  BIGINT NOT NULL,
    revision   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (board_id, period, player_id)
);
CREATE INDEX leaderboard_entries_player ON leaderboard_entries (player_id);

-- Every period a board has had entries in, so finished ones can be listed and read.
CREATE TABLE leaderboard_periods (
    board_id   TEXT NOT NULL,
    period     BIGINT NOT NULL,
    ends_at    BIGINT,
    PRIMARY KEY (board_id, period)
);
