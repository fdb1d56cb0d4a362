// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! The Helm chart (deploy/helm/sealed-secrets) takes upstream's values files unchanged:
//! every key of upstream's chart with its default, the same objects under the same names,
//! controller args our controller parses, and this project's RBAC. Rendered offline with
//! Helm 4's engine (PyPI helm-python-sdk) through deploy/helm/render.py.

use clap::Parser;
use sealed_controller::flags::Flags;
use sealed_manifests::{
    HELM_CHART, HELM_CRD_FILE, REGENERATE, crd_yaml, first_difference, helm_render, helm_script,
    workspace_root,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const UPSTREAM_VALUES: &str = "testdata/upstream/helm-values.yaml";
const TESTDATA: &str = "deploy/helm/testdata";
const HOME: &str = "kube-system";

/// Values files written for upstream's chart, and this project's own settings.
const VALUES_FILES: &[&str] = &[
    "upstream-controller-name.yaml",
    "upstream-namespaced.yaml",
    "upstream-metrics-ingress.yaml",
    "upstream-edge-cases.yaml",
    "rs-ha.yaml",
];

/// Upstream keys whose default differs here, on purpose: the image is this project's.
const DEFAULTS_THAT_DIFFER: &[&str] = &["image.registry", "image.repository", "image.tag"];

fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(relative: &str) -> Value {
    serde_saphyr::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn render(values: &str) -> Vec<Value> {
    render_as(values, "sealed-secrets", HOME)
}

fn render_as(values: &str, release: &str, namespace: &str) -> Vec<Value> {
    helm_render(values, release, namespace)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(_, object)| object)
        .collect()
}

fn testdata(file: &str) -> String {
    format!("{TESTDATA}/{file}")
}

fn identity(o: &Value) -> (String, String, String) {
    (
        o["kind"].as_str().unwrap_or_default().to_owned(),
        o["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn find<'a>(objects: &'a [Value], kind: &str, namespace: Option<&str>, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| {
            o["kind"] == kind
                && o["metadata"]["name"] == name
                && o["metadata"]["namespace"].as_str() == namespace
        })
        .unwrap_or_else(|| {
            let all: Vec<_> = objects.iter().map(identity).collect();
            panic!("no {kind} {namespace:?}/{name} in {all:?}")
        })
}

fn container(objects: &[Value]) -> &Value {
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment");
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

fn args(objects: &[Value]) -> Vec<String> {
    container(objects)["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("a string arg").to_owned())
        .collect()
}

/// The controller's own clap type parses the args (as the container would start).
fn parse_flags(args: &[String]) -> Flags {
    Flags::try_parse_from(
        std::iter::once("sealed-secrets-controller").chain(args.iter().map(String::as_str)),
    )
    .unwrap_or_else(|e| panic!("the controller refuses the chart's args {args:?}: {e}"))
}

/// Leaf paths of a values tree (`a.b.c`); empty maps and lists are leaves.
fn leaves(value: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(child, &path, out);
            }
        }
        _ => out.push((prefix.to_owned(), value.clone())),
    }
}

fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

#[test]
fn chart_crd_is_generated_from_the_types() {
    let committed = read(HELM_CRD_FILE);
    let generated = crd_yaml().expect("the CRD renders");
    assert!(
        committed == generated,
        "{HELM_CRD_FILE} differs from what common/src/sealed_secret.rs generates; run \
         `{REGENERATE}` and commit the result. First difference at {}",
        first_difference(&committed, &generated)
    );
}

