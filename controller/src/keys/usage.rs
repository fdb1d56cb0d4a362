//! Which key opened each SealedSecret last: the order hint for the next unseal when the
//! CRD prunes `status.keyFingerprint` (upstream's CRD), and the per-key inventory.

use kube::runtime::reflector::ObjectRef;
use sealed_common::SealedSecret;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct KeyUsage {
    by_object: Mutex<HashMap<ObjectRef<SealedSecret>, String>>,
}

impl KeyUsage {
    pub fn record(&self, object: ObjectRef<SealedSecret>, fingerprint: &str) {
        let mut map = self.lock();
        if map.get(&object).is_none_or(|f| f != fingerprint) {
            map.insert(object, fingerprint.to_owned());
        }
    }

    pub fn get(&self, object: &ObjectRef<SealedSecret>) -> Option<String> {
        self.lock().get(object).cloned()
    }

    pub fn forget(&self, object: &ObjectRef<SealedSecret>) {
        self.lock().remove(object);
    }

    /// Drops the objects that no longer exist.
    pub fn retain(&self, mut exists: impl FnMut(&ObjectRef<SealedSecret>) -> bool) {
        self.lock().retain(|object, _| exists(object));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<SealedSecret>, String>> {
        self.by_object.lock().unwrap_or_else(|p| p.into_inner())
    }
}
