//! One file of the tree: its documents, the SealedSecrets among them, and the new text
//! once some were re-encrypted.
//!
//! The new text is the old one with each changed ciphertext replaced where it stands,
//! so comments, layout, key order and the other documents stay as they were. When a
//! ciphertext cannot be found exactly once (copied elsewhere in the file, folded over
//! lines, escaped in JSON), that SealedSecret's document is printed again instead, as
//! `kubeseal --re-encrypt` prints it; in a JSON file, or a YAML file whose documents
//! cannot be told apart, the whole file is. Either way the result is read back and
//! must hold exactly the expected documents before it is used.

use crate::modes::seal::render;
use sealed_common::SealedSecret;
use sealed_common::codec::{Format, decode_stream, looks_like_json, one_line};
use sealed_common::reseal::strip_server_fields;
use sealed_common::sealed_secret::{API_VERSION, KIND, object_display_name};
use serde_json::Value;
use std::ops::Range;

/// Where a SealedSecret is: a document of the file, or an item of a `v1` `List`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub doc: usize,
    pub item: Option<usize>,
}

/// A SealedSecret found in the file.
#[derive(Debug)]
pub struct Found {
    pub at: Location,
    /// `namespace/name`, for messages.
    pub name: String,
    /// The object, or why it does not read as a SealedSecret.
    pub sealed: Result<SealedSecret, String>,
}

/// A file with at least one SealedSecret.
#[derive(Debug)]
pub struct Parsed {
    text: String,
    json: bool,
    /// Every document, as plain values.
    values: Vec<Value>,
    /// YAML: the text of each top-level document, when the file splits cleanly.
    chunks: Option<Vec<Chunk>>,
    pub found: Vec<Found>,
}

#[derive(Debug, Clone)]
struct Chunk {
    range: Range<usize>,
    /// The document this piece of text holds (none: only comments or blank).
    doc: Option<usize>,
}

/// A SealedSecret the controller sealed again, differently.
#[derive(Debug)]
pub struct Change {
    pub at: Location,
    pub original: SealedSecret,
    pub rotated: SealedSecret,
}

/// How much of the file had to be printed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Only ciphertexts changed in the text.
    Kept,
    /// These many documents were printed again.
    Documents(usize),
    /// The whole file was printed again.
    File,
}

/// Reads a file's bytes. `Ok(None)`: no `bitnami.com/v1alpha1` SealedSecret in it;
/// `Err`: not YAML or JSON.
pub fn parse(bytes: &[u8]) -> Result<Option<Parsed>, String> {
    let values: Vec<Value> = decode_stream(bytes).map_err(|e| e.to_string())?;
    let mut at = Vec::new();
    for (doc, value) in values.iter().enumerate() {
        if is_sealed_secret(value) {
            at.push(Location { doc, item: None });
        } else if is_list(value)
            && let Some(items) = value.get("items").and_then(Value::as_array)
        {
            for (i, item) in items.iter().enumerate() {
                if is_sealed_secret(item) {
                    at.push(Location { doc, item: Some(i) });
                }
            }
        }
    }
    if at.is_empty() {
        return Ok(None);
    }
    // decode_stream accepted the bytes, so they are UTF-8.
    let text = String::from_utf8_lossy(bytes).into_owned();
    let json = looks_like_json(&text);
    let chunks = if json {
        None
    } else {
        yaml_chunks(&text, &values)
    };
    let found = at
        .into_iter()
        .map(|location| {
            let chunk = match (&chunks, location.item) {
                (Some(chunks), None) => chunks
                    .iter()
                    .find(|c| c.doc == Some(location.doc))
                    .map(|c| &text[c.range.clone()]),
                _ => None,
            };
            let (name, sealed) = typed(value_at(&values, location), chunk);
            Found {
                at: location,
                name,
                sealed,
            }
        })
        .collect();
    Ok(Some(Parsed {
        text,
        json,
        values,
        chunks,
        found,
    }))
}

fn is_sealed_secret(value: &Value) -> bool {
    value.get("apiVersion").and_then(Value::as_str) == Some(API_VERSION)
        && value.get("kind").and_then(Value::as_str) == Some(KIND)
}

fn is_list(value: &Value) -> bool {
    value.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && value.get("kind").and_then(Value::as_str) == Some("List")
}

fn value_at(values: &[Value], at: Location) -> &Value {
    static NULL: Value = Value::Null;
    let Some(doc) = values.get(at.doc) else {
        return &NULL;
    };
    match at.item {
        Some(i) => doc
            .get("items")
            .and_then(|items| items.get(i))
            .unwrap_or(&NULL),
        None => doc,
    }
}

