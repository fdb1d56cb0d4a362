// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! The renderings in deploy/ are what `kubectl kustomize` makes of deploy/base and the
//! overlays, and they hold what kubeseal and the controller rely on.

use sealed_manifests::{REGENERATE, RENDERINGS, first_difference, render, workspace_root};
use serde_json::{Value, json};

const HOME: &str = "kube-system";

fn check_rendering(dir: &str, file: &str) {
    let generated = render(dir).unwrap_or_else(|e| panic!("{e}"));
    let path = workspace_root().join(file);
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {file}: {e}; run `{REGENERATE}`"));
    assert!(
        committed == generated,
        "{file} is not what `kubectl kustomize {dir}` renders; run `{REGENERATE}` and commit \
         the result. First difference at {}",
        first_difference(&committed, &generated)
    );
}

#[test]
fn controller_yaml_is_rendered_from_base() {
    check_rendering(RENDERINGS[0].0, RENDERINGS[0].1);
}

#[test]
fn namespaced_rendering_is_current() {
    check_rendering(RENDERINGS[1].0, RENDERINGS[1].1);
}

/// The objects of a committed rendering.
fn objects(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(workspace_root().join(file))
        .unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{file} is not YAML: {e}"))
}

fn find<'a>(objects: &'a [Value], kind: &str, namespace: Option<&str>, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| {
            o["kind"] == kind
                && o["metadata"]["name"] == name
                && o["metadata"]["namespace"].as_str() == namespace
        })
        .unwrap_or_else(|| panic!("no {kind} {namespace:?}/{name}"))
}

fn container(objects: &[Value]) -> &Value {
    let deployment = find(
        objects,
        "Deployment",
        Some(HOME),
        "sealed-secrets-controller",
    );
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

/// kubeseal's defaults (`--controller-namespace kube-system`, `--controller-name
/// sealed-secrets-controller`) reach the controller through the service proxy, for any
/// authenticated user.
#[test]
fn base_is_where_kubeseal_looks() {
    let objects = objects("deploy/controller.yaml");
    let service = find(&objects, "Service", Some(HOME), "sealed-secrets-controller");
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "http", "port": 8080, "targetPort": "http"}])
    );
    let deployment = find(
        &objects,
        "Deployment",
        Some(HOME),
        "sealed-secrets-controller",
    );
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(service["spec"]["selector"], *labels);
    assert_eq!(deployment["spec"]["selector"]["matchLabels"], *labels);
    assert_eq!(
        container(&objects)["ports"],
        json!([
            {"containerPort": 8080, "name": "http"},
            {"containerPort": 8081, "name": "metrics"},
        ])
    );
    let metrics = find(
        &objects,
        "Service",
        Some(HOME),
        "sealed-secrets-controller-metrics",
    );
    assert_eq!(metrics["spec"]["ports"][0]["targetPort"], "metrics");

    let proxier = find(
        &objects,
        "Role",
        Some(HOME),
        "sealed-secrets-service-proxier",
    );
    let proxy_rule = proxier["rules"]
        .as_array()
        .and_then(|rules| {
            rules
                .iter()
                .find(|r| r["resources"] == json!(["services/proxy"]))
        })
        .expect("a services/proxy rule");
    for name in [
        "http:sealed-secrets-controller:http",
        "sealed-secrets-controller",
    ] {
        assert!(
            proxy_rule["resourceNames"]
                .as_array()
                .is_some_and(|n| n.contains(&json!(name))),
            "{name}"
        );
    }
    let binding = find(
        &objects,
        "RoleBinding",
        Some(HOME),
        "sealed-secrets-service-proxier",
    );
    assert_eq!(binding["subjects"][0]["name"], "system:authenticated");
}

