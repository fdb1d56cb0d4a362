//! `--fetch-cert`: print the sealing certificate, for later use with `--cert`.

use super::{cert_source, request_timeout};
use crate::flags::Flags;
use crate::io::read_cert_source;
use anyhow::Result;

pub fn run(flags: &Flags) -> Result<Vec<u8>> {
    let source = cert_source(flags)?;
    // Printed as fetched, like upstream, so that it can be compared byte for byte.
    read_cert_source(source, request_timeout(flags)?)
}
