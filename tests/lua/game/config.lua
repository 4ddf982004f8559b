-- Test game: several modes in one manifest.
return {
  counter = "counter/match.lua",
  probe = "probe/match.lua",
  events = "events/match.lua",
  shared = "shared/match.lua",
  realm = "world/world.lua",
  borders = "borders/world.lua",
  vault = "vault/world.lua",
  grove = "grove/world.lua",
  seasons = "seasons/world.lua",
  rounds = "rounds/match.lua",
  -- Boards the game declares (the operator's [leaderboards] in asobi.toml win).
  leaderboards = {
    lua_best = { operator = "best" },
  },
  -- The game's catalogue, synced at start and on reload (the operator's [economy] wins).
  economy = {
    items = { potion = { name = "Potion", max_stack = 99 } },
    listings = { lua_potion = { item = "potion", currency = "gold", price = 5 } },
  },
}
