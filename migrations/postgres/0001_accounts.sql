-- Accounts, credentials and sessions' tokens. Timestamps are Unix milliseconds.
-- Tokens are stored as the hex SHA-256 of the token, never the token itself.

CREATE TABLE players (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    avatar_url    TEXT,
    metadata      TEXT NOT NULL DEFAULT '{}',
    password_hash TEXT,
    inserted_at   BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX players_username_key ON players (lower(username));

CREATE TABLE token_families (
    id          TEXT PRIMARY KEY,
    player_id   TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    inserted_at BIGINT NOT NULL
);
CREATE INDEX token_families_player ON token_families (player_id);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    player_id  TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_family ON access_tokens (family_id);
CREATE INDEX access_tokens_player ON access_tokens (player_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    player_id  TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE guest_identities (
    device_id   TEXT PRIMARY KEY,
    player_id   TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    secret_salt TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    revoked     BIGINT NOT NULL DEFAULT 0,
    claimed     BIGINT NOT NULL DEFAULT 0,
    inserted_at BIGINT NOT NULL
);
CREATE INDEX guest_identities_player ON guest_identities (player_id);
