//! Fuzz target: see [`ossa_node_fuzz::observation`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ossa_node_fuzz::observation(data);
});
