//! Reading and writing Kubernetes documents the way upstream's tools do.
//!
//! Input: a YAML multi-document stream or a stream of JSON objects, deserialized
//! straight into typed structs (so `no`, `on`, `0777` or `1e3` stay strings), with
//! limits against alias bombs and oversized input.
//!
//! Output: JSON with Go's field order, two-space indent and Go's HTML escaping; YAML
//! with sorted keys behind a `---` marker, as `kubeseal -o yaml` prints it.

use serde::de::DeserializeOwned;
use serde_json::Value;
use std::io;

/// Largest input accepted in one read. A Secret is at most 1 MiB in etcd; this leaves
/// room for long streams while refusing to exhaust memory.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;
/// Largest number of documents in one stream.
pub const MAX_DOCUMENTS: usize = 65_536;

/// Why a stream of documents could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("input is larger than {} MiB; refusing to read it", MAX_INPUT_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("input is not valid UTF-8 text (byte {0}); expected YAML or JSON")]
    NotUtf8(usize),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("invalid YAML: {0}")]
    Yaml(String),
}

/// Reads all of `reader`, refusing more than [`MAX_INPUT_BYTES`].
pub fn read_limited(reader: impl io::Read) -> io::Result<Vec<u8>> {
    use io::Read;
    let mut buf = Vec::new();
    reader
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut buf)?;
    if buf.len() > MAX_INPUT_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            DecodeError::TooLarge,
        ));
    }
    Ok(buf)
}

/// True when the text starts (after whitespace and a BOM) like a JSON document.
pub fn looks_like_json(text: &str) -> bool {
    text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n'])
        .starts_with(['{', '['])
}

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: MAX_DOCUMENTS,
            max_reader_input_bytes: Some(MAX_INPUT_BYTES),
        },
        // Snippets would quote the input, and the input holds secrets.
        with_snippet: false,
    }
}

/// Why a stream did not hold the expected kind of object.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    /// Not YAML or JSON at all.
    #[error("cannot read the input: {0}")]
    Unreadable(DecodeError),
    /// The right kind, but a field does not fit the type.
    #[error("cannot read the input: {0}")]
    Invalid(DecodeError),
    #[error("input document {index}: kind is {found:?}, expected {expected:?}")]
    WrongKind {
        index: usize,
        found: String,
        expected: String,
    },
    #[error("input document {index}: missing kind, expected \"kind: {expected}\"")]
    MissingKind { index: usize, expected: String },
    #[error("input document {index}: apiVersion is {found:?}, expected {expected:?}")]
    WrongApiVersion {
        index: usize,
        found: String,
        expected: String,
    },
    #[error("input document {index}: missing apiVersion, expected {expected:?}")]
    MissingApiVersion { index: usize, expected: String },
}

