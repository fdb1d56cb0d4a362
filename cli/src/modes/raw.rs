//! `--raw`: seal one value, print its base64 and nothing else.

use super::{Options, load_certificate, load_recipients};
use crate::cluster::default_namespace;
use anyhow::{Context, Result, bail};
use sealed_common::Scope;
use sealed_common::codec::read_limited;
use sealed_common::recipients::seal_value_for;
use std::io::IsTerminal;
use zeroize::Zeroizing;

/// `--from-file [key=]path`: the item name is optional and unused with `--raw`.
fn from_file_path(spec: &str) -> &str {
    spec.split_once('=').map_or(spec, |(_, path)| path)
}

pub fn run(options: &Options) -> Result<Vec<u8>> {
    let cert = load_certificate(options)?;
    let recipients = load_recipients(options)?;
    let scope = options.scope.unwrap_or_default();
    let mut namespace = String::new();
    if scope != Scope::ClusterWide {
        namespace = default_namespace(&options.connection.kube)?.unwrap_or_default();
        if namespace.is_empty() {
            bail!("must provide the --namespace flag with --raw and --scope {scope}");
        }
    }
    let name = options.name.clone().unwrap_or_default();
    if scope == Scope::Strict && name.is_empty() {
        bail!("must provide the --name flag with --raw and --scope {scope}");
    }
    let data = Zeroizing::new(match options.from_file.as_slice() {
        [] => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("(tty detected: expecting a secret to encrypt in stdin)");
            }
            read_limited(stdin.lock()).context("cannot read standard input")?
        }
        [one] => {
            let path = from_file_path(one);
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read --from-file {path:?}"))?;
            read_limited(file).with_context(|| format!("cannot read --from-file {path:?}"))?
        }
        _ => bail!("must provide only one --from-file when encrypting a single item with --raw"),
    });
    let label = scope.label(&namespace, &name);
    let mut keys = vec![cert.public_key()];
    keys.extend(recipients.iter().map(|c| c.public_key()));
    let sealed = seal_value_for(&keys, &data, &label).context("encryption failed")?;
    Ok(sealed.into_bytes())
}
