//! A scripted API server behind kube's `tower-test` mock: it keeps Secrets,
//! SealedSecrets and Events in memory, answers the calls the reconciler makes, and
//! records every request so tests can count writes.

#![allow(dead_code)]

use http::{Request, Response, StatusCode};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::client::Body;
use sealed_common::keys::Certificate;
use sealed_common::scope::Scope;
use sealed_common::{RsaPublicKey, SealedSecret};
use sealed_controller::keys::{KeyOrder, KeyRegistry, Source};
use sealed_controller::leader::Leadership;
use sealed_controller::reconcile::{Context, Settings};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors/kubeseal-0.36.6")
}

/// An upstream key Secret from the vectors (`A` or `B`).
pub fn key_secret(which: &str) -> Secret {
    let path = vectors().join(format!("keys/{which}.sealed-secrets-key.yaml"));
    let text = std::fs::read_to_string(&path).expect("vector key file");
    serde_saphyr::from_str(&text).expect("key Secret YAML")
}

pub fn fingerprint(which: &str) -> String {
    std::fs::read_to_string(vectors().join(format!("keys/{which}.fingerprint")))
        .expect("fingerprint file")
        .trim()
        .to_owned()
}

/// Where the files of test key `which` are: upstream's A and B, or the 2048-bit C, D
/// and E of testdata/multi-recipient.
fn key_file(which: &str, ext: &str) -> PathBuf {
    match which {
        "A" | "B" => vectors().join(format!("keys/{which}.{ext}")),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../testdata/multi-recipient/{which}.{ext}")),
    }
}

pub fn public_key(which: &str) -> RsaPublicKey {
    let pem = std::fs::read(key_file(which, "tls.crt")).expect("cert");
    Certificate::from_pem(&pem)
        .expect("certificate")
        .public_key()
        .clone()
}

pub fn private_key(which: &str) -> sealed_common::RsaPrivateKey {
    let pem = std::fs::read(key_file(which, "tls.key")).expect("key");
    sealed_common::keys::parse_private_key_pem(&pem).expect("private key")
}

/// A registry holding the given vector keys, listed (ready).
pub fn registry(keys: &[&str]) -> Arc<KeyRegistry> {
    let registry = KeyRegistry::new(KeyOrder::CertNotBefore);
    let secrets: Vec<Secret> = keys.iter().map(|k| key_secret(k)).collect();
    registry.replace(Source::Labelled, &secrets);
    registry.replace(Source::Legacy, &[]);
    registry
}

/// A SealedSecret `ns/name` whose items are sealed with vector key `key` (strict).
pub fn sealed(ns: &str, name: &str, items: &[(&str, &str)], key: &str) -> SealedSecret {
    sealed_with_scope(ns, name, items, key, Scope::Strict)
}

pub fn sealed_with_scope(
    ns: &str,
    name: &str,
    items: &[(&str, &str)],
    key: &str,
    scope: Scope,
) -> SealedSecret {
    sealed_for(ns, name, items, &[key], scope)
}

/// A SealedSecret `ns/name` whose items are sealed for every key of `keys` (one key:
/// upstream's layout).
pub fn sealed_for(
    ns: &str,
    name: &str,
    items: &[(&str, &str)],
    keys: &[&str],
    scope: Scope,
) -> SealedSecret {
    let public: Vec<RsaPublicKey> = keys.iter().map(|k| public_key(k)).collect();
    let public: Vec<&RsaPublicKey> = public.iter().collect();
    let label = scope.label(ns, name);
    let encrypted: BTreeMap<String, String> = items
        .iter()
        .map(|(k, v)| {
            let sealed = sealed_common::recipients::seal_value_for(&public, v.as_bytes(), &label)
                .expect("seal");
            (k.to_string(), sealed)
        })
        .collect();
    let mut annotations = BTreeMap::new();
    scope.write_annotations(&mut annotations);
    serde_json::from_value(json!({
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {
            "name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}"),
            "generation": 1, "resourceVersion": "1", "annotations": annotations,
        },
        "spec": { "encryptedData": encrypted, "template": { "metadata": { "name": name, "namespace": ns } } }
    }))
    .expect("SealedSecret")
}

/// One recorded request.
#[derive(Clone, Debug)]
pub struct Call {
    /// The name of the client that made it (`client_named`).
    pub client: String,
    pub method: String,
    pub path: String,
    pub body: Value,
}

