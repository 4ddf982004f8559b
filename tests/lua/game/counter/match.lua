-- Classic callbacks, per-player state. `speed` is a top-level global that hot reload changes.
match_size = 2
quick_play = true
listed = true

speed = 1
version = "v1"

function init(config)
  return { players = {}, ticks = 0 }
end

function join(player_id, state, ctx)
  if ctx.team == "blue" then
    return nil, "team_full"
  end
  if ctx.team == "weird" then
    return nil, "bad\nreason"
  end
  state.players[player_id] = { x = 0, hp = 100 }
  return state
end

function leave(player_id, state)
  state.players[player_id] = nil
  return state
end

function handle_input(player_id, input, state)
  local p = state.players[player_id]
  if input.move then
    p.x = p.x + input.move * speed
  end
  if input.boom then
    p.x = -999 -- mutated, then the call fails: the change must be rolled back
    error("boom requested")
  end
  if input.ping then
    game.send(player_id, { pong = input.ping })
  end
  if input.shout then
    local ok = game.broadcast(input.shout, { from = player_id })
    if type(ok) == "table" then
      game.send(player_id, { refused = ok.error })
    end
  end
  if input.null_check ~= nil then
    game.send(player_id, { null_is = input.null_check })
  end
  if input.lock then
    game.match.set_joinable(false)
  end
  if input.finish then
    state._finished = true
    state._result = { winner = player_id }
  end
  return state
end

function tick(state)
  state.ticks = state.ticks + 1
  return state
end

function get_state(player_id, state)
  return { ticks = state.ticks, me = player_id, players = state.players, version = version, speed = speed }
end
