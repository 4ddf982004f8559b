-- busted specs of the Defold `asobi` module (asobi.lua over the native module built from
-- asobi/src/asobi_lua.cpp) against a live server (bindings/run-tests sets the env).
local asobi = require("asobi")

local HTTP = os.getenv("ASOBI_TEST_HTTP")
local QUIC = os.getenv("ASOBI_TEST_QUIC")
local PIN = os.getenv("ASOBI_TEST_PIN")

local socket_sleep = function(ms)
  -- a frame's pause without extra modules
  local t = os.clock() + ms / 1000
  while os.clock() < t do end
end

-- Runs frames until `done()` or ~10 s.
local function frames(clients, done)
  local deadline = os.time() + 10
  while not done() and os.time() <= deadline do
    for _, c in ipairs(clients) do c.update() end
    socket_sleep(5)
  end
  return done()
end

local n = 0
local function name(prefix)
  n = n + 1
  return prefix .. "_" .. tostring(os.time() % 100000) .. "_" .. math.random(1, 1e6) .. "_" .. n
end

-- A signed-up, connected client and its player id.
local function player(over_quic)
  local client = assert(asobi.create(HTTP))
  if over_quic then assert(client.use_quic(QUIC, PIN)) end
  local session
  local why
  client.auth.register(name("lua"), "correct-horse-battery", function(s, e) session, why = s, e end)
  assert(frames({ client }, function() return session ~= nil or why ~= nil end), "sign-up")
  assert(session, "sign-up: " .. tostring(why))
  local connected = false
  client.realtime.on("connected", function() connected = true end)
  client.realtime.connect()
  assert(frames({ client }, function() return connected end), "connect")
  return client, session.player_id
end

describe("asobi (Defold module)", function()
  it("logs in, and reports a wrong password with the server's code", function()
    local client = assert(asobi.create(HTTP))
    local user = name("lualogin")
    local registered, result, err
    client.auth.register(user, "correct-horse-battery", function(s) registered = s end)
    assert.is_true(frames({ client }, function() return registered ~= nil end), "register")
    local done = false
    client.auth.login(user, "wrong-password", function(s, e) result, err, done = s, e, true end)
    assert.is_true(frames({ client }, function() return done end))
    assert.is_nil(result)
    assert.are.equal("auth.invalid_credentials", err)
    done = false
    client.auth.login(user, "correct-horse-battery", function(s, e) result, err, done = s, e, true end)
    assert.is_true(frames({ client }, function() return done end))
    assert.are.equal(registered.player_id, result.player_id)
    client.destroy()
  end)

  it("matchmakes two clients and delivers match_state after input", function()
    local a, a_id = player(true)
    local b, b_id = player(false)
    local matched = 0
    a.realtime.on("match_matched", function() matched = matched + 1 end)
    b.realtime.on("match_matched", function(m)
      matched = matched + 1
      assert.is_truthy(m.players)
    end)
    a.realtime.matchmaker_add("duel")
    b.matchmaker.add("duel", { skill = 3 })
    assert.is_true(frames({ a, b }, function() return matched == 2 end))

    local seen
    b.realtime.on("match_state", function(state)
      local p = state.players and state.players[a_id]
      if p and p.x == 4 then seen = p end
    end)
    assert.is_true(a.realtime.send_match_input({ dx = 4, dy = 1 }))
    assert.is_true(frames({ a, b }, function() return seen ~= nil end))
    assert.are.equal(1, seen.y)
    assert.are.equal(4, b.realtime.match_state_number("/players/" .. a_id .. "/x"))
    assert.is_truthy(b_id)
    a.destroy()
    b.destroy()
  end)

  it("answers misuse with errors, never raising", function()
    local bad, err = asobi.create("not a url")
    assert.is_nil(bad)
    assert.is_truthy(err:find("INVALID_ARGUMENT"))
    local client = assert(asobi.create(HTTP))
    local ok, e = client.realtime.send_match_input({ dx = 1 })
    assert.is_nil(ok)
    assert.is_truthy(e:find("NOT_CONNECTED"))
    local id, e2 = client.realtime.request("no.such.type", nil)
    assert.is_nil(id)
    assert.is_truthy(e2:find("INVALID_ARGUMENT"))
    client.destroy()
    -- A destroyed client answers with an error too.
    local gone, e3 = client.realtime.connect()
    assert.is_nil(gone)
    assert.is_truthy(e3:find("NULL_ARGUMENT"))
  end)

  it("reads world entities", function()
    local client, id = player(true)
    local joined
    client.realtime.request("world.find_or_create", { mode = "plains" }, function(w) joined = w end)
    assert.is_true(frames({ client }, function() return joined ~= nil end))
    local me
    assert.is_true(frames({ client }, function()
      for _, e in ipairs(client.realtime.entities() or {}) do
        if e.id == id then me = e end
      end
      return me ~= nil
    end))
    assert.are.equal(10, me.x)
    assert.are.equal("player", me.kind)
    client.destroy()
  end)

  it("shuts down cleanly", function()
    local client = player(false)
    local closed = false
    client.realtime.on("closed", function() closed = true end)
    client.realtime.close()
    assert.is_true(frames({ client }, function() return closed end))
    client.destroy()
    collectgarbage()
    assert.are.equal(0, asobi.client_count())
  end)
end)