/// Every key of upstream's values.yaml is in ours with upstream's default (the image
/// aside), so an upstream values file means the same here.
#[test]
fn every_upstream_key_has_upstreams_default() {
    let upstream = yaml(UPSTREAM_VALUES);
    let ours = yaml(&format!("{HELM_CHART}/values.yaml"));
    let mut paths = Vec::new();
    leaves(&upstream, "", &mut paths);
    assert!(paths.len() > 120, "only {} upstream keys read", paths.len());
    let mut wrong = Vec::new();
    for (path, default) in &paths {
        let mine = at(&ours, path);
        if DEFAULTS_THAT_DIFFER.contains(&path.as_str()) {
            assert!(mine.is_some(), "{path} is missing from our values.yaml");
        } else if mine != Some(default) {
            wrong.push(format!("{path}: upstream {default}, ours {mine:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "defaults differ from upstream's:\n{}",
        wrong.join("\n")
    );
}

/// The schema lists every upstream key (loosely typed), and renders upstream's own
/// values.yaml as a values file.
#[test]
fn schema_accepts_every_upstream_key() {
    let schema: Value =
        serde_json::from_str(&read(&format!("{HELM_CHART}/values.schema.json"))).expect("JSON");
    let upstream = yaml(UPSTREAM_VALUES);
    let mut paths = Vec::new();
    leaves(&upstream, "", &mut paths);
    for (path, _) in &paths {
        let mut node = &schema;
        for key in path.split('.') {
            let Some(properties) = node.get("properties") else {
                break; // a free-form object: anything inside is accepted
            };
            node = properties
                .get(key)
                .unwrap_or_else(|| panic!("values.schema.json does not list {path}"));
        }
    }
    let objects = render(UPSTREAM_VALUES);
    assert!(objects.iter().any(|o| o["kind"] == "Deployment"));
}

/// With the defaults, release `sealed-secrets` in kube-system: upstream's chart's objects
/// under upstream's names, plus the Role this project's rate limit needs.
#[test]
fn default_render_has_upstreams_objects() {
    let objects = render("-");
    let got: BTreeSet<(String, String, String)> = objects.iter().map(identity).collect();
    let upstream = [
        ("ServiceAccount", HOME, "sealed-secrets"),
        ("ClusterRole", "", "secrets-unsealer"),
        ("ClusterRoleBinding", "", "sealed-secrets"),
        ("Role", HOME, "sealed-secrets-key-admin"),
        ("RoleBinding", HOME, "sealed-secrets-key-admin"),
        ("Role", HOME, "sealed-secrets-service-proxier"),
        ("RoleBinding", HOME, "sealed-secrets-service-proxier"),
        ("Deployment", HOME, "sealed-secrets"),
        ("Service", HOME, "sealed-secrets"),
        ("Service", HOME, "sealed-secrets-metrics"),
    ];
    let ours = [
        ("Role", "default", "sealed-secrets-apiserver-addresses"),
        (
            "RoleBinding",
            "default",
            "sealed-secrets-apiserver-addresses",
        ),
    ];
    let want: BTreeSet<(String, String, String)> = upstream
        .iter()
        .chain(ours.iter())
        .map(|(k, ns, n)| ((*k).to_owned(), (*ns).to_owned(), (*n).to_owned()))
        .collect();
    assert_eq!(got, want);

    // Upstream's selector (immutable on a Deployment), so `helm upgrade` replaces in place.
    let deployment = find(&objects, "Deployment", Some(HOME), "sealed-secrets");
    let selector = json!({
        "app.kubernetes.io/name": "sealed-secrets",
        "app.kubernetes.io/instance": "sealed-secrets",
    });
    assert_eq!(deployment["spec"]["selector"]["matchLabels"], selector);
    assert_eq!(deployment["spec"]["replicas"], 1);
    let service = find(&objects, "Service", Some(HOME), "sealed-secrets");
    assert_eq!(service["spec"]["selector"], selector);
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "http", "port": 8080, "targetPort": "http"}])
    );
    let c = container(&objects);
    assert_eq!(
        c["image"],
        "ghcr.io/example/sealed-secrets-controller:0.1.0"
    );
    assert!(c.get("command").is_none(), "the image's entrypoint runs");
    let flags = parse_flags(&args(&objects));
    assert_eq!(flags.key_prefix, "sealed-secrets-key");
    assert!(
        !flags.leader_elect,
        "one replica: no leader election by default"
    );
    assert!(flags.all_namespaces);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(c.get("startupProbe").is_none());
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["runAsUser"], 1001);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(pod["serviceAccountName"], "sealed-secrets");
    let env = c["env"].as_array().expect("env");
    assert!(env.iter().any(|e| e["name"] == "POD_NAMESPACE"
        && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"));
}

/// The chart grants what deploy/base grants (only what the controller calls), under
/// upstream's names.
#[test]
fn default_rbac_is_the_bases() {
    let text = read("deploy/controller.yaml");
    let base: Vec<Value> = serde_saphyr::from_multiple(&text).expect("deploy/controller.yaml");
    let objects = render("-");
    let same = |kind: &str, ns: Option<&str>, ours: &str, theirs: &str| {
        assert_eq!(
            find(&objects, kind, ns, ours)["rules"],
            find(&base, kind, ns, theirs)["rules"],
            "{kind} {ours}"
        );
    };
    same("ClusterRole", None, "secrets-unsealer", "secrets-unsealer");
    same(
        "Role",
        Some(HOME),
        "sealed-secrets-key-admin",
        "sealed-secrets-key-admin",
    );
    same(
        "Role",
        Some("default"),
        "sealed-secrets-apiserver-addresses",
        "sealed-secrets-apiserver-addresses",
    );
    let proxier = find(
        &objects,
        "Role",
        Some(HOME),
        "sealed-secrets-service-proxier",
    );
    assert_eq!(
        proxier["rules"][1]["resourceNames"],
        json!([
            "sealed-secrets",
            "http:sealed-secrets:",
            "http:sealed-secrets:http"
        ])
    );
    let binding = find(
        &objects,
        "RoleBinding",
        Some(HOME),
        "sealed-secrets-service-proxier",
    );
    assert_eq!(binding["subjects"][0]["name"], "system:authenticated");
    for (kind, ns, name) in [
        ("ClusterRoleBinding", None, "sealed-secrets"),
        ("RoleBinding", Some(HOME), "sealed-secrets-key-admin"),
        (
            "RoleBinding",
            Some("default"),
            "sealed-secrets-apiserver-addresses",
        ),
    ] {
        assert_eq!(
            find(&objects, kind, ns, name)["subjects"],
            json!([{"kind": "ServiceAccount", "name": "sealed-secrets", "namespace": HOME}]),
            "{kind} {name}"
        );
    }
}

/// Every values file renders to args the controller accepts, and `helm lint` (strict) has
/// nothing to say about it.
#[test]
fn every_values_file_gives_flags_the_controller_accepts_and_lints_clean() {
    let mut files = vec!["-".to_owned(), UPSTREAM_VALUES.to_owned()];
    files.extend(VALUES_FILES.iter().map(|f| testdata(f)));
    for file in &files {
        let objects = render(file);
        parse_flags(&args(&objects));
        helm_script(&["lint", HELM_CHART, file, HOME])
            .unwrap_or_else(|e| panic!("helm lint with {file}: {e}"));
    }
}

/// kubeseal's default controller name, own image, tuned keys: each value reaches its flag.
#[test]
fn upstream_values_with_kubeseals_default_name() {
    let objects = render(&testdata("upstream-controller-name.yaml"));
    let name = "sealed-secrets-controller";
    for (kind, ns) in [
        ("Deployment", Some(HOME)),
        ("Service", Some(HOME)),
        ("ServiceAccount", Some(HOME)),
        ("ClusterRoleBinding", None),
        ("NetworkPolicy", Some(HOME)),
        ("PodDisruptionBudget", Some(HOME)),
    ] {
        find(&objects, kind, ns, name);
    }
    find(
        &objects,
        "Service",
        Some(HOME),
        "sealed-secrets-controller-metrics",
    );
    let proxier = find(
        &objects,
        "Role",
        Some(HOME),
        "sealed-secrets-controller-service-proxier",
    );
    assert!(
        proxier["rules"][1]["resourceNames"]
            .as_array()
            .unwrap()
            .contains(&json!("http:sealed-secrets-controller:http"))
    );
    let c = container(&objects);
    assert_eq!(
        c["image"],
        "registry.example.com/platform/sealed-secrets-controller:0.1.0-rs"
    );
    assert_eq!(c["imagePullPolicy"], "Always");
    let flags = parse_flags(&args(&objects));
    assert_eq!(flags.renew_period(), std::time::Duration::ZERO);
    assert_eq!(flags.key_ttl, std::time::Duration::from_secs(8760 * 3600));
    assert_eq!(flags.key_cutoff_time, "Mon, 14 Oct 2024 21:45:30 +0200");
    assert_eq!((flags.rate_limit, flags.rate_limit_burst), (5, 10));
    assert!(!flags.update_status && flags.skip_recreate && flags.watch_for_secrets);
    assert_eq!(flags.max_unseal_retries, 3);
    assert_eq!(
        (flags.log_level.as_str(), flags.log_format.as_str()),
        ("ERROR", "json")
    );
    assert_eq!(flags.privatekey_labels, "team=platform");
    assert_eq!(
        flags.privatekey_annotations,
        "backup.example.com/policy=daily"
    );
    assert!((flags.kubeclient_qps - 50.0).abs() < f32::EPSILON);
    assert_eq!(c["startupProbe"]["failureThreshold"], 30);
    assert_eq!(c["startupProbe"]["httpGet"]["path"], "/healthz");
    let deployment = find(&objects, "Deployment", Some(HOME), name);
    assert_eq!(deployment["metadata"]["labels"]["owner"], "platform");
    assert_eq!(
        deployment["metadata"]["annotations"]["example.com/managed"],
        "gitops"
    );
    assert_eq!(deployment["spec"]["revisionHistoryLimit"], 3);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    let policy = find(&objects, "NetworkPolicy", Some(HOME), name);
    assert_eq!(
        policy["spec"]["egress"],
        json!([{"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}], "ports": [{"protocol": "TCP", "port": 6443}]}])
    );
    let pdb = find(&objects, "PodDisruptionBudget", Some(HOME), name);
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

/// Upstream's namespaced RBAC: the controller watches its home and the listed namespaces
/// only, and has the base's unsealer rules in exactly those.
#[test]
fn namespaced_roles_cover_exactly_the_watched_namespaces() {
    let objects = render(&testdata("upstream-namespaced.yaml"));
    assert!(
        !objects
            .iter()
            .any(|o| o["kind"] == "ClusterRole" || o["kind"] == "ClusterRoleBinding")
    );
    let flags = parse_flags(&args(&objects));
    assert!(!flags.all_namespaces);
    let mut watched = flags.additional_namespaces();
    watched.push(HOME.to_owned());
    watched.sort();
    let base: Vec<Value> =
        serde_saphyr::from_multiple(&read("deploy/controller.yaml")).expect("base");
    let rules = &find(&base, "ClusterRole", None, "secrets-unsealer")["rules"];
    let mut granted: Vec<String> = objects
        .iter()
        .filter(|o| o["kind"] == "Role" && o["metadata"]["name"] == "secrets-unsealer")
        .map(|role| {
            let ns = role["metadata"]["namespace"].as_str().unwrap();
            assert_eq!(role["rules"], *rules, "Role secrets-unsealer in {ns}");
            assert_eq!(
                role["metadata"]["labels"]["rbac.example.com/owner"],
                "platform"
            );
            let binding = find(&objects, "RoleBinding", Some(ns), "sealed-secrets");
            assert_eq!(binding["roleRef"]["name"], "secrets-unsealer");
            assert_eq!(
                binding["subjects"],
                json!([{"kind": "ServiceAccount", "name": "sealed-secrets", "namespace": HOME}])
            );
            ns.to_owned()
        })
        .collect();
    granted.sort();
    assert_eq!(granted, watched);
    let proxier = find(
        &objects,
        "RoleBinding",
        Some(HOME),
        "sealed-secrets-service-proxier",
    );
    assert_eq!(
        proxier["subjects"],
        json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "developers"}])
    );
}

/// Metrics for the Prometheus Operator, a Grafana dashboard of this controller's metrics,
/// an Ingress to the certificate, an image by digest, other ports.
#[test]
fn metrics_dashboards_ingress_and_digest() {
    let objects = render(&testdata("upstream-metrics-ingress.yaml"));
    let c = container(&objects);
    assert_eq!(
        c["image"],
        "registry.example.com/sealed-secrets-rs/controller@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(
        c["ports"],
        json!([{"name": "http", "containerPort": 9090}, {"name": "metrics", "containerPort": 9091}])
    );
    let flags = parse_flags(&args(&objects));
    assert_eq!(
        (
            flags.listen_addr.as_str(),
            flags.listen_metrics_addr.as_str()
        ),
        (":9090", ":9091")
    );

    let monitor = find(
        &objects,
        "ServiceMonitor",
        Some("monitoring"),
        "sealed-secrets",
    );
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    assert_eq!(
        monitor["spec"]["namespaceSelector"]["matchNames"],
        json!([HOME])
    );
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "metrics");
    assert_eq!(endpoint["interval"], "30s");
    assert_eq!(endpoint["relabelings"][0]["targetLabel"], "cluster");
    let selected: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            o["kind"] == "Service"
                && monitor["spec"]["selector"]["matchLabels"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| o["metadata"]["labels"][k] == *v)
        })
        .collect();
    assert_eq!(selected.len(), 1, "the ServiceMonitor selects one Service");
    assert_eq!(selected[0]["metadata"]["name"], "sealed-secrets-metrics");
    assert_eq!(selected[0]["spec"]["ports"][0]["name"], "metrics");

    let dashboard = find(
        &objects,
        "ConfigMap",
        Some("monitoring"),
        "sealed-secrets-sealed-secrets-controller",
    );
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(
        dashboard["metadata"]["labels"]["grafana_folder"],
        "security"
    );
    let json_text = dashboard["data"]["sealed-secrets-controller.json"]
        .as_str()
        .expect("the dashboard");
    let board: Value = serde_json::from_str(json_text).expect("the dashboard is JSON");
    let used: BTreeSet<String> = board["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .flat_map(|t| metric_names(t["expr"].as_str().unwrap()))
        .collect();
    let documented = documented_metrics();
    let unknown: Vec<_> = used.difference(&documented).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard uses metrics the controller does not have: {unknown:?}"
    );
    let unshown: Vec<_> = documented.difference(&used).collect();
    assert!(unshown.is_empty(), "the dashboard leaves out {unshown:?}");

    let ingress = find(&objects, "Ingress", Some(HOME), "sealed-secrets");
    assert_eq!(ingress["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(ingress["spec"]["ingressClassName"], "nginx");
    let rule = &ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], "sealed-secrets.example.com");
    assert_eq!(rule["http"]["paths"][0]["path"], "/v1/cert.pem");
    assert_eq!(
        rule["http"]["paths"][0]["backend"],
        json!({"service": {"name": "sealed-secrets", "port": {"name": "http"}}})
    );
    assert_eq!(
        ingress["spec"]["rules"][1]["http"]["paths"][0]["pathType"],
        "Exact"
    );
    assert_eq!(
        ingress["spec"]["tls"],
        json!([{"hosts": ["sealed-secrets.example.com"], "secretName": "sealed-secrets.example.com-tls"}])
    );
}

