//! The `trailwatch` command: a thin layer over the library (argument parsing, exit codes).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::run(cli::Cli::parse())
}
