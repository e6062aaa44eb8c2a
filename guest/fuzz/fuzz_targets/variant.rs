#![no_main]
// The invariants live in imgbed_policy::check, shared with the regression tests.
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgbed_policy::check::run("variant", data));