/// `sealed_secrets_controller_*` names in a PromQL expression, histogram suffixes dropped.
fn metric_names(expr: &str) -> Vec<String> {
    let prefix = "sealed_secrets_controller_";
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find(prefix) {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let name = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.push(name.to_owned());
        rest = &tail[end..];
    }
    names
}

/// The metrics docs/controller.md's tables list (the controller's metrics).
fn documented_metrics() -> BTreeSet<String> {
    read("docs/controller.md")
        .lines()
        .filter_map(|line| line.strip_prefix("| `sealed_secrets_controller_"))
        .map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            format!("sealed_secrets_controller_{name}")
        })
        .collect()
}

/// Two replicas: leader election on a Lease the Role lets it hold, a budget, rolling
/// updates that never run two writers; this project's flags reach the controller.
#[test]
fn replicas_elect_a_leader_with_a_budget() {
    let objects = render_as(&testdata("rs-ha.yaml"), "rs", HOME);
    let deployment = find(&objects, "Deployment", Some(HOME), "rs-sealed-secrets");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        0
    );
    let flags = parse_flags(&args(&objects));
    assert!(flags.leader_elect);
    assert_eq!(flags.leader_elect_lease_name, "rs-sealed-secrets");
    assert_eq!(
        flags.leader_elect_lease_duration,
        std::time::Duration::from_secs(20)
    );
    assert_eq!(
        flags.key_activation_delay,
        std::time::Duration::from_secs(24 * 3600)
    );
    assert_eq!(flags.rate_limit_trusted_proxies, "10.0.0.0/8,192.168.1.10");
    assert!(flags.metrics_omit_secret_labels && !flags.accept_deprecated_v1_data);
    assert_eq!(flags.key_size, 3072);
    assert_eq!(flags.key_order_priority, "SecretCreationTimestamp");
    assert_eq!(flags.label_selector, "sealing=rs");
    assert_eq!(flags.my_cn, "sealed-secrets-rs");
    let role = find(
        &objects,
        "Role",
        Some(HOME),
        "rs-sealed-secrets-leader-election",
    );
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "resourceNames": ["rs-sealed-secrets"], "verbs": ["get", "update"]},
        ])
    );
    let binding = find(
        &objects,
        "RoleBinding",
        Some(HOME),
        "rs-sealed-secrets-leader-election",
    );
    assert_eq!(binding["subjects"][0]["name"], "rs-sealed-secrets");
    let pdb = find(
        &objects,
        "PodDisruptionBudget",
        Some(HOME),
        "rs-sealed-secrets",
    );
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deployment["spec"]["template"]["metadata"]["labels"]
    );
}

