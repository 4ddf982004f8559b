-- Finished matches, their rosters with outcomes, and per-player totals. Unix ms timestamps.

CREATE TABLE match_records (
    id          TEXT PRIMARY KEY,
    mode        TEXT NOT NULL,
    status      TEXT NOT NULL,
    result      TEXT NOT NULL DEFAULT '{}',
    started_at  BIGINT,
    finished_at BIGINT,
    inserted_at BIGINT NOT NULL
);
CREATE INDEX match_records_inserted ON match_records (inserted_at);

CREATE TABLE match_players (
    match_id  TEXT NOT NULL REFERENCES match_records (id) ON DELETE CASCADE,
    player_id TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    outcome   TEXT NOT NULL,
    PRIMARY KEY (match_id, player_id)
);
CREATE INDEX match_players_player ON match_players (player_id);

CREATE TABLE player_stats (
    player_id    TEXT PRIMARY KEY REFERENCES players (id) ON DELETE CASCADE,
    games_played BIGINT NOT NULL DEFAULT 0,
    wins         BIGINT NOT NULL DEFAULT 0,
    losses       BIGINT NOT NULL DEFAULT 0,
    updated_at   BIGINT NOT NULL
);
