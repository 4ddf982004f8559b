-- A match in phases: warmup, then a round, then the match finishes.
match_size = 1
quick_play = true

function init(config) return { phase = "none", log = "" } end
function join(player_id, state) return state end
function leave(player_id, state) return state end
function handle_input(player_id, input, state) return state end
function tick(state) return state end
function get_state(player_id, state) return { phase = state.phase, log = state.log } end

function phases(config)
  return {
    { name = "warmup", duration = 150 },
    { name = "round", duration = 150, config = { target = 3 } },
  }
end

function on_phase_started(name, state)
  state.phase = name
  state.log = state.log .. "+" .. name
  return state
end

function on_phase_ended(name, state)
  state.log = state.log .. "-" .. name
  return state
end
