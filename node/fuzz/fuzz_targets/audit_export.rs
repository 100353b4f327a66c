//! Fuzz target: see [`ossa_node_fuzz::audit_export`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ossa_node_fuzz::audit_export(data);
});
