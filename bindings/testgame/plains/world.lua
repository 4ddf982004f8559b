-- A flat world: every tile is id 7 at elevation 3. Players spawn at (10, 10) and an input
-- {x, y} moves them there.
game_type = "world"
match_size = 8
grid_size = 2
zone_size = 64
tick_rate = 20
broadcast_interval = 1

function init(config) return {} end
function join(player_id, state) return state end
function leave(player_id, state) return state end
function spawn_position(player_id, state) return { x = 10, y = 10 } end
function post_tick(tick, state) return state end

function terrain_provider(config)
  return { module = "asobi_terrain_flat", args = { tile = 7, elevation = 3 } }
end

function zone_tick(entities, zone_state)
  return entities, zone_state or {}
end

function handle_input(player_id, input, entities)
  local e = entities[player_id]
  if e and type(input.x) == "number" and type(input.y) == "number" then
    e.x = input.x
    e.y = input.y
  end
  return entities
end
