//! The command line: clap definitions (`defs`) and their translation into the plain
//! values the rest of kubeseal takes (`hiargs`). Only `main` uses this module; the
//! lower layers never see a clap type, so nothing here is imported back.

mod defs;
mod hiargs;

pub use defs::{Cli, Command, Flags, KeysVerb};
