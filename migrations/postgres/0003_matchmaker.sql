-- Matchmaker tickets live in the database, so a restart keeps the queue. One ticket per
-- (player, mode); the tickets of a party share a party_id and are matched together.

CREATE TABLE matchmaker_tickets (
    id           TEXT PRIMARY KEY,
    player_id    TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    mode         TEXT NOT NULL,
    properties   TEXT NOT NULL DEFAULT '{}',
    party_id     TEXT,
    submitted_at BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX matchmaker_tickets_player_mode ON matchmaker_tickets (player_id, mode);
CREATE INDEX matchmaker_tickets_order ON matchmaker_tickets (submitted_at, id);