/// A misspelt key in this project's block fails the install instead of being ignored.
#[test]
fn schema_rejects_typos_in_our_block() {
    for (file, key) in [
        ("rs-typo.yaml", "replicas"),
        ("rs-typo-nested.yaml", "enable"),
    ] {
        let error = helm_render(&testdata(file), "sealed-secrets", HOME)
            .err()
            .unwrap_or_else(|| panic!("{file} rendered"));
        assert!(
            error.contains("additional properties") && error.contains(&format!("'{key}'")),
            "{file}: {error}"
        );
        let lint = helm_script(&["lint", HELM_CHART, &testdata(file), HOME]);
        assert!(lint.is_err(), "helm lint accepted {file}");
    }
}

/// The same library packages the chart into the archive `helm install` takes.
#[test]
fn chart_packages_into_an_archive() {
    let dir = std::env::temp_dir().join(format!("sealed-helm-package-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let printed = helm_script(&["package", HELM_CHART, dir.to_str().unwrap()])
        .unwrap_or_else(|e| panic!("{e}"));
    let archive = std::path::PathBuf::from(printed.trim());
    let size = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        archive
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("sealed-secrets-")
            && size > 1000,
        "{printed}"
    );
}

/// Without helm-python-sdk the script says how to install it (python3 -S hides the
/// installed packages), and the library turns that into a one-line message.
#[test]
fn missing_helm_python_says_how_to_install_it() {
    let root = workspace_root();
    let output = std::process::Command::new("python3")
        .arg("-S")
        .arg(root.join(sealed_manifests::HELM_SCRIPT))
        .args(["render", HELM_CHART, "-", "sealed-secrets", HOME])
        .current_dir(&root)
        .output()
        .expect("python3 runs");
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "python3 -m pip install {}",
            sealed_manifests::HELM_PYTHON_PACKAGE
        )),
        "{stderr}"
    );
    assert!(
        read("requirements-test.txt")
            .lines()
            .any(|l| l.trim() == sealed_manifests::HELM_PYTHON_PACKAGE),
        "requirements-test.txt does not pin {}",
        sealed_manifests::HELM_PYTHON_PACKAGE
    );
    assert!(
        read(".ci/run")
            .contains("pip install --quiet --disable-pip-version-check -r requirements-test.txt"),
        ".ci/run does not install requirements-test.txt"
    );
}

