//! `server_frames`: see `asobi_core::fuzzing::server_frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    asobi_core::fuzzing::server_frames(data);
});
