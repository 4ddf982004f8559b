-- Sign-in with identity providers, and bans (issue 19). Timestamps are Unix milliseconds.

-- A provider's user, signed in as one player. (provider, provider_uid) is the identity.
CREATE TABLE player_identities (
    provider     TEXT NOT NULL,
    provider_uid TEXT NOT NULL,
    player_id    TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    inserted_at  BIGINT NOT NULL,
    PRIMARY KEY (provider, provider_uid)
);
CREATE INDEX player_identities_player ON player_identities (player_id);
-- One identity per provider per player: linking a second is a conflict.
CREATE UNIQUE INDEX player_identities_one_per_provider ON player_identities (player_id, provider);

-- A ban refuses sign-in until banned_until (ms; the largest BIGINT for ever).
ALTER TABLE players ADD COLUMN banned_until BIGINT;
ALTER TABLE players ADD COLUMN ban_reason TEXT;