#[derive(Default)]
pub struct State {
    pub secrets: BTreeMap<(String, String), Value>,
    pub sealed: BTreeMap<(String, String), Value>,
    pub events: Vec<Value>,
    pub calls: Vec<Call>,
    /// Behave like upstream's CRD: drop `status.keyFingerprint`.
    pub prune_fingerprint: bool,
    /// Answer 403 to Secret creation (RBAC missing).
    pub forbid_create: bool,
    pub leases: BTreeMap<(String, String), Value>,
    /// Clients whose calls fail with 503, as if cut off from the API server.
    pub cut_off: std::collections::BTreeSet<String>,
    /// Namespaces being deleted: creates in them get the NamespaceLifecycle 403.
    pub terminating: std::collections::BTreeSet<String>,
    /// Failures to answer, in order, to the requests they match.
    pub faults: Vec<Fault>,
    /// The next this many Lease PUTs answer 409 Conflict.
    pub lease_conflicts: u32,
    next_version: u64,
}

/// An injected failure: the next `times` requests whose method is `method` and whose
/// path contains `path` get `code` with `reason` (and `retryAfterSeconds`, if any).
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: &'static str,
    pub path: &'static str,
    pub code: u16,
    pub reason: &'static str,
    pub retry_after: u32,
    pub times: u32,
}

impl Fault {
    pub fn new(method: &'static str, path: &'static str, code: u16, reason: &'static str) -> Fault {
        Fault {
            method,
            path,
            code,
            reason,
            retry_after: 0,
            times: 1,
        }
    }

    pub fn times(mut self, times: u32) -> Fault {
        self.times = times;
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Fault {
        self.retry_after = seconds;
        self
    }
}

/// The fake API server.
#[derive(Clone, Default)]
pub struct FakeApi {
    pub state: Arc<Mutex<State>>,
}

impl FakeApi {
    pub fn new() -> FakeApi {
        FakeApi::default()
    }

    /// A client whose requests this fake answers, on a background task.
    pub fn client(&self) -> Client {
        self.client_named("default")
    }

    /// A client whose calls are recorded under `who` (one per simulated replica).
    pub fn client_named(&self, who: &str) -> Client {
        let who = who.to_owned();
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let state = Arc::clone(&self.state);
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.expect("request body");
                let body: Value = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).expect("JSON request body")
                };
                let (status, answer) = {
                    let mut state = state.lock().expect("state");
                    state.calls.push(Call {
                        client: who.clone(),
                        method: parts.method.to_string(),
                        path: parts.uri.path().to_owned(),
                        body: body.clone(),
                    });
                    if state.cut_off.contains(&who) {
                        status(503, "ServiceUnavailable", "cut off")
                    } else if let Some(fault) =
                        state.take_fault(parts.method.as_str(), parts.uri.path())
                    {
                        fault
                    } else {
                        state.answer(
                            parts.method.as_str(),
                            parts.uri.path(),
                            parts.uri.query().unwrap_or_default(),
                            body,
                        )
                    }
                };
                let response = Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&answer).expect("JSON")))
                    .expect("response");
                send.send_response(response);
            }
        });
        Client::new(service, "default")
    }

    /// A reconcile context over this fake, with the default settings.
    pub fn context(&self, registry: Arc<KeyRegistry>) -> Arc<Context> {
        self.context_with(registry, Settings::default())
    }

    pub fn context_with(&self, registry: Arc<KeyRegistry>, settings: Settings) -> Arc<Context> {
        Arc::new(Context::new(
            self.client(),
            registry,
            Leadership::sole(),
            settings,
        ))
    }

    /// The context of replica `who` (its own client) under `leader`.
    pub fn replica_context(
        &self,
        who: &str,
        registry: Arc<KeyRegistry>,
        leader: Arc<Leadership>,
    ) -> Arc<Context> {
        Arc::new(Context::new(
            self.client_named(who),
            registry,
            leader,
            Settings::default(),
        ))
    }

    /// Makes the next matching request fail.
    pub fn fail(&self, fault: Fault) {
        self.state.lock().expect("state").faults.push(fault);
    }

    /// Deletes the namespace's way: creates in it are refused from now on.
    pub fn terminate_namespace(&self, ns: &str) {
        self.state
            .lock()
            .expect("state")
            .terminating
            .insert(ns.to_owned());
    }

    pub fn set_deleting(&self, ns: &str, name: &str) {
        let mut state = self.state.lock().expect("state");
        let stored = state
            .sealed
            .get_mut(&(ns.to_owned(), name.to_owned()))
            .expect("stored SealedSecret");
        stored["metadata"]["deletionTimestamp"] = json!("2026-11-01T00:00:00Z");
    }

    pub fn put_secret(&self, secret: Value) {
        let mut state = self.state.lock().expect("state");
        let key = object_key(&secret);
        let secret = state.stamp(secret);
        state.secrets.insert(key, secret);
    }

    pub fn put_sealed(&self, sealed: &SealedSecret) {
        let mut state = self.state.lock().expect("state");
        let value = serde_json::to_value(sealed).expect("JSON");
        state.sealed.insert(object_key(&value), value);
    }

    /// The SealedSecret as the fake stores it now (with the status written so far).
    pub fn sealed(&self, ns: &str, name: &str) -> SealedSecret {
        let state = self.state.lock().expect("state");
        let value = state
            .sealed
            .get(&(ns.to_owned(), name.to_owned()))
            .expect("stored SealedSecret");
        serde_json::from_value(value.clone()).expect("SealedSecret")
    }

    pub fn secret(&self, ns: &str, name: &str) -> Option<Secret> {
        let state = self.state.lock().expect("state");
        state
            .secrets
            .get(&(ns.to_owned(), name.to_owned()))
            .map(|v| serde_json::from_value(v.clone()).expect("Secret"))
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().expect("state").calls.clone()
    }

    /// Every request made so far, as "METHOD path", events and Leases included.
    pub fn requests(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .map(|c| format!("{} {}", c.method, c.path))
            .collect()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_calls(&self) {
        self.state.lock().expect("state").calls.clear();
    }

    /// Writes made so far, events included (not the election's Lease calls).
    pub fn writes(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method != "GET" && !c.path.contains("/leases"))
            .collect()
    }

    /// (type, reason, note) of every event published.
    pub fn events(&self) -> Vec<(String, String, String)> {
        let state = self.state.lock().expect("state");
        state
            .events
            .iter()
            .map(|e| {
                let s = |k: &str| {
                    e.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                (s("type"), s("reason"), s("note"))
            })
            .collect()
    }
}

