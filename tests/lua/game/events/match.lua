-- The event style: the server sends `match.state` whenever it changed.
match_size = 1
quick_play = true

function on_player_joined(match, player)
  match.state.players = match.state.players or {}
  match.state.players[player.id] = { score = 0 }
end

function on_match_input(match, player, input)
  local p = match.state.players[player.id]
  p.score = p.score + (input.add or 0)
  if p.score >= 10 then
    match.state._finished = true
    match.state._result = { winner = player.id }
  end
end
