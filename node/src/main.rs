//! The `ossa` binary: see `ossa --help`.

fn main() -> std::process::ExitCode {
    ossa_node::cli::main()
}
