#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ostrom_protocol::fuzz_checks::name_record(data));
