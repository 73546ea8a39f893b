//! Progress for long work (building the index of thousands of files), on stderr. indicatif hides
//! the bar when stderr is not a terminal, so services under a supervisor and tests stay quiet.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar with rate and estimate; set its length and message as the work becomes known.
pub fn bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
