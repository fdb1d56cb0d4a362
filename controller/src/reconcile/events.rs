//! Kubernetes events about a SealedSecret (upstream's reasons). Publishing is best
//! effort: a failure is logged, never fatal.

use super::Context;
use crate::api_error::{Class, classify, message};
use kube::Resource;
use kube::runtime::events::{Event, EventType};
use sealed_common::SealedSecret;

/// Upstream's event reasons.
pub const REASON_UNSEALED: &str = "Unsealed";
pub const REASON_UNSEAL_FAILED: &str = "ErrUnsealFailed";
pub const REASON_UPDATE_FAILED: &str = "ErrUpdateFailed";

/// Events carry at most 1 kB of note.
const MAX_NOTE: usize = 1024;

pub async fn publish(
    ctx: &Context,
    sealed: &SealedSecret,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    if !ctx.leader.is_leader() {
        return;
    }
    let reference = sealed.object_ref(&());
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(truncate(note, MAX_NOTE)),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &reference).await {
        // Events in a namespace being deleted are refused; nobody would read them.
        if classify(&error) == Class::NamespaceGone {
            tracing::debug!(sealedsecret = %sealed.display_name(), "namespace going away; event not published");
        } else {
            tracing::warn!(sealedsecret = %sealed.display_name(), error = %message(&error), "cannot publish event");
        }
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncate_cuts_at_a_char_boundary() {
        assert_eq!(super::truncate("héllo".into(), 2), "h");
        assert_eq!(super::truncate("abc".into(), 5), "abc");
    }
}