fn value_at_mut(values: &mut [Value], at: Location) -> Option<&mut Value> {
    let doc = values.get_mut(at.doc)?;
    match at.item {
        Some(i) => doc.get_mut("items")?.get_mut(i),
        None => Some(doc),
    }
}

/// The SealedSecret typed, straight from its own YAML text when known (so that YAML
/// scalars keep the meaning the typed fields give them), else from the value.
fn typed(value: &Value, text: Option<&str>) -> (String, Result<SealedSecret, String>) {
    let meta = |field: &str| {
        value
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let fallback_name = object_display_name(&meta("namespace"), &meta("name"));
    let sealed = match text {
        Some(text) => decode_stream::<SealedSecret>(text.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|mut docs| match docs.len() {
                1 => Ok(docs.remove(0)),
                n => Err(format!("expected one document, found {n}")),
            }),
        None => serde_json::from_value::<SealedSecret>(value.clone()).map_err(|e| e.to_string()),
    };
    match sealed {
        Ok(sealed) => (sealed.display_name(), Ok(sealed)),
        Err(e) => (
            fallback_name,
            Err(format!("not a valid SealedSecret: {}", one_line(&e))),
        ),
    }
}

/// Splits a YAML stream at its `---` lines (a line starting `---` followed by a blank
/// or its end is always a document marker). `None` unless every piece holds at most
/// one document and together they are the file's documents.
fn yaml_chunks(text: &str, values: &[Value]) -> Option<Vec<Chunk>> {
    let mut starts = vec![0];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let rest = line.strip_prefix("---");
        if offset > 0
            && rest.is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t', '\r', '\n']))
        {
            starts.push(offset);
        }
        offset += line.len();
    }
    let mut chunks = Vec::with_capacity(starts.len());
    let mut next_doc = 0;
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        let docs: Vec<Value> = decode_stream(text.as_bytes().get(start..end)?).ok()?;
        let doc = match docs.as_slice() {
            [] => None,
            [one] if values.get(next_doc) == Some(one) => {
                next_doc += 1;
                Some(next_doc - 1)
            }
            _ => return None,
        };
        chunks.push(Chunk {
            range: start..end,
            doc,
        });
    }
    (next_doc == values.len()).then_some(chunks)
}

/// True when the controller's answer differs from the original in what it seals.
pub fn changed(original: &SealedSecret, rotated: &SealedSecret) -> bool {
    original.spec.encrypted_data != rotated.spec.encrypted_data
        || original.spec.data != rotated.spec.data
        || original.spec.template != rotated.spec.template
}

/// The file's new text, and how much of it was printed again.
pub fn rewrite(parsed: &Parsed, changes: &[Change]) -> Result<(String, Layout), String> {
    let all: Vec<&Change> = changes.iter().collect();
    if let Some(chunks) = &parsed.chunks
        && let Ok(Some(done)) = by_document(parsed, chunks, &all)
    {
        return Ok(done);
    }
    if let Some(text) = in_place(parsed, 0..parsed.text.len(), &all) {
        let mut expected = parsed.values.clone();
        set_ciphertexts(&mut expected, &all);
        if check(&text, &expected).is_ok() {
            return Ok((text, Layout::Kept));
        }
    }
    whole_file(parsed, changes).map(|text| (text, Layout::File))
}

/// The old ciphertexts of a change and their replacements; `None` when more than
/// ciphertexts changed (items added or removed, template).
fn replacements(change: &Change) -> Option<Vec<(&str, &str)>> {
    let (old, new) = (&change.original.spec, &change.rotated.spec);
    if old.template != new.template || !old.encrypted_data.keys().eq(new.encrypted_data.keys()) {
        return None;
    }
    let mut out: Vec<(&str, &str)> = old
        .encrypted_data
        .values()
        .zip(new.encrypted_data.values())
        .filter(|(o, n)| o != n)
        .map(|(o, n)| (o.as_str(), n.as_str()))
        .collect();
    match (&old.data, &new.data) {
        (Some(o), Some(n)) if o != n => out.push((o, n)),
        (o, n) if o != n => return None,
        _ => {}
    }
    out.iter().all(|(o, _)| !o.is_empty()).then_some(out)
}

