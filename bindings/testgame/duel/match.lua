-- Two players matched together; each input moves its sender by (dx, dy). The state every
-- client receives lists each player's position and how many inputs it sent.
match_size = 2
max_players = 2
state_strategy = "shared"

function init(config)
  return { players = {} }
end

function join(player_id, state)
  state.players[player_id] = { x = 0, y = 0, inputs = 0 }
  return state
end

function leave(player_id, state)
  state.players[player_id] = nil
  return state
end

function handle_input(player_id, input, state)
  local p = state.players[player_id]
  if p then
    if type(input.dx) == "number" then p.x = p.x + input.dx end
    if type(input.dy) == "number" then p.y = p.y + input.dy end
    p.inputs = p.inputs + 1
  end
  return state
end

function tick(state)
  return state
end

function get_state(state)
  return { players = state.players }
end
