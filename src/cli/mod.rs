//! The command line: what the binary adds to the library (argument types, terminal output).

pub mod progress;
