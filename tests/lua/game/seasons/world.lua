-- Phases: a lobby that waits for the first player, a timed harvest, then the world finishes.
game_type = "world"
match_size = 4
grid_size = 1
zone_size = 100
tick_rate = 20
broadcast_interval = 1

function init(config) return { log = {} } end
function join(player_id, state) return state end
function spawn_position(player_id, state) return { x = 50, y = 50 } end
function leave(player_id, state) return state end
function post_tick(tick, state) return state end
function zone_tick(entities, zone_state) return entities, zone_state end

function phases(config)
  return {
    { name = "lobby", start = { players = 1 }, duration = 200 },
    { name = "harvest", duration = 300, config = { rate = 2 } },
  }
end

function on_phase_started(name, state)
  table.insert(state.log, "+" .. name)
  game.broadcast("phase_log", { log = table.concat(state.log, " ") })
  return state
end

function on_phase_ended(name, state)
  table.insert(state.log, "-" .. name)
  return state
end
