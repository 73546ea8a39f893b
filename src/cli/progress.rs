//! The progress bar of long commands, on stderr. indicatif hides it when stderr is not a
//! terminal, so services under a supervisor and scripted runs stay quiet.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use kbsearch::ingest::progress::Progress;

/// A bar with rate and estimate, drawn for each stage the library reports.
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new() -> Bar {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar(bar)
    }
}

impl Progress for Bar {
    fn stage(&self, name: &'static str, total: u64) {
        self.0.set_message(name);
        self.0.set_length(total);
        self.0.set_position(0);
    }

    fn advance(&self, steps: u64) {
        self.0.inc(steps);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
