// Defold glue: registers the `asobi_native` Lua module (asobi_lua.cpp) in every script
// context. The game requires "asobi.asobi" and calls client.update() from a script's update(),
// so callbacks run on the main thread.
#define EXTENSION_NAME Asobi
#define LIB_NAME "asobi"
#define MODULE_NAME "asobi_native"

#include <dmsdk/sdk.h>

extern "C" int luaopen_asobi_native(lua_State* L);

static dmExtension::Result AppInitializeAsobi(dmExtension::AppParams* params) {
  return dmExtension::RESULT_OK;
}

static dmExtension::Result InitializeAsobi(dmExtension::Params* params) {
  lua_State* L = params->m_L;
  luaopen_asobi_native(L);  // sets package.loaded.asobi_native
  lua_pop(L, 1);
  return dmExtension::RESULT_OK;
}

static dmExtension::Result AppFinalizeAsobi(dmExtension::AppParams* params) {
  return dmExtension::RESULT_OK;
}

static dmExtension::Result FinalizeAsobi(dmExtension::Params* params) {
  return dmExtension::RESULT_OK;
}

DM_DECLARE_EXTENSION(EXTENSION_NAME, LIB_NAME, AppInitializeAsobi, AppFinalizeAsobi, InitializeAsobi, 0, 0, FinalizeAsobi)
