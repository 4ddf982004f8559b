//! `binary_frames`: see `asobi_core::fuzzing::binary_frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    asobi_core::fuzzing::binary_frames(data);
});
