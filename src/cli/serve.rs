//! `kbsearch serve`: the HTTP service over the content folder, which it keeps indexed as writers
//! edit it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use kbsearch::config::{Overrides, WatchMode};
use kbsearch::server::Mode;

use super::{ModelArg, Paths, run_service};

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    paths: Paths,
    #[command(flatten)]
    model: ModelArg,
    /// Folder for events and analytics [default: data].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    bind: Option<String>,
    /// How to follow changes of the content folder: native (falls back to poll when the OS
    /// cannot watch), poll (network file systems, containers), or off [default: native].
    #[arg(long, value_name = "MODE")]
    watch: Option<WatchMode>,
    /// PostgreSQL for the events, shared by several replicas:
    /// postgres://user:password@host:port/database [default: SQLite in the data folder].
    #[arg(long, value_name = "URL")]
    events_url: Option<String>,
}

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let config = args.paths.config(args.model.over(Overrides {
        data: args.data.clone(),
        bind: args.bind.clone(),
        watch: args.watch,
        events_url: args.events_url.clone(),
        ..Overrides::default()
    }))?;
    run_service(config, Mode::Serve, false)?;
    Ok(ExitCode::SUCCESS)
}
