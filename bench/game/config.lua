-- The benchmark game: a ten-player room that echoes positions at 20 Hz, and one large world
-- with interest management where players walk about.
return {
  room = "room/match.lua",
  field = "field/world.lua",
}
