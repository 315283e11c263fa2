#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shmlane_fuzz::pool_ops(data));
