-- One big world: 32 × 32 zones of 64 units, a tick every 50 ms (20 Hz) with deltas on every
-- tick, and each player seeing the 3 × 3 zones around it. Players spawn anywhere; an input
-- {x, y} moves the player there.
game_type = "world"
match_size = 1
max_players = 20000
grid_size = 32
zone_size = 64
tick_rate = 50
broadcast_interval = 1
view_radius = 1
quick_play = true

function init(config) return {} end
function join(player_id, state) return state end
function leave(player_id, state) return state end

function spawn_position(player_id, state)
  return { x = math.random() * 2048, y = math.random() * 2048 }
end

function post_tick(tick, state) return state end

function zone_tick(entities, zone_state)
  return entities, zone_state or {}
end

function handle_input(player_id, input, entities)
  local e = entities[player_id]
  if e and type(input.x) == "number" and type(input.y) == "number" then
    e.x = math.max(0, math.min(2047, input.x))
    e.y = math.max(0, math.min(2047, input.y))
  end
  return entities
end
