-- A Lua world: the world VM runs init/join/spawn_position/leave/post_tick, and every zone runs
-- its own VM with zone_tick/handle_input.
game_type = "world"
match_size = 8
grid_size = 4
zone_size = 100
tick_rate = 20
broadcast_interval = 1
lazy_zones = true

function init(config)
  return { joined = 0, last_tick = 0 }
end

function join(player_id, state, ctx)
  if ctx.banned then
    return nil, "banned"
  end
  state.joined = state.joined + 1
  return state
end

function spawn_position(player_id, state)
  return { x = 10 + state.joined, y = 20 }
end

function terrain_provider(config)
  return { module = "asobi_terrain_perlin", args = { seed = 99 } }
end

function leave(player_id, state)
  return state
end

function post_tick(tick, state)
  state.last_tick = tick
  return state
end

function zone_tick(entities, zone_state)
  zone_state = zone_state or { n = 0 }
  zone_state.n = zone_state.n + 1
  for id, e in pairs(entities) do
    if e.type == "player" then
      e.seen_by_zone = true
    end
  end
  return entities, zone_state
end

function handle_input(player_id, input, entities)
  local e = entities[player_id]
  if e and input.x then
    e.x = input.x
    e.y = input.y
  end
  if input.shout then
    game.broadcast(input.shout, { from = player_id })
  end
  if input.plant then
    entities[input.plant] = { type = "tree", x = 30, y = 30 }
  end
  if input.chunk then
    local r = game.terrain.get_chunk(0, 0)
    game.send(player_id, { ok = type(r.ok) == "string", bytes = r.ok and #r.ok or 0, bad = game.terrain.get_chunk("x", 0).error })
  end
  if input.consumed then
    return entities, input.consumed
  end
  return entities
end
