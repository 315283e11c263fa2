#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shmlane_fuzz::mpmc_ops(data));
