//! Sealing scopes: what a sealed value is bound to, expressed as the RSA-OAEP label.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";
pub const MANAGED_ANNOTATION: &str = "sealedsecrets.bitnami.com/managed";
pub const PATCH_ANNOTATION: &str = "sealedsecrets.bitnami.com/patch";
pub const SKIP_SET_OWNER_REFERENCES_ANNOTATION: &str =
    "sealedsecrets.bitnami.com/skip-set-owner-references";

/// How far a sealed value may travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Scope {
    /// Bound to one namespace and one name (label `"<namespace>/<name>"`).
    #[default]
    Strict,
    /// Bound to one namespace, any name (label `"<namespace>"`).
    NamespaceWide,
    /// Opens anywhere in the cluster (empty label).
    ClusterWide,
}

/// An unknown scope name; the text is upstream's, which users know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of: strict, namespace-wide, cluster-wide")]
pub struct UnknownScope;

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "strict" => Ok(Scope::Strict),
            "namespace-wide" => Ok(Scope::NamespaceWide),
            "cluster-wide" => Ok(Scope::ClusterWide),
            _ => Err(UnknownScope),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        })
    }
}

impl Scope {
    /// The scope an object declares through its annotations. Cluster-wide wins, and
    /// only the exact string `"true"` counts.
    pub fn from_annotations(annotations: Option<&BTreeMap<String, String>>) -> Scope {
        let is_true = |key: &str| {
            annotations
                .and_then(|a| a.get(key))
                .is_some_and(|v| v == "true")
        };
        if is_true(CLUSTER_WIDE_ANNOTATION) {
            Scope::ClusterWide
        } else if is_true(NAMESPACE_WIDE_ANNOTATION) {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        }
    }

    /// The RSA-OAEP label that binds a value to this scope.
    pub fn label(self, namespace: &str, name: &str) -> Vec<u8> {
        match self {
            Scope::ClusterWide => Vec::new(),
            Scope::NamespaceWide => namespace.as_bytes().to_vec(),
            Scope::Strict => format!("{namespace}/{name}").into_bytes(),
        }
    }

    /// Rewrites the scope annotations so that they declare `self` and nothing else.
    pub fn write_annotations(self, annotations: &mut BTreeMap<String, String>) {
        annotations.remove(NAMESPACE_WIDE_ANNOTATION);
        annotations.remove(CLUSTER_WIDE_ANNOTATION);
        match self {
            Scope::Strict => {}
            Scope::NamespaceWide => {
                annotations.insert(NAMESPACE_WIDE_ANNOTATION.to_owned(), "true".to_owned());
            }
            Scope::ClusterWide => {
                annotations.insert(CLUSTER_WIDE_ANNOTATION.to_owned(), "true".to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_match_upstream() {
        assert_eq!(
            Scope::Strict.label("demo-ns", "demo-secret"),
            b"demo-ns/demo-secret"
        );
        assert_eq!(
            Scope::NamespaceWide.label("demo-ns", "demo-secret"),
            b"demo-ns"
        );
        assert_eq!(Scope::ClusterWide.label("demo-ns", "demo-secret"), b"");
    }

    #[test]
    fn cluster_wide_wins_and_only_true_counts() {
        let both = annotations(&[
            (CLUSTER_WIDE_ANNOTATION, "true"),
            (NAMESPACE_WIDE_ANNOTATION, "true"),
        ]);
        assert_eq!(Scope::from_annotations(Some(&both)), Scope::ClusterWide);
        let yes = annotations(&[
            (CLUSTER_WIDE_ANNOTATION, "True"),
            (NAMESPACE_WIDE_ANNOTATION, "yes"),
        ]);
        assert_eq!(Scope::from_annotations(Some(&yes)), Scope::Strict);
        assert_eq!(Scope::from_annotations(None), Scope::Strict);
    }

    #[test]
    fn parse_and_display_round_trip() {
        for scope in [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide] {
            assert_eq!(scope.to_string().parse::<Scope>(), Ok(scope));
        }
        assert_eq!("".parse::<Scope>(), Ok(Scope::Strict));
        assert_eq!(
            "global".parse::<Scope>().unwrap_err().to_string(),
            "must be one of: strict, namespace-wide, cluster-wide"
        );
    }

    #[test]
    fn write_annotations_replaces_previous_scope() {
        let mut a = annotations(&[(CLUSTER_WIDE_ANNOTATION, "true"), ("keep", "me")]);
        Scope::NamespaceWide.write_annotations(&mut a);
        assert_eq!(
            a,
            annotations(&[(NAMESPACE_WIDE_ANNOTATION, "true"), ("keep", "me")])
        );
        Scope::Strict.write_annotations(&mut a);
        assert_eq!(a, annotations(&[("keep", "me")]));
    }
}
