-- The `asobi` Lua module for Defold: an Asobi client with callbacks, over the native
-- `asobi_native` module (libasobi). Callbacks run inside `client.update()`, which the game
-- calls from a script's update() — on Defold's main thread, never from a library thread.
--
--   local asobi = require("asobi")
--   local client = asobi.create("http://localhost:8080")
--   client.auth.login("player1", "secret123", function(session, err) ... end)
--   local rt = client.realtime
--   rt.on("match_state", function(state) ... end)
--   rt.connect(function(ok, err) rt.matchmaker_add("arena") end)
--   function update(self, dt) client.update() end

local native = require("asobi_native")
local json = json or require("cjson") -- Defold has a global `json`; plain Lua uses lua-cjson

local M = {}

local function decode(text)
  if text == nil or text == "" or text == "null" then return nil end
  local ok, value = pcall(json.decode, text)
  if ok then return value end
  return nil
end

local function encode(value)
  if value == nil then return nil end
  if type(value) == "string" then return value end
  return json.encode(value)
end

--- Creates a client for the server at `http_url`. Returns the client, or nil and an error.
function M.create(http_url)
  local handle, err = native.new(http_url)
  if not handle then return nil, err end

  local client = { auth = {}, realtime = {}, matchmaker = {} }
  local pending = {} -- request id -> callback(result, err)
  local handlers = {} -- "match_state" -> { fn, ... }

  -- Registers `done` for a started request; a request that could not start calls it at once.
  local function track(id, err, done)
    if not id then
      if done then done(nil, err) end
      return nil, err
    end
    if done then pending[id] = done end
    return id
  end

  local function dispatch(name, ...)
    local list = handlers[name]
    if not list then return end
    for _, fn in ipairs(list) do fn(...) end
  end

  --- Polls every waiting event and runs its callbacks. Call it once per frame.
  function client.update()
    local count = 0
    while true do
      local ev, err = native.poll(handle)
      if not ev then
        if err then dispatch("error", err) end
        return count
      end
      count = count + 1
      if ev.kind == "response" or ev.kind == "failure" then
        local done = pending[ev.request_id]
        pending[ev.request_id] = nil
        if done then
          if ev.kind == "response" then
            done(decode(ev.payload) or true, nil)
          else
            done(nil, ev.code, decode(ev.payload))
          end
        end
      else
        -- "match.state" -> "match_state"; connection events are "connected",
        -- "disconnected", "closed".
        local name = ev.kind == "message" and ev.type:gsub("%.", "_") or ev.kind
        dispatch(name, decode(ev.payload), ev)
      end
    end
  end

  --- Switches realtime to QUIC at `addr` ("host:port"), pinning the certificate fingerprint.
  function client.use_quic(addr, pin_sha256)
    return native.use_quic(handle, addr, pin_sha256)
  end

  --- Any REST call below /api/v1; `body` is a table, a JSON string or nil.
  function client.rest(method, path, body, done)
    local id, err = native.rest(handle, method, path, encode(body))
    return track(id, err, done)
  end

  --- Frees the client (also done by the garbage collector).
  function client.destroy()
    native.free(handle)
    pending, handlers = {}, {}
  end

  function client.auth.register(username, password, done)
    local id, err = native.register(handle, username, password)
    return track(id, err, done)
  end

  function client.auth.login(username, password, done)
    local id, err = native.login(handle, username, password)
    return track(id, err, done)
  end

  function client.auth.guest(device_id, device_secret, done)
    local id, err = native.guest(handle, device_id, device_secret)
    return track(id, err, done)
  end

  local rt = client.realtime

  --- Calls `fn(payload_table, event)` for every pushed message of `name` ("match_state",
  --- "match_matched", "world_tick"…) and for "connected", "disconnected", "closed".
  function rt.on(name, fn)
    handlers[name] = handlers[name] or {}
    table.insert(handlers[name], fn)
  end

  function rt.connect(done)
    local id, err = native.connect(handle)
    return track(id, err, done)
  end

  function rt.request(type_name, payload, done)
    local id, err = native.request(handle, type_name, encode(payload))
    return track(id, err, done)
  end

  function rt.send(type_name, payload)
    return native.send(handle, type_name, encode(payload))
  end

  function rt.matchmaker_add(mode, properties, done)
    local id, err = native.matchmaker_add(handle, mode, encode(properties))
    return track(id, err, done)
  end

  function rt.send_match_input(input)
    return native.send(handle, "match.input", encode(input))
  end

  function rt.close(done)
    local id, err = native.close(handle)
    return track(id, err, done)
  end

  --- A number from the last match state, by JSON pointer ("/players/<id>/x").
  function rt.match_state_number(pointer)
    return native.match_state_number(handle, pointer)
  end

  --- The world's entities: { {id, kind, x, y, zone_x, zone_y}, ... }.
  function rt.entities()
    return native.entities(handle)
  end

  client.matchmaker.add = rt.matchmaker_add
  return client
end

--- How many native clients are alive (for leak checks).
M.client_count = native.client_count

return M
