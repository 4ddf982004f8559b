-- The game every binding's tests play against: a two-player match and a world with terrain.
return {
  duel = "duel/match.lua",
  plains = "plains/world.lua",
}
