-- A persistent one-zone world whose zone state (a tick counter) survives restarts; the
-- clock entity shows it.
game_type = "world"
match_size = 4
grid_size = 1
zone_size = 100
tick_rate = 20
broadcast_interval = 1
persistent = true

function init(config) return {} end
function join(player_id, state) return state end
function spawn_position(player_id, state) return { x = 50, y = 50 } end
function leave(player_id, state) return state end
-- At a restart, on_world_recovered sees the stored zone state; post_tick announces it.
function on_world_recovered(snapshots, state)
  local zone = snapshots["0,0"]
  state.recovered = zone.zone_state.game_state.ticks
  state.entities = 0
  for _ in pairs(zone.entities) do state.entities = state.entities + 1 end
  return state
end

function post_tick(tick, state)
  if state.recovered and tick % 5 == 0 then
    game.broadcast("recovered", { ticks = state.recovered, entities = state.entities })
  end
  return state
end

function zone_tick(entities, zone_state)
  zone_state = zone_state or { ticks = 0 }
  zone_state.ticks = zone_state.ticks + 1
  entities.clock = { type = "clock", x = 10, y = 10, ticks = zone_state.ticks }
  return entities, zone_state
end
