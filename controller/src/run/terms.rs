//! Leadership terms. Only key renewal starts and stops with the lead: the watches, the
//! store and the reconcile loops run on every replica for the life of the process,
//! and the reconciler itself checks the lead before every write.

use super::signals::stopped;
use crate::keys::{KeyGenerator, KeyRegistry, renew_as_leader};
use crate::leader::Leadership;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};

/// What the renewal job needs, kept across leadership terms.
pub struct Renewal {
    pub generator: KeyGenerator,
    pub period: Duration,
    pub cutoff: Option<SystemTime>,
    pub registry: Arc<KeyRegistry>,
}

/// Renews keys while this replica leads, until `stop`.
pub async fn renew_while_leading(
    leadership: &Leadership,
    renewal: &Renewal,
    manual: &mut mpsc::Receiver<()>,
    stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = leadership.until_leading() => {}
            () = stopped(stop.clone()) => return,
        }
        tokio::select! {
            () = renew_as_leader(
                renewal.generator.clone(),
                Arc::clone(&renewal.registry),
                renewal.period,
                renewal.cutoff,
                manual,
            ) => {}
            () = leadership.until_not_leading() => {
                tracing::warn!("no longer the leader: key renewal stopped and nothing is written; serving the HTTP API and waiting to lead again");
            }
            () = stopped(stop.clone()) => return,
        }
    }
}