#[test]
fn pod_is_hardened() {
    let objects = objects("deploy/controller.yaml");
    let deployment = find(
        &objects,
        "Deployment",
        Some(HOME),
        "sealed-secrets-controller",
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "sealed-secrets-controller");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = container(&objects);
    let security = &c["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    let env = c["env"].as_array().expect("env");
    assert!(env.iter().any(|e| e["name"] == "POD_NAMESPACE"
        && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"));
}

/// The namespaced overlay grants in exactly the namespaces the controller watches (its
/// home and `--additional-namespaces`) what the base grants cluster-wide.
#[test]
fn namespaced_overlay_grants_only_watched_namespaces() {
    let base = objects("deploy/controller.yaml");
    let cluster_rules = &find(&base, "ClusterRole", None, "secrets-unsealer")["rules"];
    let objects = objects("deploy/controller-namespaced.yaml");
    for kind in ["ClusterRole", "ClusterRoleBinding"] {
        assert!(
            !objects.iter().any(|o| o["kind"] == kind),
            "the namespaced overlay has a {kind}"
        );
    }
    let args: Vec<&str> = container(&objects)["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--all-namespaces=false"), "{args:?}");
    let mut watched = vec![HOME.to_owned()];
    for arg in &args {
        if let Some(list) = arg.strip_prefix("--additional-namespaces=") {
            watched.extend(list.split(',').map(|ns| ns.trim().to_owned()));
        }
    }
    let mut granted: Vec<String> = objects
        .iter()
        .filter(|o| o["kind"] == "Role" && o["metadata"]["name"] == "secrets-unsealer")
        .map(|o| {
            let namespace = o["metadata"]["namespace"].as_str().unwrap_or_default();
            assert_eq!(o["rules"], *cluster_rules, "Role secrets-unsealer in {namespace}");
            let binding = find(&objects, "RoleBinding", Some(namespace), "secrets-unsealer");
            assert_eq!(
                binding["subjects"],
                json!([{"kind": "ServiceAccount", "name": "sealed-secrets-controller", "namespace": HOME}])
            );
            namespace.to_owned()
        })
        .collect();
    granted.sort();
    watched.sort();
    assert_eq!(
        granted, watched,
        "Roles secrets-unsealer exist in {granted:?} but the controller watches {watched:?} \
         (deploy/overlays/namespaced/kustomization.yaml says how to add a namespace)"
    );
}

#[test]
fn ha_rendering_is_current() {
    check_rendering(RENDERINGS[2].0, RENDERINGS[2].1);
}

/// Every rendering elects a leader, and may: the Lease the controller's default
/// `--leader-elect-lease-name` names, in its home namespace.
#[test]
fn every_rendering_elects_a_leader_it_may_hold() {
    for (_, file) in RENDERINGS {
        let objects = objects(file);
        let args = &container(&objects)["args"];
        assert!(
            args.as_array()
                .is_some_and(|a| a.contains(&json!("--leader-elect"))),
            "{file}: {args}"
        );
        let role = find(
            &objects,
            "Role",
            Some(HOME),
            "sealed-secrets-leader-election",
        );
        let rules = role["rules"].as_array().expect("rules");
        let allows = |verb: &str, named: bool| {
            rules.iter().any(|r| {
                r["apiGroups"] == json!(["coordination.k8s.io"])
                    && r["resources"] == json!(["leases"])
                    && r["verbs"]
                        .as_array()
                        .is_some_and(|v| v.contains(&json!(verb)))
                    && (!named
                        || r["resourceNames"]
                            .as_array()
                            .is_some_and(|n| n.contains(&json!("sealed-secrets-controller"))))
            })
        };
        assert!(allows("create", false), "{file}");
        assert!(allows("get", true) && allows("update", true), "{file}");
        let binding = find(
            &objects,
            "RoleBinding",
            Some(HOME),
            "sealed-secrets-leader-election",
        );
        assert_eq!(binding["subjects"][0]["name"], "sealed-secrets-controller");
    }
}

/// Two replicas, a budget that keeps one through drains, spread over nodes.
#[test]
fn ha_overlay_runs_two_replicas_with_a_budget() {
    let objects = objects("deploy/controller-ha.yaml");
    let deployment = find(
        &objects,
        "Deployment",
        Some(HOME),
        "sealed-secrets-controller",
    );
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        0
    );
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let pdb = find(
        &objects,
        "PodDisruptionBudget",
        Some(HOME),
        "sealed-secrets-controller",
    );
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(pdb["spec"]["selector"]["matchLabels"], *labels);
    let anti = &deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
    assert_eq!(
        anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["labelSelector"]
            ["matchLabels"],
        *labels
    );
}

/// The Secret verbs the controller's reconciler calls: get, list and watch (metadata),
/// create, update, and delete to replace a Secret whose type changed.
#[test]
fn the_unsealer_may_do_what_the_reconciler_does() {
    let objects = objects("deploy/controller.yaml");
    let rules = find(&objects, "ClusterRole", None, "secrets-unsealer")["rules"]
        .as_array()
        .expect("rules");
    let secrets = rules
        .iter()
        .find(|r| r["apiGroups"] == json!([""]) && r["resources"] == json!(["secrets"]))
        .expect("a rule for secrets");
    for verb in ["get", "list", "watch", "create", "update", "delete"] {
        assert!(
            secrets["verbs"]
                .as_array()
                .is_some_and(|v| v.contains(&json!(verb))),
            "secrets-unsealer cannot {verb} Secrets: {secrets}"
        );
    }
}

/// The rate limit trusts `X-Forwarded-For` from the API server's addresses, read from
/// the EndpointSlice `default/kubernetes` (controller/src/http/apiserver.rs): every
/// rendering may get that one object, and nothing else in `default`.
#[test]
fn every_rendering_may_read_the_api_servers_addresses() {
    for (_, file) in RENDERINGS {
        let objects = objects(file);
        let role = find(
            &objects,
            "Role",
            Some("default"),
            "sealed-secrets-apiserver-addresses",
        );
        assert_eq!(
            role["rules"],
            json!([{
                "apiGroups": ["discovery.k8s.io"],
                "resources": ["endpointslices"],
                "resourceNames": ["kubernetes"],
                "verbs": ["get"],
            }]),
            "{file}"
        );
        let binding = find(
            &objects,
            "RoleBinding",
            Some("default"),
            "sealed-secrets-apiserver-addresses",
        );
        assert_eq!(
            binding["roleRef"]["name"],
            "sealed-secrets-apiserver-addresses"
        );
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "sealed-secrets-controller", "namespace": HOME}]),
            "{file}"
        );
    }
}
