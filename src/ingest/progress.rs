//! Progress of long work (building the index of thousands of files, running an evaluation).
//! The library only reports it; whoever runs the work decides how to show it: the binary draws
//! a bar on a terminal, services and tests pass [`Silent`].

/// Where long work reports how far it is. Called from worker threads, so it must be `Sync`.
pub trait Progress: Sync {
    /// A new stage of `total` steps begins (0 when the number is not known).
    fn stage(&self, name: &'static str, total: u64);
    /// `steps` more steps of the current stage are done.
    fn advance(&self, steps: u64);
    /// The work is over: clear whatever was shown.
    fn finish(&self);
}

/// Reports nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn stage(&self, _name: &'static str, _total: u64) {}
    fn advance(&self, _steps: u64) {}
    fn finish(&self) {}
}
