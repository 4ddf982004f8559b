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
  gc_finalizer = function()
    keep = setmetatable({}, { __gc = function() while true do end end })
  end,
}

-- Hostile callbacks (issue 15): each must end only this match, or only fail its own call.
hostile = {
  pcall_spin = function() while true do pcall(function() while true do end end) end end,
  xpcall_spin = function()
    while true do xpcall(function() while true do end end, function(e) return e end) end
  end,
  coroutine_spin = function()
    while true do coroutine.resume(coroutine.create(function() while true do end end)) end
  end,
  trim = function(input) return input.text:match("^%s*(.-)%s*$") end,
  -- A player-chosen action name in the error text must not read as an overrun.
  action = function(input) error("unknown action: " .. input.action) end,
}

function init(config) return { n = 0 } end
function join(id, state) return state end
function leave(id, state) return state end
function tick(state) state.n = state.n + 1 return state end
function get_state(id, state)
  if state.cycle then
    local a = {}
    a.l = a
    a.r = a
    return { n = state.n, a = a }
  end
  if state.fan_out then
    local t = { 1 }
    for i = 1, 60 do t = { l = t, r = t } end
    return { n = state.n, t = t }
  end
  return { n = state.n }
end

function handle_input(id, input, state)
  if input.services then
    local r = {}
    r.set = game.storage.set("cfg", "motd", { text = "hi" })
    r.set_again = game.storage.set("cfg", "motd", { text = "hello" })
    r.get = game.storage.get("cfg", "motd")
    r.missing = game.storage.get("cfg", "nope")
    r.pset = game.storage.player_set(id, "progress", "level", 7)
    r.pget = game.storage.player_get(id, "progress", "level")
    r.bad = game.storage.get(1)
    r.submit = game.leaderboard.submit("lua_best", id, 40)
    r.lower = game.leaderboard.submit("lua_best", id, 10)
    r.bot = game.leaderboard.submit("lua_best", "bot_x_abc123", 99)
    r.top = game.leaderboard.top("lua_best", 10)
    r.rank = game.leaderboard.rank("lua_best", id)
    r.unranked = game.leaderboard.rank("lua_best", "nobody")
    r.around = game.leaderboard.around("lua_best", id, 1)
    game.send(id, r)
  end
  if input.economy then
    local r = {}
    r.grant = game.economy.grant(id, "gold", 50.9, "quest")
    r.debit = game.economy.debit(id, "gold", 20)
    r.short = game.economy.debit(id, "gold", 1000)
    r.purchase = game.economy.purchase(id, "lua_potion")
    r.inactive = game.economy.purchase(id, "nope")
    r.balance = game.economy.balance(id)
    r.bad = game.economy.grant(id, "gold")
    game.send(id, r)
  end
  if input.chat then
    game.send(id, {
      sent = game.chat.send("global:lobby", "bot_announcer", "from lua"),
      bad_channel = game.chat.send("nope", id, "x"),
      bad = game.chat.send(1),
    })
  end
  if input.notify then
    local r = {}
    r.one = game.notify(id, "quest_done", "Quest complete", { xp = 50 })
    r.many = game.notify_many({ id, id, "nobody" }, "event", "Event starts")
    r.bad_data = game.notify(id, "x", "y", 5)
    r.bad = game.notify(id)
    r.unknown = game.notify("nobody", "x", "y")
    game.send(id, r)
  end
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
  if input.hostile then
    hostile[input.hostile](input)
    game.send(id, { hostile = input.hostile, survived = true })
  end
  if input.cycle then state.cycle = true end
  if input.fan_out then state.fan_out = true end
  if input.calm then state.cycle = nil end
  if input.spin then
    while true do end
  end
  if input.bomb then
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end
  end
  return state
end
