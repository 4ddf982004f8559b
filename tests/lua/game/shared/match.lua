-- Shared state: get_state(state) once per tick for everyone.
match_size = 2
min_players = 1
quick_play = true
state_strategy = "shared"

function init(config) return { ticks = 0, roster = {} } end
function join(id, state) table.insert(state.roster, id) return state end
function leave(id, state) return state end
function handle_input(id, input, state) return state end
function tick(state) state.ticks = state.ticks + 1 return state end
function get_state(state) return { ticks = state.ticks, roster = state.roster } end