/// `range` of the text with every ciphertext of `changes` replaced where it stands;
/// `None` unless each occurs exactly once in that range.
fn in_place(parsed: &Parsed, range: Range<usize>, changes: &[&Change]) -> Option<String> {
    let piece = &parsed.text[range];
    let mut splices: Vec<(Range<usize>, &str)> = Vec::new();
    for change in changes {
        for (old, new) in replacements(change)? {
            let mut hits = piece.match_indices(old).map(|(at, _)| at);
            let at = hits.next()?;
            if hits.next().is_some() {
                return None;
            }
            splices.push((at..at + old.len(), new));
        }
    }
    splices.sort_by_key(|(r, _)| r.start);
    if splices
        .windows(2)
        .any(|w| matches!(w, [a, b] if a.0.end > b.0.start))
    {
        return None;
    }
    let mut out = String::with_capacity(piece.len() + 64);
    let mut from = 0;
    for (r, new) in splices {
        out.push_str(&piece[from..r.start]);
        out.push_str(new);
        from = r.end;
    }
    out.push_str(&piece[from..]);
    Some(out)
}

/// Puts the new ciphertexts of `changes` into the documents, as replacing them in
/// the text does.
fn set_ciphertexts(values: &mut [Value], changes: &[&Change]) {
    for change in changes {
        if let Some(Value::Object(object)) = value_at_mut(values, change.at)
            && let Some(Value::Object(spec)) = object.get_mut("spec")
        {
            if let Some(Value::Object(items)) = spec.get_mut("encryptedData") {
                for (item, new) in &change.rotated.spec.encrypted_data {
                    if let Some(v) = items.get_mut(item) {
                        *v = Value::String(new.clone());
                    }
                }
            }
            if let Some(data) = &change.rotated.spec.data
                && let Some(v) = spec.get_mut("data")
            {
                *v = Value::String(data.clone());
            }
        }
    }
}

/// Checks that `text` reads back as exactly `expected`.
fn check(text: &str, expected: &[Value]) -> Result<(), String> {
    let got: Vec<Value> = decode_stream(text.as_bytes())
        .map_err(|e| format!("the new text does not read back ({e})"))?;
    if got == expected {
        Ok(())
    } else {
        Err("the new text does not read back as the expected documents".to_owned())
    }
}

/// What a re-printed SealedSecret looks like: the controller's answer without the
/// fields the API server sets, as `kubeseal --re-encrypt` writes it.
fn reprinted(rotated: &SealedSecret) -> SealedSecret {
    let mut out = rotated.clone();
    strip_server_fields(&mut out);
    out
}

/// YAML whose documents are known: each document with changes gets its ciphertexts
/// replaced in place, or is printed again. `Ok(None)` when that is not enough (a
/// `List` whose ciphertexts cannot be placed).
fn by_document(
    parsed: &Parsed,
    chunks: &[Chunk],
    changes: &[&Change],
) -> Result<Option<(String, Layout)>, String> {
    let mut out = String::with_capacity(parsed.text.len() + 64);
    let mut expected = parsed.values.clone();
    let mut reprinted_docs = 0;
    for chunk in chunks {
        let here: Vec<&Change> = changes
            .iter()
            .copied()
            .filter(|c| Some(c.at.doc) == chunk.doc)
            .collect();
        if here.is_empty() {
            out.push_str(&parsed.text[chunk.range.clone()]);
            continue;
        }
        if let Some(text) = in_place(parsed, chunk.range.clone(), &here) {
            set_ciphertexts(&mut expected, &here);
            out.push_str(&text);
            continue;
        }
        // Printed again: only a document that is one SealedSecret.
        let ([change], Some(doc)) = (here.as_slice(), chunk.doc) else {
            return Ok(None);
        };
        if change.at.item.is_some() {
            return Ok(None);
        }
        let name = change.original.display_name();
        let text = render(&reprinted(&change.rotated), Format::Yaml)
            .map_err(|e| format!("cannot print {name} again ({e})"))?;
        let mut values: Vec<Value> = decode_stream(text.as_bytes())
            .map_err(|e| format!("cannot print {name} again ({e})"))?;
        if values.len() != 1 {
            return Err(format!("cannot print {name} again"));
        }
        if let (Some(slot), Some(value)) = (expected.get_mut(doc), values.pop()) {
            *slot = value;
        }
        out.push_str(&text);
        reprinted_docs += 1;
    }
    check(&out, &expected)?;
    let layout = match reprinted_docs {
        0 => Layout::Kept,
        n => Layout::Documents(n),
    };
    Ok(Some((out, layout)))
}

