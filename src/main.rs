//! The `accord` binary: command line, configuration, logging, then the server.
//! Wiring only; everything else lives in the crates.

mod admin_cli;
mod cli;
mod logging;
mod maintenance_cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
