//! Fuzz target: see [`ossa_node_fuzz::tlog_proof`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ossa_node_fuzz::tlog_proof(data);
});
