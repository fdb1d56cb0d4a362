//! Key pairs and certificates: PEM parsing (PKCS#1 and PKCS#8), the sealing
//! certificate, upstream's key fingerprint, and key generation as the upstream
//! controller does it.

use crate::backend::{self, BackendError, RsaPrivateKey, RsaPublicKey};
use pkcs8::der::asn1::{AnyRef, OctetStringRef};
use pkcs8::der::{Decode, Encode};
use pkcs8::spki::{AlgorithmIdentifier, SubjectPublicKeyInfoRef};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_cert::Certificate as X509Certificate;
use zeroize::Zeroizing;

/// PEM block type of a PKCS#1 RSA private key, as upstream writes it.
pub const RSA_PRIVATE_KEY_PEM: &str = "RSA PRIVATE KEY";
/// PEM block type of a PKCS#8 private key.
pub const PKCS8_PRIVATE_KEY_PEM: &str = "PRIVATE KEY";
pub const CERTIFICATE_PEM: &str = "CERTIFICATE";

/// Everything that can be wrong with a key or certificate. No variant holds key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("malformed PEM: {0}")]
    Pem(String),
    #[error(
        "no RSA private key found: expected a PEM block \"RSA PRIVATE KEY\" (PKCS#1) or \"PRIVATE KEY\" (PKCS#8)"
    )]
    NoPrivateKey,
    #[error("the private key is not an RSA key (found {0}); sealed secrets use RSA keys only")]
    PrivateKeyNotRsa(String),
    #[error("invalid RSA private key ({0})")]
    InvalidPrivateKey(String),
    #[error("no certificate found: expected a PEM block \"CERTIFICATE\"")]
    NoCertificate,
    #[error("invalid certificate ({0})")]
    InvalidCertificate(String),
    #[error("expected RSA public key but found {0}")]
    CertificateNotRsa(String),
    #[error("failed to encrypt using an expired certificate on {0}")]
    Expired(String),
    #[error("cannot create the key: {0}")]
    Generate(String),
}

impl From<BackendError> for KeyError {
    fn from(e: BackendError) -> Self {
        KeyError::Generate(e.to_string())
    }
}

/// OID of `rsaEncryption`.
const RSA_ENCRYPTION: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

fn oid_name(oid: &pkcs8::ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.10045.2.1" => "an EC key".to_owned(),
        "1.3.101.112" => "an Ed25519 key".to_owned(),
        "1.3.101.110" => "an X25519 key".to_owned(),
        "1.2.840.10040.4.1" => "a DSA key".to_owned(),
        "1.2.840.113549.1.1.10" => "an RSA-PSS key".to_owned(),
        other => format!("a key with algorithm OID {other}"),
    }
}

/// The PEM parser quotes damaged BEGIN/END lines and headers whole; in a key file those
/// can run into the base64 of the key itself, so only plain labels are repeated.
fn pem_error(e: &pem::PemError) -> KeyError {
    let plain_label =
        |t: &str| t.len() <= 40 && t.bytes().all(|b| b.is_ascii_uppercase() || b == b' ');
    KeyError::Pem(match e {
        pem::PemError::MismatchedTags(begin, end) if plain_label(begin) && plain_label(end) => {
            e.to_string()
        }
        pem::PemError::MismatchedTags(..) => {
            "a BEGIN line does not match its END line (damaged or cut lines?)".to_owned()
        }
        pem::PemError::InvalidHeader(_) => "invalid PEM header line".to_owned(),
        other => other.to_string(),
    })
}

