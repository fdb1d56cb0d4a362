//! Structural comparison of two CustomResourceDefinitions: everything that decides what
//! the API server accepts, stores, prunes or prints (names, scope, versions, subresources,
//! printer columns, and in the schema: types, formats, properties, `required`, `items`,
//! `additionalProperties`, `nullable`, `x-kubernetes-*`, defaults), and nothing that only
//! documents (`description`, `title`, the CRD's annotations and labels).

use serde_json::Value;
use std::collections::BTreeSet;

/// Keys that only document, wherever they appear.
const DOC_KEYS: &[&str] = &["description", "title"];

/// The differences from `before` to `after`, one line each:
/// `PATH added: VALUE`, `PATH removed: VALUE` or `PATH changed: BEFORE -> AFTER`.
/// A `required` list is a set: its members are added or removed one by one.
/// Versions are matched by name (`spec.versions[v1alpha1]`), other lists by position.
pub fn crd_differences(before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["apiVersion", "kind"] {
        walk(key, before.get(key), after.get(key), &mut out);
    }
    // Of the metadata only the name shapes the API.
    walk(
        "metadata.name",
        before.pointer("/metadata/name"),
        after.pointer("/metadata/name"),
        &mut out,
    );
    walk("spec", before.get("spec"), after.get("spec"), &mut out);
    out
}

fn walk(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<String>) {
    let last = path.rsplit('.').next().unwrap_or(path);
    match (before, after) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a
                .keys()
                .chain(b.keys())
                .filter(|k| !DOC_KEYS.contains(&k.as_str()))
                .collect();
            for key in keys {
                walk(&format!("{path}.{key}"), a.get(key), b.get(key), out);
            }
        }
        (a, b) if last == "required" && is_list_or_none(a) && is_list_or_none(b) => {
            let a = members(a);
            let b = members(b);
            for gone in a.difference(&b) {
                out.push(format!("{path} removed: {gone}"));
            }
            for new in b.difference(&a) {
                out.push(format!("{path} added: {new}"));
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if last == "versions" => {
            fn name(v: &Value) -> Option<&str> {
                v.get("name").and_then(Value::as_str)
            }
            fn find<'a>(list: &'a [Value], version: &str) -> Option<&'a Value> {
                list.iter().find(|v| name(v) == Some(version))
            }
            let names: BTreeSet<&str> = a.iter().chain(b.iter()).filter_map(name).collect();
            for version in names {
                walk(
                    &format!("{path}[{version}]"),
                    find(a, version),
                    find(b, version),
                    out,
                );
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for i in 0..a.len().max(b.len()) {
                walk(&format!("{path}[{i}]"), a.get(i), b.get(i), out);
            }
        }
        (None, None) => {}
        (Some(a), None) => out.push(format!("{path} removed: {}", show(a))),
        (None, Some(b)) => out.push(format!("{path} added: {}", show(b))),
        (Some(a), Some(b)) => {
            if a != b {
                out.push(format!("{path} changed: {} -> {}", show(a), show(b)));
            }
        }
    }
}

fn is_list_or_none(value: Option<&Value>) -> bool {
    matches!(value, None | Some(Value::Array(_)))
}

fn members(value: Option<&Value>) -> BTreeSet<String> {
    match value {
        Some(Value::Array(items)) => items.iter().map(Value::to_string).collect(),
        _ => BTreeSet::new(),
    }
}

/// Compact JSON with sorted keys, without the documentation keys.
fn show(value: &Value) -> String {
    strip_docs(value).to_string()
}

fn strip_docs(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            // Sorted keys, whatever order the file had.
            let sorted: std::collections::BTreeMap<&String, &Value> = map
                .iter()
                .filter(|(k, _)| !DOC_KEYS.contains(&k.as_str()))
                .collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), strip_docs(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(strip_docs).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::crd_differences;
    use serde_json::json;

    fn crd(schema: serde_json::Value) -> serde_json::Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "things.example.com", "annotations": {"a": "b"}},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "schema": {"openAPIV3Schema": schema}}],
            },
        })
    }

    #[test]
    fn descriptions_titles_and_annotations_do_not_count() {
        let a = crd(json!({"type": "object", "description": "one", "title": "T"}));
        let mut b = crd(json!({"type": "object", "description": "two"}));
        b["metadata"]["annotations"] = json!({});
        assert_eq!(crd_differences(&a, &b), Vec::<String>::new());
    }

    #[test]
    fn reports_each_kind_of_difference() {
        let a = crd(json!({
            "type": "object",
            "required": ["spec"],
            "properties": {
                "spec": {"type": "object", "properties": {"data": {"type": "string", "format": "byte"}}},
                "gone": {"type": "string", "description": "x"},
            },
        }));
        let b = crd(json!({
            "type": "object",
            "required": ["status"],
            "properties": {
                "spec": {"type": "object", "properties": {"data": {"type": "string"}}},
                "status": {"type": "object", "nullable": true},
            },
        }));
        let s = "spec.versions[v1].schema.openAPIV3Schema";
        assert_eq!(
            crd_differences(&a, &b),
            [
                format!("{s}.properties.gone removed: {{\"type\":\"string\"}}"),
                format!("{s}.properties.spec.properties.data.format removed: \"byte\""),
                format!("{s}.properties.status added: {{\"nullable\":true,\"type\":\"object\"}}"),
                format!("{s}.required removed: \"spec\""),
                format!("{s}.required added: \"status\""),
            ]
        );
    }

    #[test]
    fn versions_match_by_name_and_scalars_change() {
        let a = crd(json!({"type": "object"}));
        let mut b = a.clone();
        b["spec"]["scope"] = json!("Cluster");
        b["spec"]["versions"] = json!([{"name": "v2"}, a["spec"]["versions"][0].clone()]);
        assert_eq!(
            crd_differences(&a, &b),
            [
                "spec.scope changed: \"Namespaced\" -> \"Cluster\"".to_owned(),
                "spec.versions[v2] added: {\"name\":\"v2\"}".to_owned(),
            ]
        );
    }
}
