-- Social (asobi-services::social, ::chat). Unix ms timestamps; booleans as 0/1.

-- One row per direction. status: pending (a request), accepted (both directions get a row
-- once accepted), blocked (player_id blocked friend_id: the only row a block leaves).
CREATE TABLE friendships (
    id          TEXT PRIMARY KEY,
    player_id   TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    friend_id   TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    inserted_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (player_id, friend_id)
);
CREATE INDEX friendships_friend ON friendships (friend_id);

CREATE TABLE social_groups (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    max_members BIGINT NOT NULL,
    open        BIGINT NOT NULL,
    creator_id  TEXT,
    metadata    TEXT NOT NULL,
    inserted_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE social_group_members (
    id        TEXT PRIMARY KEY,
    group_id  TEXT NOT NULL REFERENCES social_groups (id) ON DELETE CASCADE,
    player_id TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    role      TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    UNIQUE (group_id, player_id)
);
CREATE INDEX social_group_members_player ON social_group_members (player_id);

-- Chat and direct messages, persisted. channel_type: the channel id's prefix (dm, global,
-- world, zone, prox, room).
CREATE TABLE chat_messages (
    id           TEXT PRIMARY KEY,
    channel_type TEXT NOT NULL,
    channel_id   TEXT NOT NULL,
    sender_id    TEXT NOT NULL,
    content      TEXT NOT NULL,
    metadata     TEXT NOT NULL,
    sent_at      BIGINT NOT NULL
);
CREATE INDEX chat_messages_channel ON chat_messages (channel_id, sent_at);

-- Parties (ours): a leader, members (one party per player), and invitations a player
-- accepts or declines; only accepted members are ever queued together. leader_id has no
-- foreign key: erasing the leader hands the party on (the erase does it), not deletes it.
CREATE TABLE parties (
    id          TEXT PRIMARY KEY,
    leader_id   TEXT NOT NULL,
    max_size    BIGINT NOT NULL,
    inserted_at BIGINT NOT NULL
);

CREATE TABLE party_members (
    party_id  TEXT NOT NULL REFERENCES parties (id) ON DELETE CASCADE,
    player_id TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    ready     BIGINT NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (party_id, player_id)
);
CREATE UNIQUE INDEX party_members_player ON party_members (player_id);

CREATE TABLE party_invites (
    party_id    TEXT NOT NULL REFERENCES parties (id) ON DELETE CASCADE,
    player_id   TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    invited_by  TEXT NOT NULL,
    status      TEXT NOT NULL,
    inserted_at BIGINT NOT NULL,
    PRIMARY KEY (party_id, player_id)
);
CREATE INDEX party_invites_player ON party_invites (player_id);
