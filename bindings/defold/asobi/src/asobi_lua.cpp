// The `asobi_native` Lua module: libasobi's C ABI as Lua 5.1 functions (the API Defold's
// LuaJIT exposes). Idiomatic callbacks live in asobi.lua above it.
//
// Rules: every Lua argument is checked (luaL_check*) before any libasobi call, and no Lua
// function is ever called from here, so a Lua error never unwinds across Rust frames.
// Failures are returned as `nil, message` — nothing here raises once libasobi is called.
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

#include "asobi.h"

namespace {

const char* const kClientMeta = "asobi.client";

struct Box {
  AsobiClient* client;
};

AsobiClient* check_client(lua_State* L) {
  Box* box = static_cast<Box*>(luaL_checkudata(L, 1, kClientMeta));
  return box->client;  // may be NULL after free(): libasobi answers NULL_ARGUMENT
}

// Pushes `nil, error` for a failed status; returns the number of results.
int fail(lua_State* L, AsobiStatus status) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", asobi_status_name(status), asobi_last_error());
  return 2;
}

int request_result(lua_State* L, AsobiStatus status, uint64_t id) {
  if (status != ASOBI_STATUS_OK) return fail(L, status);
  lua_pushnumber(L, static_cast<lua_Number>(id));
  return 1;
}

int status_result(lua_State* L, AsobiStatus status) {
  if (status != ASOBI_STATUS_OK) return fail(L, status);
  lua_pushboolean(L, 1);
  return 1;
}

const char* opt_string(lua_State* L, int index) {
  return lua_isnoneornil(L, index) ? nullptr : luaL_checkstring(L, index);
}

int l_new(lua_State* L) {
  const char* url = luaL_checkstring(L, 1);
  AsobiClient* client = nullptr;
  AsobiStatus s = asobi_client_new(url, &client);
  if (s != ASOBI_STATUS_OK) return fail(L, s);
  Box* box = static_cast<Box*>(lua_newuserdata(L, sizeof(Box)));
  box->client = client;
  luaL_getmetatable(L, kClientMeta);
  lua_setmetatable(L, -2);
  return 1;
}

int l_free(lua_State* L) {
  Box* box = static_cast<Box*>(luaL_checkudata(L, 1, kClientMeta));
  if (box->client) asobi_client_free(box->client);
  box->client = nullptr;
  return 0;
}

int l_use_quic(lua_State* L) {
  AsobiClient* c = check_client(L);
  const char* addr = luaL_checkstring(L, 2);
  const char* pin = opt_string(L, 3);
  return status_result(L, asobi_client_use_quic(c, addr, pin));
}

int l_register(lua_State* L) {
  AsobiClient* c = check_client(L);
  const char* user = luaL_checkstring(L, 2);
  const char* pass = luaL_checkstring(L, 3);
  uint64_t id = 0;
  AsobiStatus s = asobi_auth_register(c, user, pass, &id);
  return request_result(L, s, id);
}

int l_login(lua_State* L) {
  AsobiClient* c = check_client(L);
  const char* user = luaL_checkstring(L, 2);
  const char* pass = luaL_checkstring(L, 3);
  uint64_t id = 0;
  AsobiStatus s = asobi_auth_login(c, user, pass, &id);
  return request_result(L, s, id);
}

int l_guest(lua_State* L) {
  AsobiClient* c = check_client(L);
  const char* device = luaL_checkstring(L, 2);
  const char* secret = luaL_checkstring(L, 3);
  uint64_t id = 0;
  AsobiStatus s = asobi_auth_guest(c, device, secret, &id);
  return request_result(L, s, id);
}

int l_rest(lua_State* L) {
  AsobiClient* c = check_client(L);
  const char* method = luaL_checkstring(L, 2);
  const char* path = luaL_checkstring(L, 3);
  const char* body = opt_string(L, 4);
  uint64_t id = 0;
  AsobiStatus s = asobi_rest_call(c, method, path, body, &id);
  return request_result(L, s, id);
}

int l_connect(lua_State* L) {
  AsobiClient* c = check_client(L);
  uint64_t id = 0;
  AsobiStatus s = asobi_realtime_connect(c, &id);
  return request_result(L, s, id);
}

int l_request(lua_State* L) {
  AsobiClient* c = check_client(L);
  const char* type = luaL_checkstring(L, 2);
  const char* payload = opt_string(L, 3);
  uint64_t id = 0;
  AsobiStatus s = asobi_realtime_request(c, type, payload, &id);
  return request_result(L, s, id);
}

int l_send(lua_State* L) {
  AsobiClient* c = check_client(L);
  const char* type = luaL_checkstring(L, 2);
  const char* payload = opt_string(L, 3);
  return status_result(L, asobi_realtime_send(c, type, payload));
}

int l_matchmaker_add(lua_State* L) {
  AsobiClient* c = check_client(L);
  const char* mode = luaL_checkstring(L, 2);
  const char* properties = opt_string(L, 3);
  uint64_t id = 0;
  AsobiStatus s = asobi_matchmaker_add(c, mode, properties, &id);
  return request_result(L, s, id);
}

