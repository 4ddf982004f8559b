-- Ten players per match; each input {x, y} sets its sender's position. The state every
-- client receives is each player's position, nothing else.
match_size = 10
max_players = 10
state_strategy = "shared"
-- Our extension (Asobi ticks matches at 10 Hz and ignores this): 20 state updates a second.
match_tick_hz = 20

function init(config)
  return { players = {} }
end

function join(player_id, state)
  state.players[player_id] = { x = 0, y = 0 }
  return state
end

function leave(player_id, state)
  state.players[player_id] = nil
  return state
end

function handle_input(player_id, input, state)
  local p = state.players[player_id]
  if p and type(input.x) == "number" and type(input.y) == "number" then
    p.x = input.x
    p.y = input.y
  end
  return state
end

function tick(state)
  return state
end

function get_state(state)
  return { players = state.players }
end
