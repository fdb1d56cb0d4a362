//! `kubeseal reencrypt --recovery-private-key KEY...`: the files are opened with keys
//! given on the command line and sealed again for other certificates, with no
//! controller: moving a repository to another cluster, or adding an escrow key.
//! Plaintext stays in memory (wiped when dropped) and never reaches the disk.

use crate::modes::recovery_unseal::load_keys;
use crate::modes::{Options, read_certificate};
use crate::online::Connection;
use anyhow::{Result, bail};
use sealed_common::crypto::RsaBudget;
use sealed_common::reseal::{ResealError, Resealed, add_recipients_to, reseal_for};
use sealed_common::{RsaPrivateKey, RsaPublicKey, SealedSecret};

/// Whom to seal for.
#[derive(Debug)]
pub enum Target {
    /// `--cert` and `--recipient`: exactly these keys, the first one alone giving
    /// upstream's layout.
    SealFor(Vec<RsaPublicKey>),
    /// `--add-recipient`: these keys besides the ones already there.
    Add(Vec<RsaPublicKey>),
}

#[derive(Debug)]
pub struct Offline {
    keys: Vec<RsaPrivateKey>,
    target: Target,
}

/// The offline flags of `kubeseal reencrypt`, as plain values.
#[derive(Debug, Default)]
pub struct OfflineFlags {
    pub private_keys: Vec<String>,
    pub cert: Option<String>,
    pub recipients: Vec<String>,
    pub add_recipients: Vec<String>,
}

impl OfflineFlags {
    fn given(&self) -> bool {
        let some = |list: &[String]| list.iter().any(|s| !s.is_empty());
        some(&self.private_keys)
            || self.cert.as_deref().is_some_and(|c| !c.is_empty())
            || some(&self.recipients)
            || some(&self.add_recipients)
    }
}

impl Offline {
    /// The offline resealer the flags ask for; `None` when none of them is given (the
    /// controller re-encrypts). Certificate URLs are fetched with `connection`'s
    /// request timeout.
    pub fn from_flags(flags: OfflineFlags, connection: &Connection) -> Result<Option<Offline>> {
        if !flags.given() {
            return Ok(None);
        }
        let keys: Vec<String> = flags
            .private_keys
            .into_iter()
            .filter(|k| !k.is_empty())
            .collect();
        if keys.is_empty() {
            bail!(
                "--cert, --recipient and --add-recipient re-encrypt offline and need --recovery-private-key KEY: the keys that open the files"
            );
        }
        let options = Options {
            connection: connection.clone(),
            ..Options::default()
        };
        let read = |sources: &[String], flag: &str| -> Result<Vec<RsaPublicKey>> {
            sources
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| read_certificate(s, flag, &options).map(|c| c.public_key().clone()))
                .collect()
        };
        let cert = flags.cert.filter(|c| !c.is_empty());
        let mut seal_for = read(cert.as_slice(), "--cert")?;
        seal_for.extend(read(&flags.recipients, "--recipient")?);
        let add = read(&flags.add_recipients, "--add-recipient")?;
        let target = match (seal_for.is_empty(), add.is_empty()) {
            (false, true) if cert.is_some() => Target::SealFor(seal_for),
            (false, true) => bail!(
                "--recipient needs --cert: the certificate of the cluster the files are for (use --add-recipient to add a key to what is there)"
            ),
            (true, false) => Target::Add(add),
            (true, true) => bail!(
                "--recovery-private-key re-encrypts offline: say for whom with --cert CERT [--recipient CERT]... or --add-recipient CERT..."
            ),
            (false, false) => bail!(
                "--add-recipient keeps the recipients already there; do not combine it with --cert or --recipient"
            ),
        };
        Ok(Some(Offline {
            keys: load_keys(&keys)?,
            target,
        }))
    }

    /// One SealedSecret sealed for the target, or why not (one line, naming it).
    pub fn rotate(&self, original: &SealedSecret) -> Result<SealedSecret, String> {
        let keys: Vec<&RsaPrivateKey> = self.keys.iter().collect();
        let budget = RsaBudget::default();
        let done: Result<Resealed, ResealError> = match &self.target {
            Target::SealFor(to) => {
                let to: Vec<&RsaPublicKey> = to.iter().collect();
                reseal_for(original, &keys, &to, &budget)
            }
            Target::Add(new) => {
                let new: Vec<&RsaPublicKey> = new.iter().collect();
                add_recipients_to(original, &keys, &new, &budget)
            }
        };
        done.map(|r| r.sealed)
            .map_err(|e| format!("unable to rotate secret: {} ({e})", original.display_name()))
    }
}
