//! `lua_convert`: see `asobi_server::lua::fuzzing::lua_convert`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    asobi_server::lua::fuzzing::lua_convert(data);
});
