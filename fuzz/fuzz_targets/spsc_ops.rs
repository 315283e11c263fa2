#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shmlane_fuzz::spsc_ops(data));
