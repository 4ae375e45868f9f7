#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ishara::fuzzing::template(data));
