//! `kbsearch preview`: the writers' preview on 127.0.0.1, over a temporary index and event store
//! that are removed on exit.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use kbsearch::config::{Config, Overrides, WatchMode};
use kbsearch::server::Mode;

use super::{ModelArg, run_service};

#[derive(Args)]
pub struct PreviewArgs {
    /// Content folder of markdown articles [default: kb].
    #[arg(long)]
    kb: Option<PathBuf>,
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8090)]
    port: u16,
    /// Open the preview in the default browser.
    #[arg(long)]
    open: bool,
    /// Configuration file [default: kbsearch.toml when present].
    #[arg(long)]
    config: Option<PathBuf>,
    /// How to follow changes: native, poll or off [default: native].
    #[arg(long, value_name = "MODE")]
    watch: Option<WatchMode>,
    #[command(flatten)]
    model: ModelArg,
}

pub fn run(args: PreviewArgs) -> Result<ExitCode> {
    // Never the production index or event store: both live in a folder removed on exit.
    let scratch = tempfile::Builder::new()
        .prefix("kbsearch-preview-")
        .tempdir()
        .context("creating the preview's temporary folder")?;
    let config = Config::load(
        args.config.as_deref(),
        &args.model.over(Overrides {
            kb: args.kb.clone(),
            index: Some(scratch.path().join("index")),
            data: Some(scratch.path().join("data")),
            bind: Some(format!("127.0.0.1:{}", args.port)),
            watch: args.watch,
            ..Overrides::default()
        }),
    )?;
    anyhow::ensure!(
        config.kb.is_dir(),
        "content folder {} does not exist (use --kb DIR)",
        config.kb.display()
    );
    run_service(config, Mode::Preview, args.open)?;
    drop(scratch);
    Ok(ExitCode::SUCCESS)
}
