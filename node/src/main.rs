//! The `ossa` binary: see `ossa --help`.

/// jemalloc instead of glibc's malloc: a node allocates and frees many small buffers per
/// request (HTTP, JSON, Raft entries), and malloc and free showed among a busy leader's top
/// costs under `ossa bench commit`. With jemalloc, 256 clients commit ~20% more writes a
/// second (12.7-13.3k against 10.4-11.6k), and a node's memory stays where it was (mimalloc,
/// as fast, doubled it).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    ossa_node::cli::main()
}
