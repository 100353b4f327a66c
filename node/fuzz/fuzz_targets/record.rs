//! Fuzz target: see [`ossa_node_fuzz::record`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ossa_node_fuzz::record(data);
});