#[derive(serde::Deserialize)]
struct TypeProbe {
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

/// Decodes every document as `T` after checking that each declares `kind` and, when
/// given (or always, with `require_api_version`), `apiVersion`. The documents are
/// decoded straight into `T`, never through a generic value, so YAML scalars keep the
/// meaning the typed fields give them. Errors name the document by position.
pub fn decode_kind<T: DeserializeOwned>(
    bytes: &[u8],
    kind: &str,
    api_version: &str,
    require_api_version: bool,
) -> Result<Vec<T>, KindError> {
    let probes: Vec<TypeProbe> = decode_stream(bytes).map_err(KindError::Unreadable)?;
    for (i, probe) in probes.iter().enumerate() {
        let index = i + 1;
        match probe.kind.as_deref() {
            Some(k) if k == kind => {}
            Some(other) => {
                return Err(KindError::WrongKind {
                    index,
                    found: other.to_owned(),
                    expected: kind.to_owned(),
                });
            }
            None => {
                return Err(KindError::MissingKind {
                    index,
                    expected: kind.to_owned(),
                });
            }
        }
        match probe.api_version.as_deref() {
            Some(v) if v != api_version => {
                return Err(KindError::WrongApiVersion {
                    index,
                    found: v.to_owned(),
                    expected: api_version.to_owned(),
                });
            }
            None if require_api_version => {
                return Err(KindError::MissingApiVersion {
                    index,
                    expected: api_version.to_owned(),
                });
            }
            _ => {}
        }
    }
    decode_stream(bytes).map_err(KindError::Invalid)
}

/// Decodes every document of a YAML or JSON stream into `T`. Empty YAML documents
/// are skipped, as upstream skips them.
pub fn decode_stream<T: DeserializeOwned>(bytes: &[u8]) -> Result<Vec<T>, DecodeError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(DecodeError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::NotUtf8(e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if looks_like_json(text) {
        let mut out = Vec::new();
        for item in serde_json::Deserializer::from_str(text).into_iter::<T>() {
            out.push(item.map_err(|e| DecodeError::Json(e.to_string()))?);
            if out.len() > MAX_DOCUMENTS {
                return Err(DecodeError::Json(format!(
                    "more than {MAX_DOCUMENTS} documents"
                )));
            }
        }
        return Ok(out);
    }
    serde_saphyr::from_multiple_with_options(text, yaml_options())
        .map_err(|e| DecodeError::Yaml(yaml_message(&e.to_string())))
}

/// Words a parser message for users: no library hints, and the safety limits named.
fn yaml_message(raw: &str) -> String {
    let text = one_line(raw)
        .replace(", set DuplicateKeyPolicy in Options if acceptable", "")
        .replace("; use Option<String>", "");
    match text.strip_prefix("budget breached: ") {
        Some(rest) => format!(
            "the document exceeds the parser's safety limits (YAML alias bomb or oversized input): {rest}"
        ),
        None => text,
    }
}

/// Folds a multi-line library message into one line.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The output formats of `kubeseal -o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

/// How a JSON object is laid out when printed: Go prints struct fields in declaration
/// order and map keys sorted.
#[derive(Debug)]
pub enum Shape {
    Struct(&'static [(&'static str, Shape)]),
    Map(&'static Shape),
    List(&'static Shape),
    Any,
}

const OWNER_REFERENCE: Shape = Shape::Struct(&[
    ("apiVersion", Shape::Any),
    ("kind", Shape::Any),
    ("name", Shape::Any),
    ("uid", Shape::Any),
    ("controller", Shape::Any),
    ("blockOwnerDeletion", Shape::Any),
]);

const OBJECT_META: Shape = Shape::Struct(&[
    ("name", Shape::Any),
    ("generateName", Shape::Any),
    ("namespace", Shape::Any),
    ("selfLink", Shape::Any),
    ("uid", Shape::Any),
    ("resourceVersion", Shape::Any),
    ("generation", Shape::Any),
    ("creationTimestamp", Shape::Any),
    ("deletionTimestamp", Shape::Any),
    ("deletionGracePeriodSeconds", Shape::Any),
    ("labels", Shape::Map(&Shape::Any)),
    ("annotations", Shape::Map(&Shape::Any)),
    ("ownerReferences", Shape::List(&OWNER_REFERENCE)),
    ("finalizers", Shape::Any),
    ("managedFields", Shape::Any),
]);

/// `bitnami.com/v1alpha1` `SealedSecret`.
pub const SEALED_SECRET: Shape = Shape::Struct(&[
    ("kind", Shape::Any),
    ("apiVersion", Shape::Any),
    ("metadata", OBJECT_META),
    (
        "spec",
        Shape::Struct(&[
            (
                "template",
                Shape::Struct(&[
                    ("metadata", OBJECT_META),
                    ("type", Shape::Any),
                    ("immutable", Shape::Any),
                    ("data", Shape::Map(&Shape::Any)),
                ]),
            ),
            ("data", Shape::Any),
            ("encryptedData", Shape::Map(&Shape::Any)),
        ]),
    ),
    (
        "status",
        Shape::Struct(&[
            ("observedGeneration", Shape::Any),
            (
                "conditions",
                Shape::List(&Shape::Struct(&[
                    ("type", Shape::Any),
                    ("status", Shape::Any),
                    ("lastUpdateTime", Shape::Any),
                    ("lastTransitionTime", Shape::Any),
                    ("reason", Shape::Any),
                    ("message", Shape::Any),
                ])),
            ),
        ]),
    ),
]);

/// `v1` `Secret`.
pub const SECRET: Shape = Shape::Struct(&[
    ("kind", Shape::Any),
    ("apiVersion", Shape::Any),
    ("metadata", OBJECT_META),
    ("immutable", Shape::Any),
    ("data", Shape::Map(&Shape::Any)),
    ("stringData", Shape::Map(&Shape::Any)),
    ("type", Shape::Any),
]);

/// Reorders `value` in place: struct fields in `shape` order (unknown ones after, sorted),
/// map keys sorted.
pub fn arrange(value: &mut Value, shape: &Shape) {
    match (value, shape) {
        (Value::Object(map), Shape::Struct(fields)) => {
            let mut old = std::mem::take(map);
            for (name, field_shape) in fields.iter() {
                if let Some(mut v) = old.shift_remove(*name) {
                    arrange(&mut v, field_shape);
                    map.insert((*name).to_owned(), v);
                }
            }
            let mut rest: Vec<(String, Value)> = old.into_iter().collect();
            rest.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut v) in rest {
                sort_keys(&mut v);
                map.insert(k, v);
            }
        }
        (Value::Object(map), Shape::Map(item)) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut v) in entries {
                arrange(&mut v, item);
                map.insert(k, v);
            }
        }
        (Value::Array(items), Shape::List(item)) => items.iter_mut().for_each(|v| arrange(v, item)),
        (v, Shape::Any) => sort_keys(v),
        _ => {}
    }
}

