//! The `kbsearch` command: parses the flags, sets up logging and runs one command of [`cli`],
//! printing its error, with context, if it fails.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

/// mimalloc instead of the system allocator: under load the service's requests allocate and free
/// from several threads at once, and glibc's malloc took a tenth of the service's CPU
/// (`/api/deflect` at 64 connections, measured with perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service says where it listens and when it is ready; the other commands stay quiet.
    let default_filter = match cli.command {
        Command::Serve(_) | Command::Preview(_) => "warn,kbsearch=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let outcome = match cli.command {
        Command::Serve(args) => cli::serve::run(args),
        Command::Preview(args) => cli::preview::run(args),
        Command::Index(args) => cli::index::run(args),
        Command::Search(args) => cli::search::run(args),
        Command::Check(args) => cli::check::run(args),
        Command::Deflect(args) => cli::deflect::run(args),
        Command::Eval(args) => cli::eval::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
