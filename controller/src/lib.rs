//! The Sealed Secrets controller as a library, so tests can drive its parts.

pub mod flags;
pub mod keys;
pub mod logging;
pub mod reconcile;
pub mod run;
