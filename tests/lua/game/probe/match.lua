-- One player; inputs probe the sandbox, the game API, and the budgets.
match_size = 1
quick_play = true

local helpers = require("helpers")

attempts = {
  io_open = function() return io.open("/etc/passwd") end,
  os_execute = function() return os.execute("id") end,
  load = function() return load("return 1") end,
  string_dump = function() return string.dump(function() end) end,
  debug_registry = function() return debug.getregistry() end,
  require_escape = function() return require("../../etc/passwd") end,
  collectgarbage = function() return collectgarbage("count") end,
}

function init(config) return { n = 0 } end
function join(id, state) return state end
function leave(id, state) return state end
function tick(state) state.n = state.n + 1 return state end
function get_state(id, state) return { n = state.n } end

function handle_input(id, input, state)
  if input.attempt then
    local ok, err = pcall(attempts[input.attempt])
    game.send(id, { attempt = input.attempt, ok = ok, err = tostring(err) })
  end
  if input.api then
    local logged = 0
    for i = 1, 40 do
      if game.log("info", "line " .. i) == true then logged = logged + 1 end
    end
    local bad_level = game.log("loud", "x")
    local ents = { a = { x = 0, y = 0, type = "npc" }, b = { x = 3, y = 4, type = "pc" }, c = { x = 100, y = 0 } }
    local near = game.spatial.query_radius(ents, 0, 0, 10)
    local nearest = game.spatial.nearest(ents, 0, 0, 1)
    local typed = game.spatial.query_radius(ents, 0, 0, 10, { type = "pc" })
    game.send(id, {
      id_len = #game.id(),
      logged = logged,
      bad_level = bad_level.error ~= nil,
      near = #near,
      nearest = nearest[1].id,
      typed = typed[1].id,
      dist = game.spatial.distance(ents.a, ents.b),
      in_range = game.spatial.in_range(ents.a, ents.b, 5),
      zone_form = game.spatial.query_radius(1, 2, 3).error,
      bad_args = game.send(5, {}).error ~= nil,
      bad_joinable = game.match.set_joinable("yes").error ~= nil,
      twice = helpers.twice(21),
    })
  end
  if input.spin then
    while true do end
  end
  if input.bomb then
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end
  end
  return state
end
