//! The Sealed Secrets domain, shared by `kubeseal` and the controller: the wire format,
//! scopes, keys and certificates, the `SealedSecret` types and the Secret <-> SealedSecret
//! transforms. Nothing here knows about command lines, HTTP or a live cluster.

mod backend;
pub mod codec;
pub mod crypto;
pub mod envelope;
pub mod goflag;
pub mod key_secret;
pub mod keys;
pub mod recipients;
pub mod reseal;
pub mod scope;
pub mod seal;
pub mod sealed_secret;
pub mod secret;
pub mod unseal;

pub use backend::{BackendError, RsaPrivateKey, RsaPublicKey};
pub use scope::Scope;
pub use sealed_secret::{SealedSecret, SealedSecretSpec, SealedSecretStatus, SecretTemplateSpec};