/// Parses the first private key in a PEM document, in PKCS#1 or PKCS#8 form.
/// Other blocks (certificates, parameters) are skipped, as Go's keyutil does.
pub fn parse_private_key_pem(data: &[u8]) -> Result<RsaPrivateKey, KeyError> {
    // Every block's DER, the key's included, is wiped when dropped.
    let blocks: Vec<(String, Zeroizing<Vec<u8>>)> = pem::parse_many(data)
        .map_err(|e| pem_error(&e))?
        .into_iter()
        .map(|b| (b.tag().to_owned(), Zeroizing::new(b.into_contents())))
        .collect();
    for (tag, der) in &blocks {
        match tag.as_str() {
            RSA_PRIVATE_KEY_PEM => return private_key_from_pkcs1_der(der),
            PKCS8_PRIVATE_KEY_PEM => return private_key_from_pkcs8_der(der),
            "EC PRIVATE KEY" => return Err(KeyError::PrivateKeyNotRsa("an EC key".to_owned())),
            "ENCRYPTED PRIVATE KEY" => {
                return Err(KeyError::InvalidPrivateKey(
                    "the key is password-protected; decrypt it first (openssl pkcs8 -in key.pem)"
                        .to_owned(),
                ));
            }
            _ => {}
        }
    }
    Err(KeyError::NoPrivateKey)
}

/// Parses a DER PKCS#1 `RSAPrivateKey`.
pub fn private_key_from_pkcs1_der(der: &[u8]) -> Result<RsaPrivateKey, KeyError> {
    let key = OctetStringRef::new(der).map_err(|e| KeyError::InvalidPrivateKey(e.to_string()))?;
    let info = pkcs8::PrivateKeyInfoRef::new(rsa_algorithm(), key);
    let pkcs8_der = Zeroizing::new(
        info.to_der()
            .map_err(|e| KeyError::InvalidPrivateKey(e.to_string()))?,
    );
    RsaPrivateKey::from_pkcs8_der(&pkcs8_der)
        .map_err(|e| KeyError::InvalidPrivateKey(e.to_string()))
}

/// Parses a DER PKCS#8 `PrivateKeyInfo`, refusing anything but RSA.
pub fn private_key_from_pkcs8_der(der: &[u8]) -> Result<RsaPrivateKey, KeyError> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(der)
        .map_err(|e| KeyError::InvalidPrivateKey(e.to_string()))?;
    if info.algorithm.oid != RSA_ENCRYPTION {
        return Err(KeyError::PrivateKeyNotRsa(oid_name(&info.algorithm.oid)));
    }
    RsaPrivateKey::from_pkcs8_der(der).map_err(|e| KeyError::InvalidPrivateKey(e.to_string()))
}

fn rsa_algorithm() -> AlgorithmIdentifier<AnyRef<'static>> {
    AlgorithmIdentifier {
        oid: RSA_ENCRYPTION,
        parameters: Some(AnyRef::NULL),
    }
}

/// The private key as PKCS#1 PEM (`RSA PRIVATE KEY`), the form upstream stores.
pub fn private_key_to_pkcs1_pem(key: &RsaPrivateKey) -> Result<Zeroizing<String>, KeyError> {
    let pkcs8_der = key.to_pkcs8_der()?;
    let info = pkcs8::PrivateKeyInfoRef::from_der(&pkcs8_der)
        .map_err(|e| KeyError::InvalidPrivateKey(e.to_string()))?;
    let block = pem::Pem::new(RSA_PRIVATE_KEY_PEM, info.private_key.as_bytes());
    Ok(Zeroizing::new(pem_lf(&block)))
}

