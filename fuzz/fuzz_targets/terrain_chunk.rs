//! `terrain_chunk`: see `asobi_core::fuzzing::terrain_chunk`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    asobi_core::fuzzing::terrain_chunk(data);
});
