//! `veriflop-prover`: the provider's command line.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