/// The chart's README says what each upstream key does here (or that it is ignored).
#[test]
fn readme_names_every_upstream_key() {
    let readme = read(&format!("{HELM_CHART}/README.md"));
    let upstream = yaml(UPSTREAM_VALUES);
    let missing: Vec<&String> = upstream
        .as_object()
        .unwrap()
        .keys()
        .filter(|key| {
            !readme.contains(&format!("`{key}`")) && !readme.contains(&format!("`{key}."))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{HELM_CHART}/README.md does not name {missing:?}"
    );
    let ignored_section = readme
        .split("### Ignored upstream keys")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("an \"Ignored upstream keys\" section");
    for ignored in [
        "kubeVersion",
        "rbac.pspEnabled",
        "kubeClientQPS",
        "kubeClientBurst",
    ] {
        assert!(
            ignored_section.contains(&format!("`{ignored}`")),
            "the ignored key {ignored} is not in the README's list"
        );
    }
}

/// Less common upstream values: `namespace`, an existing ServiceAccount, host network,
/// NodePort, custom probes, self-signed Ingress TLS, extra objects, volumes, own args.
#[test]
fn less_common_upstream_values() {
    let objects = render(&testdata("upstream-edge-cases.yaml"));
    let ns = "sealed";
    assert!(!objects.iter().any(|o| o["kind"] == "ServiceAccount"));
    for o in &objects {
        let (kind, namespace, name) = identity(o);
        let expected = match kind.as_str() {
            "ClusterRole" | "ClusterRoleBinding" => "",
            _ if name.ends_with("-apiserver-addresses") => "default",
            _ => ns,
        };
        assert_eq!(namespace, expected, "{kind} {name}");
        if (kind == "ClusterRoleBinding" || kind == "RoleBinding")
            && name != "sealed-secrets-service-proxier"
        {
            assert_eq!(
                o["subjects"],
                json!([{"kind": "ServiceAccount", "name": "existing-sa", "namespace": ns}]),
                "{kind} {name}"
            );
        }
    }
    let deployment = find(&objects, "Deployment", Some(ns), "sealed-secrets");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "existing-sa");
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    let c = container(&objects);
    assert_eq!(c["ports"][0]["hostPort"], 8080);
    assert_eq!(c["ports"][1]["hostPort"], 8081);
    assert_eq!(
        c["livenessProbe"],
        json!({"exec": {"command": ["/bin/true"]}})
    );
    assert!(c.get("readinessProbe").is_none());
    assert_eq!(
        args(&objects),
        ["--key-renew-period=168h", "--all-namespaces=false"]
    );
    assert_eq!(
        c["volumeMounts"][1],
        json!({"name": "ca", "mountPath": "/etc/ssl/extra", "readOnly": true})
    );
    assert_eq!(pod["volumes"][1]["configMap"]["name"], "ca-bundle");
    let service = find(&objects, "Service", Some(ns), "sealed-secrets");
    assert_eq!(service["spec"]["type"], "NodePort");
    assert_eq!(service["spec"]["ports"][0]["nodePort"], 30080);
    assert_eq!(
        service["metadata"]["annotations"]["example.com/exposed"],
        "yes"
    );
    let ingress = find(&objects, "Ingress", Some(ns), "sealed-secrets");
    assert_eq!(
        ingress["spec"]["tls"][0]["secretName"],
        "certs.example.com-tls"
    );
    let secret = find(&objects, "Secret", Some(ns), "certs.example.com-tls");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    for key in ["tls.crt", "tls.key"] {
        assert!(
            secret["data"][key].as_str().is_some_and(|v| v.len() > 100),
            "{key}"
        );
    }
    find(&objects, "ConfigMap", Some(ns), "extra-map");
    find(
        &objects,
        "ConfigMap",
        Some(ns),
        "sealed-secrets-extra-template",
    );
}

/// Egress limited to the API server needs its address: offline (`helm template`, Argo
/// CD) the lookup finds nothing, and the render says what to set instead of allowing all.
#[test]
fn network_policy_egress_without_the_api_servers_address_fails_offline() {
    let file = std::env::temp_dir().join(format!("sealed-helm-egress-{}.yaml", std::process::id()));
    std::fs::write(
        &file,
        "networkPolicy:\n  enabled: true\n  egress:\n    enabled: true\n",
    )
    .expect("temp file");
    let result = helm_render(file.to_str().unwrap(), "sealed-secrets", HOME);
    std::fs::remove_file(&file).ok();
    let error = result.expect_err("rendered without the API server's address");
    assert!(error.contains("set kubeapiCidr and kubeapiPort"), "{error}");
}
