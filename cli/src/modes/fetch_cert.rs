//! `--fetch-cert`: print the sealing certificate, for later use with `--cert`.

use super::Options;
use crate::io::read_cert_source;
use crate::online::{Controller, OFFLINE_SEAL};
use anyhow::Result;

/// Printed as fetched, like upstream, so that it can be compared byte for byte.
pub fn run(options: &Options) -> Result<Vec<u8>> {
    let connection = &options.connection;
    match options.cert() {
        Some(source) => read_cert_source(source, connection.kube.request_timeout()?),
        None => Controller::connect(connection, OFFLINE_SEAL)?.certificate(),
    }
}
