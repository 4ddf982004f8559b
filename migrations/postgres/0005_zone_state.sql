-- A zone's host-side state (Lua: {"game_state": ...}) is stored with its entities.

ALTER TABLE zone_snapshots ADD COLUMN zone_state TEXT;
