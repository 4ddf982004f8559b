//! The sandbox's deadline hook, a plain C count hook on the VM (the one place the Lua host
//! needs `unsafe`).
//!
//! It raises with `lua_error` and touches no stack slot. mlua's own hooks cannot be used: when
//! one returns an error, mlua `lua_settop`s the interrupted Lua frame to build the error,
//! which runs that frame's pending `__close` methods inside the hook, where Lua has turned
//! hooks off, so a looping `__close` ran forever. Raising from the hook leaves recovery to
//! Lua's own protected calls, which turn hooks back on before they run `__close` methods.
#![allow(unsafe_code)]

use mlua::{Lua, ffi};

use super::sandbox::{Clock, DEADLINE_MARKER};

/// Instructions between two looks at the clock.
const EVERY: std::ffi::c_int = 1000;

/// Installs the hook on `lua`'s main thread (coroutines created later copy it).
pub fn install(lua: &Lua) -> mlua::Result<()> {
    // SAFETY: `lua_sethook` on the VM's own main state, with a hook of the right signature.
    unsafe {
        lua.exec_raw::<()>((), |state| {
            ffi::lua_sethook(state, Some(deadline_hook), ffi::LUA_MASKCOUNT, EVERY)
        })
    }
}

/// Removes it (the server's own Lua code runs without the per-instruction trap).
pub fn remove(lua: &Lua) -> mlua::Result<()> {
    // SAFETY: as in `install`.
    unsafe { lua.exec_raw::<()>((), |state| ffi::lua_sethook(state, None, 0, 0)) }
}

/// Raises the overrun once the running call's [`Clock`] has passed its deadline.
unsafe extern "C-unwind" fn deadline_hook(state: *mut ffi::lua_State, _ar: *mut ffi::lua_Debug) {
    let expired = {
        // SAFETY: `state` is a thread of a VM mlua created (the hook is only set on those).
        let lua = unsafe { Lua::get_or_init_from_ptr(state) };
        matches!(lua.try_app_data_ref::<Clock>(), Ok(Some(clock)) if clock.trip_if_expired())
    }; // Nothing with a destructor lives past here: `lua_error` jumps over this frame.
    if expired {
        // SAFETY: a hook may push a value and raise it as an error.
        unsafe {
            ffi::lua_pushlstring(
                state,
                DEADLINE_MARKER.as_ptr().cast(),
                DEADLINE_MARKER.len(),
            );
            ffi::lua_error(state);
        }
    }
}