fn pem_lf(block: &pem::Pem) -> String {
    pem::encode_config(
        block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// A parsed certificate holding an RSA public key.
#[derive(Clone, Debug)]
pub struct Certificate {
    der: Vec<u8>,
    public_key: RsaPublicKey,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl Certificate {
    /// Parses the first `CERTIFICATE` block of a PEM bundle, as upstream kubeseal does.
    pub fn from_pem(data: &[u8]) -> Result<Certificate, KeyError> {
        let blocks = pem::parse_many(data).map_err(|e| pem_error(&e))?;
        let block = blocks
            .iter()
            .find(|b| b.tag() == CERTIFICATE_PEM)
            .ok_or(KeyError::NoCertificate)?;
        Certificate::from_der(block.contents())
    }

    /// Parses a DER certificate and requires an RSA key in it.
    pub fn from_der(der: &[u8]) -> Result<Certificate, KeyError> {
        let cert = X509Certificate::from_der(der)
            .map_err(|e| KeyError::InvalidCertificate(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(KeyError::CertificateNotRsa(oid_name(&spki.algorithm.oid)));
        }
        let spki_der = spki
            .to_der()
            .map_err(|e| KeyError::InvalidCertificate(e.to_string()))?;
        let public_key = RsaPublicKey::from_spki_der(&spki_der)
            .map_err(|e| KeyError::InvalidCertificate(e.to_string()))?;
        Ok(Certificate {
            der: der.to_vec(),
            public_key,
            not_before: tbs.validity().not_before.to_system_time(),
            not_after: tbs.validity().not_after.to_system_time(),
        })
    }

    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn to_pem(&self) -> String {
        pem_lf(&pem::Pem::new(CERTIFICATE_PEM, self.der.clone()))
    }

    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Refuses a certificate that expired before `now`, with upstream's message.
    pub fn check_not_expired(&self, now: SystemTime) -> Result<(), KeyError> {
        if now > self.not_after {
            return Err(KeyError::Expired(go_long_date(self.not_after)));
        }
        Ok(())
    }

    /// The upstream fingerprint of the certificate's key.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public_key)
    }
}

/// Formats a time as Go's `"January 2, 2006"` layout, in UTC.
pub fn go_long_date(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    match jiff::Timestamp::from_second(secs) {
        Ok(ts) => ts
            .to_zoned(jiff::tz::TimeZone::UTC)
            .strftime("%B %-d, %Y")
            .to_string(),
        Err(_) => format!("{secs} seconds after 1970"),
    }
}

/// Upstream's key fingerprint: `SHA256:` and the unpadded base64 of SHA-256 over
/// the SSH wire form (`string "ssh-rsa"`, `mpint e`, `mpint n`) of the public key.
pub fn fingerprint(key: &RsaPublicKey) -> String {
    use base64::Engine;
    let wire = ssh_rsa_wire(key);
    let digest = backend::sha256(&wire);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

fn ssh_rsa_wire(key: &RsaPublicKey) -> Vec<u8> {
    // A key that aws-lc-rs accepted always re-parses; an empty modulus would only
    // give a fingerprint that matches nothing, never a panic.
    let (n, e) = SubjectPublicKeyInfoRef::from_der(key.spki_der())
        .ok()
        .and_then(|spki| {
            let bits = spki.subject_public_key.raw_bytes();
            pkcs1::RsaPublicKey::<pkcs1::UintRef<'_>>::from_der(bits)
                .ok()
                .map(|k| {
                    (
                        k.modulus.as_bytes().to_vec(),
                        k.public_exponent.as_bytes().to_vec(),
                    )
                })
        })
        .unwrap_or_default();
    let mut out = Vec::with_capacity(n.len() + e.len() + 32);
    put_ssh_string(&mut out, b"ssh-rsa");
    put_ssh_mpint(&mut out, &e);
    put_ssh_mpint(&mut out, &n);
    out
}

fn put_ssh_string(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

fn put_ssh_mpint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let trimmed: &[u8] = {
        let first = magnitude
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(magnitude.len());
        magnitude.get(first..).unwrap_or_default()
    };
    let pad = trimmed.first().is_some_and(|b| b & 0x80 != 0);
    let len = trimmed.len() + usize::from(pad);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    if pad {
        out.push(0);
    }
    out.extend_from_slice(trimmed);
}

/// A key pair as the controller stores it.
#[derive(Clone, Debug)]
pub struct KeyPair {
    pub private_key: RsaPrivateKey,
    pub certificate: Certificate,
}

/// What to put in a new certificate.
#[derive(Clone, Debug)]
pub struct CertificateSpec {
    /// Common name, also the issuer; upstream's default is empty (empty subject).
    pub common_name: String,
    /// NotBefore.
    pub not_before: SystemTime,
    /// NotAfter = NotBefore + validity.
    pub validity: Duration,
}

/// Generates a key pair exactly as the upstream controller does: RSA of `bits` bits
/// and a self-signed certificate (random 128-bit serial, CA:TRUE critical,
/// KeyUsage encipherOnly critical, SHA256-RSA).
pub fn generate_key_pair(bits: usize, spec: &CertificateSpec) -> Result<KeyPair, KeyError> {
    let private_key = RsaPrivateKey::generate(bits)?;
    let certificate = self_signed_certificate(&private_key, spec)?;
    Ok(KeyPair {
        private_key,
        certificate,
    })
}

/// Signs a new self-signed certificate for an existing key.
pub fn self_signed_certificate(
    key: &RsaPrivateKey,
    spec: &CertificateSpec,
) -> Result<Certificate, KeyError> {
    let gen_err = |e: rcgen::Error| KeyError::Generate(e.to_string());
    let pkcs8 = key.to_pkcs8_der()?;
    let pkcs8_der = rustls_pki_types_pkcs8(&pkcs8);
    let signer = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8_der, &rcgen::PKCS_RSA_SHA256)
        .map_err(gen_err)?;

    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    if !spec.common_name.is_empty() {
        dn.push(rcgen::DnType::CommonName, spec.common_name.as_str());
    }
    params.distinguished_name = dn;
    params.not_before = to_offset_date_time(spec.not_before)?;
    params.not_after = to_offset_date_time(spec.not_before + spec.validity)?;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&random_serial()?));
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::EncipherOnly];
    params.key_identifier_method =
        rcgen::KeyIdMethod::PreSpecified(subject_key_id(key.public_key()).to_vec());
    let cert = params.self_signed(&signer).map_err(gen_err)?;
    Certificate::from_der(cert.der())
}

