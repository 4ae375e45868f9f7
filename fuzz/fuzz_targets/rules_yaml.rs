#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ishara::fuzzing::rules_yaml(data));
