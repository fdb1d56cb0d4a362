//! `--fetch-cert`: print the sealing certificate, for later use with `--cert`.

use super::{cert_flag, request_timeout};
use crate::flags::Flags;
use crate::io::read_cert_source;
use crate::online::{Controller, OFFLINE_SEAL};
use anyhow::Result;

/// Printed as fetched, like upstream, so that it can be compared byte for byte.
pub fn run(flags: &Flags) -> Result<Vec<u8>> {
    match cert_flag(flags) {
        Some(source) => read_cert_source(source, request_timeout(flags)?),
        None => Controller::connect(flags, OFFLINE_SEAL)?.certificate(),
    }
}