/// The Subject Key Identifier Go (1.25+, which builds upstream v0.36) derives: the first
/// 160 bits of SHA-256 over the `subjectPublicKey` bits (RFC 7093, method 1).
pub fn subject_key_id(key: &RsaPublicKey) -> [u8; 20] {
    let bits = SubjectPublicKeyInfoRef::from_der(key.spki_der())
        .map(|spki| spki.subject_public_key.raw_bytes().to_vec())
        .unwrap_or_default();
    let mut out = [0u8; 20];
    out.copy_from_slice(&backend::sha256(&bits)[..20]);
    out
}

fn rustls_pki_types_pkcs8(der: &[u8]) -> rustls_pki_types::PrivatePkcs8KeyDer<'static> {
    rustls_pki_types::PrivatePkcs8KeyDer::from(der.to_vec())
}

/// A positive serial below 2^128, like Go's `rand.Int(rand.Reader, 1<<128)`.
fn random_serial() -> Result<Vec<u8>, KeyError> {
    let mut serial = [0u8; 16];
    backend::random_bytes(&mut serial)?;
    let first = serial.iter().position(|b| *b != 0).unwrap_or(15);
    let mut out = serial.get(first..).unwrap_or_default().to_vec();
    if out.first().is_some_and(|b| b & 0x80 != 0) {
        // DER INTEGERs are signed; keep it positive.
        out.insert(0, 0);
    }
    Ok(out)
}

fn to_offset_date_time(t: SystemTime) -> Result<time::OffsetDateTime, KeyError> {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| KeyError::Generate("time before 1970".to_owned()))?
        .as_secs();
    let secs =
        i64::try_from(secs).map_err(|_| KeyError::Generate("time out of range".to_owned()))?;
    time::OffsetDateTime::from_unix_timestamp(secs).map_err(|e| KeyError::Generate(e.to_string()))
}