/// Sorts every object's keys, recursively.
pub fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut v) in entries {
                sort_keys(&mut v);
                map.insert(k, v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// Prints `value` as Go's `json.MarshalIndent(v, "", "  ")` would, plus a newline.
pub fn to_go_json(value: &Value, shape: &Shape) -> String {
    let mut value = value.clone();
    arrange(&mut value, shape);
    let mut out = Vec::with_capacity(1024);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter::default());
    // Serialising a `Value` into memory cannot fail.
    let _ = serde::Serialize::serialize(&value, &mut ser);
    let mut text = String::from_utf8(out).unwrap_or_default();
    text.push('\n');
    text
}

/// Prints `value` as `kubeseal -o yaml` does: `---`, then YAML with sorted keys.
pub fn to_go_yaml(value: &Value) -> Result<String, serde_saphyr::SerializeError> {
    let mut value = value.clone();
    sort_keys(&mut value);
    let options = serde_saphyr::ser_options! {
        indent_step: 2,
        compact_list_indent: true,
        prefer_block_scalars: false,
    };
    let body = serde_saphyr::to_string_with_options(&value, options)?;
    let mut text = String::with_capacity(body.len() + 4);
    text.push_str("---\n");
    text.push_str(&body);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Prints in the chosen format.
pub fn to_text(
    value: &Value,
    shape: &Shape,
    format: Format,
) -> Result<String, serde_saphyr::SerializeError> {
    match format {
        Format::Json => Ok(to_go_json(value, shape)),
        Format::Yaml => to_go_yaml(value),
    }
}

/// serde_json's pretty printer plus Go's escaping of `<`, `>`, `&`, U+2028 and U+2029.
#[derive(Default)]
struct GoFormatter {
    inner: serde_json::ser::PrettyFormatter<'static>,
}

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escaped = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(fragment.get(start..i).unwrap_or_default().as_bytes())?;
            writer.write_all(escaped.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(fragment.get(start..).unwrap_or_default().as_bytes())
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.inner.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_follows_go_field_order_and_sorts_maps() {
        let v = json!({
            "apiVersion": "bitnami.com/v1alpha1",
            "spec": {"encryptedData": {"b": "2", "a": "1"}, "template": {"type": "Opaque", "metadata": {"namespace": "ns", "name": "n"}}},
            "metadata": {"annotations": {"z": "1"}, "namespace": "ns", "name": "n"},
            "kind": "SealedSecret"
        });
        let text = to_go_json(&v, &SEALED_SECRET);
        let expected = "{\n  \"kind\": \"SealedSecret\",\n  \"apiVersion\": \"bitnami.com/v1alpha1\",\n  \"metadata\": {\n    \"name\": \"n\",\n    \"namespace\": \"ns\",\n    \"annotations\": {\n      \"z\": \"1\"\n    }\n  },\n  \"spec\": {\n    \"template\": {\n      \"metadata\": {\n        \"name\": \"n\",\n        \"namespace\": \"ns\"\n      },\n      \"type\": \"Opaque\"\n    },\n    \"encryptedData\": {\n      \"a\": \"1\",\n      \"b\": \"2\"\n    }\n  }\n}\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn json_escapes_html_like_go() {
        let text = to_go_json(&json!({"a": "<x>&\u{2028}"}), &Shape::Any);
        assert_eq!(text, "{\n  \"a\": \"\\u003cx\\u003e\\u0026\\u2028\"\n}\n");
    }

    #[test]
    fn yaml_sorts_keys_and_quotes_ambiguous_strings() {
        let v = json!({"b": {"t": "true", "s": "", "y": "1"}, "a": {}, "c": null});
        let text = to_go_yaml(&v).unwrap();
        assert_eq!(
            text,
            "---\na: {}\nb:\n  s: \"\"\n  t: \"true\"\n  \"y\": \"1\"\nc: null\n"
        );
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Doc {
        v: String,
    }

    #[test]
    fn yaml_scalars_stay_strings_in_typed_fields() {
        let docs: Vec<Doc> =
            decode_stream(b"v: no\n---\nv: 0777\n---\nv: 1e3\n---\n---\nv: on\n").unwrap();
        let values: Vec<&str> = docs.iter().map(|d| d.v.as_str()).collect();
        assert_eq!(values, ["no", "0777", "1e3", "on"]);
    }

    #[test]
    fn json_stream_is_read() {
        let docs: Vec<Doc> = decode_stream(b" {\"v\": \"a\"}\n{\"v\": \"b\"}").unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut bomb =
            String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
        for i in 1..12 {
            let prev = (b'a' + (i - 1) as u8) as char;
            let cur = (b'a' + i as u8) as char;
            bomb.push_str(&format!("{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        let err = decode_stream::<serde_json::Value>(bomb.as_bytes()).unwrap_err();
        assert!(matches!(err, DecodeError::Yaml(_)), "{err}");
    }
}
