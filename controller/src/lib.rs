//! The Sealed Secrets controller as a library, so tests can drive its parts.

pub mod api_error;
pub mod backoff;
pub mod flags;
pub mod http;
pub mod keys;
pub mod leader;
pub mod logging;
pub mod metrics;
pub mod reconcile;
pub mod run;
