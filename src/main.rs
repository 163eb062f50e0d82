//! The `promptctl` command: parse, dispatch, and map errors to exit codes.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
