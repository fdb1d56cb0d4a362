//! Unique names: `e2e-<short test name>[-<part>]-<random suffix>`, valid DNS-1123 labels.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Longest name usable as a namespace or label value.
pub const MAX_LEN: usize = 63;

/// `len` random characters from `[a-z0-9]`: random per process (std's randomly keyed
/// hasher), unique within it (a counter).
pub fn random_suffix(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u32(std::process::id());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        hasher.write_u128(nanos);
        let mut bits = hasher.finish();
        for _ in 0..12 {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[(bits % 36) as usize]));
            bits /= 36;
        }
    }
    out
}

/// Lower-cases and replaces anything outside `[a-z0-9-]` by `-`.
fn sanitize(part: &str) -> String {
    part.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_owned()
}

/// `e2e-<test>[-<part>]-<6 random chars>`, at most [`MAX_LEN`] characters.
pub fn unique(test: &str, part: &str) -> String {
    let suffix = random_suffix(6);
    let mut stem = format!("e2e-{}", sanitize(test));
    let part = sanitize(part);
    if !part.is_empty() {
        stem.push('-');
        stem.push_str(&part);
    }
    let room = MAX_LEN - suffix.len() - 1;
    if stem.len() > room {
        stem.truncate(room);
    }
    let stem = stem.trim_end_matches('-');
    format!("{stem}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels_and_differ() {
        let a = unique("Key_Generation", "home");
        let b = unique("Key_Generation", "home");
        assert_ne!(a, b);
        assert!(a.starts_with("e2e-key-generation-home-"), "{a}");
        let long = unique(&"x".repeat(100), "part");
        assert!(long.len() <= MAX_LEN, "{long}");
        for name in [a, b, long] {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(!name.ends_with('-') && !name.starts_with('-'), "{name}");
        }
    }
}
