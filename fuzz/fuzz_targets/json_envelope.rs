//! `json_envelope`: see `asobi_core::fuzzing::json_envelope`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    asobi_core::fuzzing::json_envelope(data);
});