/// The whole file printed again: every SealedSecret as `kubeseal --re-encrypt` prints
/// it; in JSON the other documents too (JSON keeps its values whatever the layout).
/// YAML with other documents is refused: printing them again could change them.
fn whole_file(parsed: &Parsed, changes: &[Change]) -> Result<String, String> {
    let format = if parsed.json {
        Format::Json
    } else {
        Format::Yaml
    };
    let rotated_at = |at: Location| changes.iter().find(|c| c.at == at).map(|c| &c.rotated);
    let mut out = String::new();
    for (doc, value) in parsed.values.iter().enumerate() {
        let here = Location { doc, item: None };
        if is_sealed_secret(value) {
            let found = parsed
                .found
                .iter()
                .find(|f| f.at == here)
                .and_then(|f| f.sealed.as_ref().ok());
            let sealed = match (rotated_at(here), found) {
                (Some(rotated), _) => reprinted(rotated),
                (None, Some(original)) => original.clone(),
                (None, None) => return Err("cannot print the file again".to_owned()),
            };
            out.push_str(&render(&sealed, format).map_err(|e| e.to_string())?);
        } else if parsed.json {
            let mut value = value.clone();
            if let Some(Value::Array(items)) = value.get_mut("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    if let Some(rotated) = rotated_at(Location { doc, item: Some(i) }) {
                        *item =
                            serde_json::to_value(reprinted(rotated)).map_err(|e| e.to_string())?;
                    }
                }
            }
            let text = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
            out.push_str(&text);
            out.push('\n');
        } else {
            return Err(
                "the new ciphertexts cannot be placed in the text, and printing the file again would rewrite its other documents; re-encrypt its SealedSecrets with kubeseal --re-encrypt"
                    .to_owned(),
            );
        }
    }
    // Whatever the layout, the file must still read as its documents.
    let got: Vec<Value> = decode_stream(out.as_bytes())
        .map_err(|e| format!("the new text does not read back ({e})"))?;
    if got.len() != parsed.values.len() {
        return Err("the new text does not read back as the expected documents".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD_A: &str = "AgAAAAoldA111";
    const OLD_B: &str = "AgAAAAoldB222";

    fn sealed(items: &[(&str, &str)]) -> SealedSecret {
        let mut s: SealedSecret = serde_json::from_value(serde_json::json!({
            "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": {"name": "db", "namespace": "prod"},
            "spec": {"encryptedData": {}}
        }))
        .unwrap();
        for (k, v) in items {
            s.spec.encrypted_data.insert((*k).into(), (*v).into());
        }
        s
    }

    fn rotate_all(parsed: &Parsed) -> Vec<Change> {
        parsed
            .found
            .iter()
            .map(|f| {
                let original = f.sealed.clone().unwrap();
                let mut rotated = original.clone();
                for v in rotated.spec.encrypted_data.values_mut() {
                    *v = v.replace("old", "NEW");
                }
                Change {
                    at: f.at,
                    original,
                    rotated,
                }
            })
            .collect()
    }

    const MIXED: &str = "# leading comment
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data:
  on: no
  version: 1.10
---
# the secret
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: db
  namespace: prod
  labels:
    enabled: true # unquoted: a string for the typed decoder
spec:
  encryptedData:
    a: AgAAAAoldA111   # trailing comment
    b: \"AgAAAAoldB222\"
";

    #[test]
    fn only_ciphertexts_change_in_a_mixed_file() {
        let parsed = parse(MIXED.as_bytes()).unwrap().unwrap();
        assert_eq!(parsed.found.len(), 1);
        let found = &parsed.found[0];
        assert_eq!(found.name, "prod/db");
        assert_eq!(
            found
                .sealed
                .as_ref()
                .unwrap()
                .metadata
                .labels
                .as_ref()
                .unwrap()["enabled"],
            "true"
        );
        let (text, layout) = rewrite(&parsed, &rotate_all(&parsed)).unwrap();
        assert_eq!(layout, Layout::Kept);
        assert_eq!(text, MIXED.replace("old", "NEW"));
    }

    #[test]
    fn a_duplicated_ciphertext_prints_only_its_document_again() {
        let text = format!(
            "{MIXED}---\n# copy\n{}",
            &MIXED[MIXED.find("apiVersion: bitnami").unwrap()..].replace("name: db", "name: db2")
        );
        let parsed = parse(text.as_bytes()).unwrap().unwrap();
        assert_eq!(parsed.found.len(), 2);
        // Only the first changes: its ciphertexts occur twice in the file but once in
        // its own document.
        let mut changes = rotate_all(&parsed);
        changes.truncate(1);
        let (new, layout) = rewrite(&parsed, &changes).unwrap();
        assert_eq!(layout, Layout::Kept);
        assert_eq!(new.matches("NEW").count(), 2);
        assert!(new.starts_with("# leading comment\n"));
        assert!(new.contains("# copy\n"));

        // A ciphertext that appears twice inside its own document: printed again.
        let doubled = MIXED.replace("# the secret", &format!("# the secret, was {OLD_A}"));
        let parsed = parse(doubled.as_bytes()).unwrap().unwrap();
        let (new, layout) = rewrite(&parsed, &rotate_all(&parsed)).unwrap();
        assert_eq!(layout, Layout::Documents(1));
        assert!(new.starts_with("# leading comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata:\n  on: no\n  version: 1.10\n---\n"), "{new}");
        assert!(!new.contains("# the secret"), "{new}");
        let reread: Vec<SealedSecret> =
            decode_stream(&new.as_bytes()[new.find("apiVersion: bitnami").unwrap()..]).unwrap();
        assert_eq!(reread[0].spec.encrypted_data["a"], "AgAAAANEWA111");
        assert_eq!(
            reread[0].metadata.labels.as_ref().unwrap()["enabled"],
            "true"
        );
    }

    #[test]
    fn json_and_lists() {
        let list = serde_json::json!({
            "apiVersion": "v1", "kind": "List", "metadata": {},
            "items": [
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
                serde_json::to_value(sealed(&[("a", OLD_A), ("b", OLD_B)])).unwrap(),
            ]
        });
        let text = serde_json::to_string_pretty(&list).unwrap();
        let parsed = parse(text.as_bytes()).unwrap().unwrap();
        assert_eq!(
            parsed.found[0].at,
            Location {
                doc: 0,
                item: Some(1)
            }
        );
        let (new, layout) = rewrite(&parsed, &rotate_all(&parsed)).unwrap();
        assert_eq!(layout, Layout::Kept);
        assert_eq!(new, text.replace("old", "NEW"));

        // Escaped slashes: not found in the text, so the file is printed again.
        let one = serde_json::to_string(&sealed(&[("a", "AgAA/old/1")])).unwrap();
        let escaped = one.replace('/', "\\/");
        let parsed = parse(escaped.as_bytes()).unwrap().unwrap();
        let (new, layout) = rewrite(&parsed, &rotate_all(&parsed)).unwrap();
        assert_eq!(layout, Layout::File);
        let reread: Vec<SealedSecret> = decode_stream(new.as_bytes()).unwrap();
        assert_eq!(reread[0].spec.encrypted_data["a"], "AgAA/NEW/1");
    }

    #[test]
    fn files_without_sealed_secrets_and_broken_files() {
        assert!(
            parse(b"apiVersion: v1\nkind: ConfigMap\n")
                .unwrap()
                .is_none()
        );
        assert!(parse(b"# only a comment\n").unwrap().is_none());
        assert!(
            parse(b"apiVersion: bitnami.com/v1beta1\nkind: SealedSecret\n")
                .unwrap()
                .is_none()
        );
        assert!(parse(b"kind: SealedSecret\n  bad: [indent\n").is_err());
        // A SealedSecret whose fields do not fit: found, with the reason.
        let parsed = parse(
            b"apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: x, namespace: ns}\nspec: {encryptedData: [1, 2]}\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(parsed.found[0].name, "ns/x");
        assert!(
            parsed.found[0]
                .sealed
                .as_ref()
                .unwrap_err()
                .starts_with("not a valid SealedSecret: ")
        );
    }

    #[test]
    fn markers_inside_text_do_not_split_documents() {
        let text = "# header\n---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: db, namespace: prod}\nspec:\n  encryptedData: {a: AgAAAAoldA111}\n  template:\n    data:\n      conf: |\n        ---- not a marker\n        --- indented, not a marker\n...\n--- # next\napiVersion: v1\nkind: ConfigMap\n";
        let parsed = parse(text.as_bytes()).unwrap().unwrap();
        let chunks = parsed.chunks.as_ref().unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].doc, None);
        assert_eq!(chunks[1].doc, Some(0));
        assert_eq!(chunks[2].doc, Some(1));
        let (new, layout) = rewrite(&parsed, &rotate_all(&parsed)).unwrap();
        assert_eq!((new, layout), (text.replace("old", "NEW"), Layout::Kept));
    }
}