fn object_key(v: &Value) -> (String, String) {
    let m = &v["metadata"];
    (
        m["namespace"].as_str().unwrap_or_default().to_owned(),
        m["name"].as_str().unwrap_or_default().to_owned(),
    )
}

fn status(code: u16, reason: &str, message: &str) -> (StatusCode, Value) {
    (
        StatusCode::from_u16(code).expect("status code"),
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message}),
    )
}

/// The real API server's refusals of a Secret update (422): `type` never changes, an
/// immutable Secret keeps its data and stays immutable.
fn secret_update_refusal(name: &str, existing: &Value, body: &Value) -> Option<Answer> {
    let type_of = |v: &Value| v["type"].as_str().unwrap_or("Opaque").to_owned();
    let invalid = |field: &str, detail: String| {
        let (code, mut answer) = status(
            422,
            "Invalid",
            &format!("Secret \"{name}\" is invalid: {field}: {detail}"),
        );
        answer["details"] = json!({"name": name, "kind": "Secret", "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}]});
        (code, answer)
    };
    if type_of(existing) != type_of(body) {
        return Some(invalid(
            "type",
            format!("Invalid value: {:?}: field is immutable", type_of(body)),
        ));
    }
    if existing["immutable"] == json!(true) {
        let forbidden = "Forbidden: field is immutable when `immutable` is set".to_owned();
        if body["immutable"] != json!(true) {
            return Some(invalid("immutable", forbidden));
        }
        if existing["data"] != body["data"] {
            return Some(invalid("data", forbidden));
        }
    }
    None
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().expect("object");
    for (k, v) in fields {
        if v.is_null() {
            object.remove(k);
        } else {
            merge(object.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The kinds the fake creates and replaces the same way.
#[derive(Clone, Copy)]
enum Table {
    Secrets,
    Leases,
}

impl Table {
    fn resource(self) -> &'static str {
        match self {
            Table::Secrets => "secrets",
            Table::Leases => "leases.coordination.k8s.io",
        }
    }
}

type Answer = (StatusCode, Value);

impl State {
    fn take_fault(&mut self, method: &str, path: &str) -> Option<Answer> {
        let index = self
            .faults
            .iter()
            .position(|f| f.method == method && path.contains(f.path))?;
        let fault = &mut self.faults[index];
        let (code, reason, retry_after) = (fault.code, fault.reason, fault.retry_after);
        fault.times -= 1;
        if fault.times == 0 {
            self.faults.remove(index);
        }
        let (code_status, mut body) = status(code, reason, &format!("injected {code} {reason}"));
        if retry_after > 0 {
            body["details"] = json!({"retryAfterSeconds": retry_after});
        }
        Some((code_status, body))
    }

    /// NamespaceLifecycle's answer to a create in a namespace being deleted.
    fn refuse_create(&self, ns: &str, resource: &str, name: &str) -> Option<Answer> {
        if !self.terminating.contains(ns) {
            return None;
        }
        let (code, mut body) = status(
            403,
            "Forbidden",
            &format!(
                "{resource} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated"
            ),
        );
        body["details"] = json!({"name": name, "kind": resource, "causes": [{
            "reason": "NamespaceTerminating",
            "message": format!("namespace {ns} is being terminated"),
            "field": "metadata.namespace"}]});
        Some((code, body))
    }

    fn table(&mut self, table: Table) -> &mut BTreeMap<(String, String), Value> {
        match table {
            Table::Secrets => &mut self.secrets,
            Table::Leases => &mut self.leases,
        }
    }

    /// POST: 409 AlreadyExists for a taken name.
    fn create(&mut self, table: Table, object: Value) -> Answer {
        let key = object_key(&object);
        if self.table(table).contains_key(&key) {
            return status(
                409,
                "AlreadyExists",
                &format!("{} \"{}\" already exists", table.resource(), key.1),
            );
        }
        let object = self.stamp(object);
        self.table(table).insert(key, object.clone());
        (StatusCode::CREATED, object)
    }

    /// PUT: 404 for a missing object, 409 Conflict for a stale resourceVersion (the
    /// compare-and-swap leader election relies on), then `refuse`'s own checks.
    fn replace(
        &mut self,
        table: Table,
        key: (String, String),
        body: Value,
        refuse: impl FnOnce(&Value, &Value) -> Option<Answer>,
    ) -> Answer {
        let resource = table.resource();
        let Some(existing) = self.table(table).get(&key) else {
            return status(
                404,
                "NotFound",
                &format!("{resource} \"{}\" not found", key.1),
            );
        };
        if existing["metadata"]["resourceVersion"] != body["metadata"]["resourceVersion"] {
            return status(
                409,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on {resource} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                    key.1
                ),
            );
        }
        if let Some(refused) = refuse(existing, &body) {
            return refused;
        }
        let object = self.stamp(body);
        self.table(table).insert(key, object.clone());
        (StatusCode::OK, object)
    }

    fn stamp(&mut self, mut object: Value) -> Value {
        self.next_version += 1;
        let meta = &mut object["metadata"];
        meta["resourceVersion"] = json!(format!("{}", 100 + self.next_version));
        if meta.get("uid").is_none() {
            meta["uid"] = json!(format!("uid-{}", self.next_version));
        }
        if meta.get("creationTimestamp").is_none() {
            meta["creationTimestamp"] = json!("2026-11-01T00:00:00Z");
        }
        object
    }

    fn answer(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, parts.as_slice()) {
            ("GET", ["api", "v1", "namespaces", ns, "secrets"]) => {
                let selector = query
                    .split('&')
                    .find_map(|p| p.strip_prefix("labelSelector="))
                    .map(|s| s.replace("%3D", "=").replace("%2F", "/"))
                    .unwrap_or_default();
                let (label, value) = selector.split_once('=').unwrap_or((&selector, ""));
                let items: Vec<Value> = self
                    .secrets
                    .iter()
                    .filter(|((n, _), _)| n == ns)
                    .filter(|(_, v)| {
                        label.is_empty() || v["metadata"]["labels"][label] == json!(value)
                    })
                    .map(|(_, v)| v.clone())
                    .collect();
                (
                    StatusCode::OK,
                    json!({"apiVersion": "v1", "kind": "SecretList", "metadata": {"resourceVersion": "1"}, "items": items}),
                )
            }
            (
                "GET",
                [
                    "apis",
                    "coordination.k8s.io",
                    "v1",
                    "namespaces",
                    ns,
                    "leases",
                    name,
                ],
            ) => match self.leases.get(&(ns.to_string(), name.to_string())) {
                Some(l) => (StatusCode::OK, l.clone()),
                None => status(
                    404,
                    "NotFound",
                    &format!("leases.coordination.k8s.io \"{name}\" not found"),
                ),
            },
            (
                "POST",
                [
                    "apis",
                    "coordination.k8s.io",
                    "v1",
                    "namespaces",
                    ns,
                    "leases",
                ],
            ) => {
                let mut lease = body;
                lease["metadata"]["namespace"] = json!(ns);
                self.create(Table::Leases, lease)
            }
            (
                "PUT",
                [
                    "apis",
                    "coordination.k8s.io",
                    "v1",
                    "namespaces",
                    ns,
                    "leases",
                    name,
                ],
            ) => {
                if self.lease_conflicts > 0 {
                    self.lease_conflicts -= 1;
                    return status(
                        409,
                        "Conflict",
                        &format!(
                            "Operation cannot be fulfilled on leases.coordination.k8s.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                        ),
                    );
                }
                self.replace(
                    Table::Leases,
                    (ns.to_string(), name.to_string()),
                    body,
                    |_, _| None,
                )
            }
            ("POST", ["apis", "events.k8s.io", "v1", "namespaces", ns, "events"]) => {
                if let Some(refused) = self.refuse_create(ns, "events", "e") {
                    return refused;
                }
                self.events.push(body.clone());
                (StatusCode::CREATED, body)
            }
            ("PATCH", ["apis", "events.k8s.io", "v1", "namespaces", _, "events", _]) => {
                self.events.push(body.clone());
                (StatusCode::OK, body)
            }
            ("GET", ["api", "v1", "namespaces", ns, "secrets", name]) => {
                match self.secrets.get(&(ns.to_string(), name.to_string())) {
                    Some(s) => (StatusCode::OK, s.clone()),
                    None => status(404, "NotFound", &format!("secrets \"{name}\" not found")),
                }
            }
            ("POST", ["api", "v1", "namespaces", _, "secrets"]) if self.forbid_create => status(
                403,
                "Forbidden",
                "secrets is forbidden: User \"system:serviceaccount:kube-system:x\" cannot create resource \"secrets\"",
            ),
            ("POST", ["api", "v1", "namespaces", ns, "secrets"]) => {
                let name = body["metadata"]["name"].as_str().unwrap_or_default();
                if let Some(refused) = self.refuse_create(ns, "secrets", name) {
                    return refused;
                }
                let mut secret = body;
                if secret["metadata"].get("name").is_none() {
                    let prefix = secret["metadata"]["generateName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    secret["metadata"]["name"] = json!(format!("{prefix}x{}", self.next_version));
                }
                secret["metadata"]["namespace"] = json!(ns);
                self.create(Table::Secrets, secret)
            }
            ("PUT", ["api", "v1", "namespaces", ns, "secrets", name]) => {
                let key = (ns.to_string(), name.to_string());
                self.replace(Table::Secrets, key, body, |existing, body| {
                    secret_update_refusal(name, existing, body)
                })
            }
            ("DELETE", ["api", "v1", "namespaces", ns, "secrets", name]) => {
                let key = (ns.to_string(), name.to_string());
                let Some(existing) = self.secrets.get(&key) else {
                    return status(404, "NotFound", &format!("secrets \"{name}\" not found"));
                };
                let pre = &body["preconditions"];
                for (field, held) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
                    let wanted = &pre[field];
                    let actual = &existing["metadata"][field];
                    if !wanted.is_null() && wanted != actual {
                        return status(
                            409,
                            "Conflict",
                            &format!(
                                "Operation cannot be fulfilled on secrets \"{name}\": Precondition failed: {held} in precondition: {}, {held} in object meta: {}",
                                wanted.as_str().unwrap_or_default(),
                                actual.as_str().unwrap_or_default()
                            ),
                        );
                    }
                }
                let gone = self.secrets.remove(&key).unwrap_or_default();
                (StatusCode::OK, gone)
            }
            (
                "PATCH",
                [
                    "apis",
                    "bitnami.com",
                    "v1alpha1",
                    "namespaces",
                    ns,
                    "sealedsecrets",
                    name,
                    "status",
                ],
            ) => {
                let key = (ns.to_string(), name.to_string());
                let prune = self.prune_fingerprint;
                let Some(stored) = self.sealed.get_mut(&key) else {
                    return status(
                        404,
                        "NotFound",
                        &format!("sealedsecrets.bitnami.com \"{name}\" not found"),
                    );
                };
                let mut patch = body;
                if prune {
                    patch["status"]
                        .as_object_mut()
                        .map(|s| s.remove("keyFingerprint"));
                }
                merge(stored, &patch);
                let version = stored["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                stored["metadata"]["resourceVersion"] = json!(format!("{}", version + 1));
                (StatusCode::OK, stored.clone())
            }
            _ => status(
                404,
                "NotFound",
                &format!("the fake API server does not serve {method} {path}"),
            ),
        }
    }
}