int l_close(lua_State* L) {
  AsobiClient* c = check_client(L);
  uint64_t id = 0;
  AsobiStatus s = asobi_realtime_close(c, &id);
  return request_result(L, s, id);
}

void set_string(lua_State* L, const char* key, const char* value) {
  lua_pushstring(L, value);
  lua_setfield(L, -2, key);
}

const char* kind_name(AsobiEventKind kind) {
  switch (kind) {
    case ASOBI_EVENT_KIND_RESPONSE: return "response";
    case ASOBI_EVENT_KIND_FAILURE: return "failure";
    case ASOBI_EVENT_KIND_CONNECTED: return "connected";
    case ASOBI_EVENT_KIND_DISCONNECTED: return "disconnected";
    case ASOBI_EVENT_KIND_MESSAGE: return "message";
    case ASOBI_EVENT_KIND_CLOSED: return "closed";
    default: return "none";
  }
}

// poll(client) -> event table, or false when nothing is waiting, or nil, error.
int l_poll(lua_State* L) {
  AsobiClient* c = check_client(L);
  AsobiEvent ev;
  AsobiStatus s = asobi_client_poll(c, &ev);
  if (s != ASOBI_STATUS_OK) return fail(L, s);
  if (ev.kind == ASOBI_EVENT_KIND_NONE) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_createtable(L, 0, 8);
  set_string(L, "kind", kind_name(ev.kind));
  lua_pushnumber(L, static_cast<lua_Number>(ev.request_id));
  lua_setfield(L, -2, "request_id");
  set_string(L, "type", ev.type_name);
  set_string(L, "payload", ev.payload);
  set_string(L, "code", ev.code);
  set_string(L, "message", ev.message);
  lua_pushinteger(L, ev.status);
  lua_setfield(L, -2, "status");
  lua_pushboolean(L, ev.flag);
  lua_setfield(L, -2, "flag");
  return 1;
}

int l_match_state_number(lua_State* L) {
  AsobiClient* c = check_client(L);
  const char* pointer = luaL_checkstring(L, 2);
  double value = 0;
  AsobiStatus s = asobi_match_state_number(c, pointer, &value);
  if (s != ASOBI_STATUS_OK) return fail(L, s);
  lua_pushnumber(L, value);
  return 1;
}

// entities(client) -> array of {id, kind, x, y, zone_x, zone_y}, or nil, error.
int l_entities(lua_State* L) {
  AsobiClient* c = check_client(L);
  size_t count = 0;
  std::vector<AsobiEntity> buf;
  AsobiStatus s = asobi_world_entities(c, nullptr, 0, &count);
  for (int tries = 0; s == ASOBI_STATUS_BUFFER_TOO_SMALL && tries < 4; tries++) {
    buf.resize(count + 8);
    s = asobi_world_entities(c, buf.data(), buf.size(), &count);
  }
  if (s != ASOBI_STATUS_OK) return fail(L, s);
  lua_createtable(L, static_cast<int>(count), 0);
  for (size_t i = 0; i < count; i++) {
    const AsobiEntity& e = buf[i];
    lua_createtable(L, 0, 6);
    set_string(L, "id", e.id);
    set_string(L, "kind", e.kind);
    if (e.has_position) {
      lua_pushnumber(L, e.x);
      lua_setfield(L, -2, "x");
      lua_pushnumber(L, e.y);
      lua_setfield(L, -2, "y");
    }
    lua_pushnumber(L, static_cast<lua_Number>(e.zone_x));
    lua_setfield(L, -2, "zone_x");
    lua_pushnumber(L, static_cast<lua_Number>(e.zone_y));
    lua_setfield(L, -2, "zone_y");
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return 1;
}

int l_client_count(lua_State* L) {
  lua_pushnumber(L, static_cast<lua_Number>(asobi_client_count()));
  return 1;
}

const luaL_Reg kFunctions[] = {
    {"new", l_new},
    {"free", l_free},
    {"use_quic", l_use_quic},
    {"register", l_register},
    {"login", l_login},
    {"guest", l_guest},
    {"rest", l_rest},
    {"connect", l_connect},
    {"request", l_request},
    {"send", l_send},
    {"matchmaker_add", l_matchmaker_add},
    {"close", l_close},
    {"poll", l_poll},
    {"match_state_number", l_match_state_number},
    {"entities", l_entities},
    {"client_count", l_client_count},
    {nullptr, nullptr},
};

}  // namespace

extern "C" int luaopen_asobi_native(lua_State* L) {
  if (asobi_abi_version() != ASOBI_ABI_VERSION) {
    return luaL_error(L, "libasobi ABI %d, this module was built for %d", asobi_abi_version(),
                      ASOBI_ABI_VERSION);
  }
  luaL_newmetatable(L, kClientMeta);
  lua_pushcfunction(L, l_free);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_register(L, "asobi_native", kFunctions);
  return 1;
}
