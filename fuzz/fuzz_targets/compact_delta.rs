//! `compact_delta`: see `asobi_core::fuzzing::compact_delta`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    asobi_core::fuzzing::compact_delta(data);
});
