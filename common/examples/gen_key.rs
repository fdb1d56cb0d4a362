//! Generates a key pair exactly as the controller does and writes `tls.key` (PKCS#1
//! PEM) and `tls.crt` into a directory. Used to make `examples/`; also handy to
//! pre-create a key for "bring your own key" setups.
//!
//! cargo run --release -p sealed-common --example gen_key -- DIR [BITS] [COMMON_NAME] [DAYS]

use sealed_common::keys::{CertificateSpec, generate_key_pair, private_key_to_pkcs1_pem};
use std::time::{Duration, SystemTime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        return Err("usage: gen_key DIR [BITS=4096] [COMMON_NAME=] [DAYS=3650]".into());
    };
    let bits: usize = args.get(1).map_or(Ok(4096), |b| b.parse())?;
    let common_name = args.get(2).cloned().unwrap_or_default();
    let days: u64 = args.get(3).map_or(Ok(3650), |d| d.parse())?;
    let spec = CertificateSpec {
        common_name,
        not_before: SystemTime::now(),
        validity: Duration::from_secs(days * 24 * 3600),
    };
    let pair = generate_key_pair(bits, &spec)?;
    std::fs::create_dir_all(dir)?;
    let key_path = std::path::Path::new(dir).join("tls.key");
    std::fs::write(
        &key_path,
        private_key_to_pkcs1_pem(&pair.private_key)?.as_bytes(),
    )?;
    std::fs::write(
        std::path::Path::new(dir).join("tls.crt"),
        pair.certificate.to_pem(),
    )?;
    println!(
        "{} written; fingerprint {}",
        key_path.display(),
        pair.certificate.fingerprint()
    );
    Ok(())
}
