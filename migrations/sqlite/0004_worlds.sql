-- Persistent worlds (re-created under their ids when a node starts) and their zone snapshots.

CREATE TABLE persistent_worlds (
    id          TEXT PRIMARY KEY,
    mode        TEXT NOT NULL,
    inserted_at BIGINT NOT NULL
);

CREATE TABLE zone_snapshots (
    world_id   TEXT NOT NULL REFERENCES persistent_worlds (id) ON DELETE CASCADE,
    zone_x     BIGINT NOT NULL,
    zone_y     BIGINT NOT NULL,
    entities   TEXT NOT NULL,
    tick       BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (world_id, zone_x, zone_y)
);
