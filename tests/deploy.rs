//! The deployment artefacts under `deploy/`: the Helm chart lints and renders what a production
//! install needs (least-privilege RBAC, a locked-down pod, opt-in extras), its CRDs and the
//! kustomize base's are exactly `crds/`, kustomize renders the same objects as the chart, and the
//! rendered objects install into a real kube-apiserver, where the ServiceAccount gets exactly the
//! rights it should (SubjectAccessReview) and the pod passes the "restricted" Pod Security
//! Standard.
//!
//! `helm` must be installed (`.ci/run` does it): on `PATH` or in
//! `~/.cache/lunanode-operator/bin/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::BTreeSet,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec},
        core::v1::{Namespace, Secret, ServiceAccount},
        rbac::v1::ClusterRole,
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use serde::Deserialize;
use serde_json::{Value, json};

const CHART: &str = "deploy/helm/lunanode-operator";
const KUSTOMIZE_BASE: &str = "deploy/kustomize/base";
const KUSTOMIZE_DEFAULT: &str = "deploy/kustomize/default";
const RELEASE: &str = "lunanode-operator";
const RELEASE_NAMESPACE: &str = "lunanode-system";

/// The operator's kinds (plural resource names), from the registry of kinds: the chart must
/// name each of them, so a kind added to the registry alone fails these tests.
fn plurals() -> Vec<String> {
    lunanode_operator::api::kinds::plurals()
}

/// One RBAC permission: (API group, resource, verb).
type Permission = (String, String, String);

fn repo(relative: &str) -> PathBuf {
    support::repo_root().join(relative)
}

/// Runs a command to completion; returns (success, stdout, stderr).
fn run(command: &mut Command, stdin: Option<&str>) -> (bool, String, String) {
    let mut child = command
        .current_dir(support::repo_root())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs a command that must succeed; returns its standard output.
fn run_ok(command: &mut Command, stdin: Option<&str>) -> String {
    let description = format!("{command:?}");
    let (ok, stdout, stderr) = run(command, stdin);
    assert!(ok, "{description} failed:\n{stderr}\n{stdout}");
    stdout
}

/// The documents of a multi-document YAML stream, as JSON values (empty documents dropped).
fn documents(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|document| Value::deserialize(document).expect("valid YAML"))
        .filter(|value| !value.is_null())
        .collect()
}

/// The values back as one YAML stream.
fn to_yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|object| serde_norway::to_string(object).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

fn helm_template_command(release: &str, namespace: &str, sets: &[&str]) -> Command {
    let mut command = Command::new(support::helm());
    command
        .args(["template", release, CHART, "--namespace", namespace])
        .arg("--include-crds");
    for set in sets {
        command.args(["--set", set]);
    }
    command
}

/// `helm template` with `--set` values; every object, CRDs included.
fn render(sets: &[&str]) -> Vec<Value> {
    render_release(RELEASE, RELEASE_NAMESPACE, sets)
}

fn render_release(release: &str, namespace: &str, sets: &[&str]) -> Vec<Value> {
    documents(&run_ok(
        &mut helm_template_command(release, namespace, sets),
        None,
    ))
}

/// `helm template` that must fail; returns its error output.
fn render_error(sets: &[&str]) -> String {
    let (ok, _, stderr) = run(
        &mut helm_template_command(RELEASE, RELEASE_NAMESPACE, sets),
        None,
    );
    assert!(!ok, "helm template {sets:?} should have failed");
    stderr
}

fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|object| object["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn all_of<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|object| object["kind"] == kind)
        .collect()
}

/// The one object of `kind` (named `name`, when given).
fn one<'a>(objects: &'a [Value], kind: &str, name: Option<&str>) -> &'a Value {
    let found: Vec<_> = all_of(objects, kind)
        .into_iter()
        .filter(|object| name.is_none_or(|name| object["metadata"]["name"] == name))
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind} {name:?}: {found:#?}");
    found[0]
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The rules of a Role or ClusterRole, flattened to permissions (nothing may use names,
/// non-resource URLs or wildcards).
fn permissions(role: &Value) -> BTreeSet<Permission> {
    let mut found = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        assert!(
            rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none(),
            "{rule}"
        );
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    assert!(
                        group != "*" && resource != "*" && verb != "*",
                        "no wildcards: {rule}"
                    );
                    found.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    found
}

fn permission(group: &str, resource: &str, verb: &str) -> Permission {
    (group.to_owned(), resource.to_owned(), verb.to_owned())
}

/// What the operator needs on namespaced objects: its kinds, Secrets, Events.
fn namespaced_permissions() -> BTreeSet<Permission> {
    let mut expected = BTreeSet::new();
    for kind in plurals() {
        let kind = kind.as_str();
        // No `update` of the objects (finalizers and identity are patches) and only `update`
        // of their status (every status write is a replace conditional on the resourceVersion).
        for verb in ["get", "list", "watch", "patch"] {
            expected.insert(permission("lunanode.com", kind, verb));
        }
        expected.insert(permission(
            "lunanode.com",
            &format!("{kind}/status"),
            "update",
        ));
    }
    for verb in ["get", "list", "watch", "create", "patch", "update"] {
        expected.insert(permission("", "secrets", verb));
    }
    // A startup script's ConfigMap is read by name, never listed or watched.
    expected.insert(permission("", "configmaps", "get"));
    // A snapshot schedule makes and prunes its runs' snapshot objects, nothing else.
    for kind in ["lunavolumesnapshots", "lunaimages"] {
        for verb in ["create", "delete"] {
            expected.insert(permission("lunanode.com", kind, verb));
        }
    }
    // Events through events.k8s.io only: the operator never writes core Events.
    for verb in ["create", "patch"] {
        expected.insert(permission("events.k8s.io", "events", verb));
    }
    expected
}

fn crd_permissions() -> BTreeSet<Permission> {
    [permission(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "get",
    )]
    .into()
}

fn lease_permissions() -> BTreeSet<Permission> {
    // The lease manager creates the Lease, then renews and takes it over with patches.
    ["get", "create", "patch"]
        .into_iter()
        .map(|verb| permission("coordination.k8s.io", "leases", verb))
        .collect()
}

fn container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

fn args(deployment: &Value) -> Vec<String> {
    strings(&container(deployment)["args"])
}

fn chart_app_version() -> String {
    let chart: Value =
        serde_norway::from_str(&std::fs::read_to_string(repo(CHART).join("Chart.yaml")).unwrap())
            .unwrap();
    chart["appVersion"].as_str().unwrap().to_owned()
}

fn subject_is_service_account(binding: &Value, name: &str, namespace: &str) {
    let subjects = binding["subjects"].as_array().unwrap();
    assert_eq!(
        subjects,
        &vec![json!({"kind": "ServiceAccount", "name": name, "namespace": namespace})],
        "{binding:#}"
    );
}

/// The locked-down pod every rendering must produce.
fn assert_hardened(deployment: &Value) {
    let pod = &deployment["spec"]["template"]["spec"];
    let container = container(deployment);
    let security = &container["securityContext"];
    assert_eq!(security["runAsNonRoot"], true, "{security:#}");
    assert_eq!(security["runAsUser"], 65532);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert!(security["capabilities"].get("add").is_none());
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert!(pod.get("hostNetwork").is_none() && pod.get("hostPID").is_none());

    // Health on the metrics port, which the operator binds on every interface.
    let port = &container["ports"][0];
    assert_eq!(port["name"], "metrics");
    assert_eq!(port["containerPort"], 8081);
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["port"], "metrics");
    }
    let args = args(deployment);
    let at = args
        .iter()
        .position(|arg| arg == "--metrics-addr")
        .expect("--metrics-addr");
    assert_eq!(args[at + 1], "0.0.0.0:8081");
    assert_eq!(args[0], "run");

    let resources = &container["resources"];
    assert_eq!(resources["requests"]["cpu"], "10m");
    assert_eq!(resources["requests"]["memory"], "32Mi");
    assert_eq!(resources["limits"]["memory"], "128Mi");

    let env = container["env"].as_array().unwrap();
    let pod_name = env
        .iter()
        .find(|var| var["name"] == "POD_NAME")
        .expect("POD_NAME");
    assert_eq!(
        pod_name["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert!(env.iter().any(|var| var["name"] == "LUNANODE_LOG"));
}

#[test]
fn helm_lint_passes_with_default_and_optional_values() {
    for sets in [
        vec![],
        vec![
            "watchNamespaces={team-a,team-b}",
            "serviceMonitor.enabled=true",
            "credentials.create=true",
            "credentials.apiId=abcdefghijklmnop",
            "credentials.apiKey=secret",
            "endpoint=http://sim.example:8080/api/",
            "allowInsecureEndpoint=true",
            "logFormat=json",
        ],
    ] {
        let mut command = Command::new(support::helm());
        command.args(["lint", "--strict", CHART]);
        for set in &sets {
            command.args(["--set", set]);
        }
        let output = run_ok(&mut command, None);
        assert!(
            output.contains("1 chart(s) linted, 0 chart(s) failed"),
            "{output}"
        );
    }
}

#[test]
fn default_values_render_a_least_privilege_install_in_the_release_namespace() {
    let objects = render(&[]);
    assert_eq!(
        kinds(&objects),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "Deployment",
            "NetworkPolicy",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ]
        .map(String::from)
        .into(),
        "no Secret, no ServiceMonitor and (with one replica) no PodDisruptionBudget unless asked for"
    );
    for object in &objects {
        let cluster_scoped = matches!(
            object["kind"].as_str().unwrap(),
            "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition"
        );
        let namespace = &object["metadata"]["namespace"];
        if cluster_scoped {
            assert!(namespace.is_null(), "{object:#}");
        } else {
            assert_eq!(namespace, RELEASE_NAMESPACE, "{object:#}");
        }
    }

    // Exactly the rules the operator needs: nothing more, nothing less. Only the CRD check is
    // cluster-wide; the rest is a Role in the release namespace, the one it serves.
    let cluster_role = one(&objects, "ClusterRole", Some(RELEASE));
    assert_eq!(permissions(cluster_role), crd_permissions());
    let binding = one(&objects, "ClusterRoleBinding", Some(RELEASE));
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["roleRef"]["name"], RELEASE);
    subject_is_service_account(binding, RELEASE, RELEASE_NAMESPACE);
    let role = one(&objects, "Role", Some(RELEASE));
    assert_eq!(role["metadata"]["namespace"], RELEASE_NAMESPACE);
    assert_eq!(permissions(role), namespaced_permissions());
    let role_binding = one(&objects, "RoleBinding", Some(RELEASE));
    assert_eq!(
        role_binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RELEASE})
    );
    subject_is_service_account(role_binding, RELEASE, RELEASE_NAMESPACE);
    // Leases only in the operator's own namespace.
    let leader_name = format!("{RELEASE}-leader-election");
    let leader = one(&objects, "Role", Some(&leader_name));
    assert_eq!(leader["metadata"]["namespace"], RELEASE_NAMESPACE);
    assert_eq!(permissions(leader), lease_permissions());
    let leader_binding = one(&objects, "RoleBinding", Some(&leader_name));
    assert_eq!(
        leader_binding["roleRef"]["name"],
        leader["metadata"]["name"]
    );
    subject_is_service_account(leader_binding, RELEASE, RELEASE_NAMESPACE);
    one(&objects, "ServiceAccount", Some(RELEASE));

    let deployment = one(&objects, "Deployment", Some(RELEASE));
    assert_hardened(deployment);
    assert_eq!(deployment["spec"]["replicas"], 1);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], RELEASE);
    let image = container(deployment)["image"].as_str().unwrap();
    assert_eq!(
        image,
        format!("lunanode-operator:{}", chart_app_version()),
        "the image tag is the chart's appVersion"
    );
    assert!(!image.ends_with(":latest"), "{image}");
    assert_eq!(
        args(deployment),
        [
            "run",
            "--log-format",
            "text",
            "--metrics-addr",
            "0.0.0.0:8081",
            "--leader-elect",
            "--lease-name",
            RELEASE,
            "--lease-duration-seconds",
            "15",
        ],
        "no --namespace (LUNANODE_NAMESPACE says it) and no --endpoint (the real API)"
    );
    let env = container(deployment)["env"].as_array().unwrap();
    assert!(
        env.iter().any(|var| var["name"] == "LUNANODE_NAMESPACE"
            && var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"),
        "it serves its own namespace: {env:?}"
    );
    assert!(
        deployment["spec"].get("strategy").is_none(),
        "a rolling update: the new pod waits as a standby for the Lease"
    );
    assert_eq!(
        container(deployment)["env"][0],
        json!({"name": "LUNANODE_LOG", "value": "info"})
    );

    // The Service reaches the pod's metrics port.
    let service = one(&objects, "Service", None);
    let selector = service["spec"]["selector"].as_object().unwrap();
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (key, value) in selector {
        assert_eq!(&pod_labels[key], value, "the Service selects the pod");
    }
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"],
        json!(selector),
        "one set of selector labels"
    );
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    assert_eq!(service["spec"]["ports"][0]["port"], 8081);

    // The CRDs: one per file of crds/.
    let crds: BTreeSet<String> = all_of(&objects, "CustomResourceDefinition")
        .iter()
        .map(|crd| format!("{}.yaml", crd["metadata"]["name"].as_str().unwrap()))
        .collect();
    assert_eq!(crds, crd_files(&repo("crds")));
}

#[test]
fn watch_namespaces_put_a_role_in_each() {
    let objects = render(&["watchNamespaces={team-a,team-b,team-a}"]);
    let cluster_role = one(&objects, "ClusterRole", Some(RELEASE));
    assert_eq!(
        permissions(cluster_role),
        crd_permissions(),
        "only the CRD check is cluster-wide"
    );
    let roles: Vec<&Value> = all_of(&objects, "Role")
        .into_iter()
        .filter(|role| role["metadata"]["name"] == RELEASE)
        .collect();
    let namespaces: Vec<&Value> = roles
        .iter()
        .map(|role| &role["metadata"]["namespace"])
        .collect();
    assert_eq!(
        namespaces,
        [&json!("team-a"), &json!("team-b")],
        "one Role per namespace, repeats dropped, none in the release namespace"
    );
    for role in roles {
        assert_eq!(permissions(role), namespaced_permissions());
    }
    for namespace in ["team-a", "team-b"] {
        let binding = all_of(&objects, "RoleBinding")
            .into_iter()
            .find(|binding| {
                binding["metadata"]["name"] == RELEASE
                    && binding["metadata"]["namespace"] == namespace
            })
            .expect("a RoleBinding in each namespace");
        assert_eq!(
            binding["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RELEASE})
        );
        subject_is_service_account(binding, RELEASE, RELEASE_NAMESPACE);
    }
    let leader = one(
        &objects,
        "Role",
        Some(&format!("{RELEASE}-leader-election")),
    );
    assert_eq!(leader["metadata"]["namespace"], RELEASE_NAMESPACE);
    assert_eq!(permissions(leader), lease_permissions());

    let deployment = one(&objects, "Deployment", None);
    assert_hardened(deployment);
    assert_eq!(
        args(deployment),
        [
            "run",
            "--log-format",
            "text",
            "--metrics-addr",
            "0.0.0.0:8081",
            "--leader-elect",
            "--lease-name",
            RELEASE,
            "--lease-duration-seconds",
            "15",
            "--namespace",
            "team-a,team-b"
        ]
    );
    let env = container(deployment)["env"].as_array().unwrap();
    assert!(!env.iter().any(|var| var["name"] == "LUNANODE_NAMESPACE"));
}

#[test]
fn cluster_wide_rights_are_an_explicit_choice() {
    let objects = render(&["clusterWide=true"]);
    let cluster_role = one(&objects, "ClusterRole", Some(RELEASE));
    let mut expected = namespaced_permissions();
    expected.extend(crd_permissions());
    assert_eq!(permissions(cluster_role), expected);
    let roles: Vec<String> = all_of(&objects, "Role")
        .iter()
        .map(|role| role["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(roles, [format!("{RELEASE}-leader-election")]);
    let deployment = one(&objects, "Deployment", None);
    assert!(!args(deployment).contains(&"--namespace".to_owned()));
    let env = container(deployment)["env"].as_array().unwrap();
    assert!(
        !env.iter().any(|var| var["name"] == "LUNANODE_NAMESPACE"),
        "no namespace: every namespace"
    );
}

#[test]
fn values_reach_the_deployment() {
    let objects = render(&[
        "endpoint=http://sim.lunanode-system:8080/api/",
        "allowInsecureEndpoint=true",
        "logFormat=json",
        "logLevel=info\\,lunanode_operator=debug",
        "image.repository=registry.example/lunanode-operator",
        "image.tag=1.2.3",
        "replicaCount=2",
        "nodeSelector.kubernetes\\.io/os=linux",
        "tolerations[0].key=dedicated",
        "tolerations[0].operator=Exists",
        "resources.limits.memory=256Mi",
    ]);
    let deployment = one(&objects, "Deployment", None);
    assert_eq!(
        args(deployment),
        [
            "run",
            "--log-format",
            "json",
            "--metrics-addr",
            "0.0.0.0:8081",
            "--leader-elect",
            "--lease-name",
            RELEASE,
            "--lease-duration-seconds",
            "15",
            "--endpoint",
            "http://sim.lunanode-system:8080/api/",
            "--allow-insecure-endpoint"
        ]
    );
    let container = container(deployment);
    assert_eq!(
        container["image"],
        "registry.example/lunanode-operator:1.2.3"
    );
    assert_eq!(container["env"][0]["value"], "info,lunanode_operator=debug");
    assert_eq!(container["resources"]["limits"]["memory"], "256Mi");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "dedicated", "operator": "Exists"}])
    );
    // The Pod network by default; the node's when asked for.
    assert!(pod.get("hostNetwork").is_none(), "{pod}");
    let host = render(&["hostNetwork=true"]);
    let host_pod = &one(&host, "Deployment", None)["spec"]["template"]["spec"];
    assert_eq!(host_pod["hostNetwork"], true);
    assert_eq!(host_pod["dnsPolicy"], "ClusterFirstWithHostNet");

    // Without leader election: no Lease rights, and never two operators at once.
    let single = render(&["leaderElection.enabled=false"]);
    let deployment = one(&single, "Deployment", None);
    assert!(!args(deployment).contains(&"--leader-elect".to_owned()));
    assert_eq!(deployment["spec"]["strategy"], json!({"type": "Recreate"}));
    for kind in ["Role", "RoleBinding"] {
        let names: Vec<&Value> = all_of(&single, kind)
            .into_iter()
            .map(|object| &object["metadata"]["name"])
            .collect();
        assert_eq!(names, [&json!(RELEASE)], "no leader-election {kind}");
    }
    let named = render(&[
        "leaderElection.leaseName=shared-lease",
        "leaderElection.leaseDurationSeconds=30",
    ]);
    let named_args = args(one(&named, "Deployment", None));
    assert!(
        named_args.ends_with(&[
            "--lease-name".to_owned(),
            "shared-lease".to_owned(),
            "--lease-duration-seconds".to_owned(),
            "30".to_owned(),
        ]),
        "{named_args:?}"
    );

    // A digest instead of a tag.
    let pinned = render(&["image.tag=sha256:0123abcd"]);
    assert_eq!(
        container_image(&pinned),
        "lunanode-operator@sha256:0123abcd"
    );
    // `latest` only when asked for.
    assert_eq!(
        container_image(&render(&["image.tag=latest"])),
        "lunanode-operator:latest"
    );
}

/// `(protocol, port)` of every port a NetworkPolicy rule list opens.
fn policy_ports(rules: &Value) -> BTreeSet<(String, String)> {
    rules
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rule| rule["ports"].as_array().cloned().unwrap_or_default())
        .map(|port| {
            (
                port["protocol"].as_str().unwrap_or("TCP").to_owned(),
                port["port"].to_string().trim_matches('"').to_owned(),
            )
        })
        .collect()
}

#[test]
fn network_policy_disruption_budget_and_spreading() {
    // By default: egress to DNS, the API server and the Luna Node API only; no ingress at all.
    let objects = render(&[]);
    let policy = &one(&objects, "NetworkPolicy", Some(RELEASE))["spec"];
    assert_eq!(policy["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(policy["ingress"], json!([]), "no ingress unless named");
    assert_eq!(
        policy_ports(&policy["egress"]),
        [
            ("UDP", "53"),
            ("TCP", "53"),
            ("TCP", "443"),
            ("TCP", "6443")
        ]
        .map(|(protocol, port)| (protocol.to_owned(), port.to_owned()))
        .into()
    );
    assert!(
        policy["egress"][1].get("to").is_none(),
        "any address on those ports"
    );
    let selector = &policy["podSelector"]["matchLabels"];
    let pod_labels = &one(&objects, "Deployment", None)["spec"]["template"]["metadata"]["labels"];
    for (key, value) in selector.as_object().unwrap() {
        assert_eq!(
            &pod_labels[key], value,
            "the policy selects the operator's pod"
        );
    }
    assert!(
        all_of(&objects, "PodDisruptionBudget").is_empty(),
        "one replica: no PDB"
    );
    let pod = &one(&objects, "Deployment", None)["spec"]["template"]["spec"];
    assert!(pod.get("affinity").is_none(), "{pod:#}");

    // Metrics from a named scraper, a simulator's port, egress narrowed to CIDRs.
    let objects = render(&[
        "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring",
        "networkPolicy.egressPorts={443,6443,8080}",
        "networkPolicy.egressCIDRs={203.0.113.0/24}",
    ]);
    let policy = &one(&objects, "NetworkPolicy", Some(RELEASE))["spec"];
    assert_eq!(
        policy["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["team"],
        "monitoring"
    );
    assert_eq!(
        policy_ports(&policy["ingress"]),
        [("TCP".to_owned(), "metrics".to_owned())].into()
    );
    assert!(policy_ports(&policy["egress"]).contains(&("TCP".to_owned(), "8080".to_owned())));
    assert_eq!(
        policy["egress"][1]["to"][0]["ipBlock"]["cidr"],
        "203.0.113.0/24"
    );
    assert!(
        all_of(&render(&["networkPolicy.enabled=false"]), "NetworkPolicy").is_empty(),
        "opt-out"
    );

    // Two replicas: a PDB that keeps one, and the pods spread over nodes unless told otherwise.
    let objects = render(&["replicaCount=2"]);
    let budget = one(&objects, "PodDisruptionBudget", Some(RELEASE));
    assert_eq!(budget["spec"]["minAvailable"], 1);
    assert_eq!(budget["metadata"]["namespace"], RELEASE_NAMESPACE);
    let pod = &one(&objects, "Deployment", None)["spec"]["template"]["spec"];
    let preferred =
        &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(
        preferred["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    assert_eq!(
        &preferred["podAffinityTerm"]["labelSelector"]["matchLabels"],
        &budget["spec"]["selector"]["matchLabels"]
    );
    let own = render(&[
        "replicaCount=2",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
    ]);
    let pod = &one(&own, "Deployment", None)["spec"]["template"]["spec"];
    assert!(
        pod["affinity"].get("podAntiAffinity").is_none(),
        "the user's affinity wins"
    );
    assert!(
        all_of(
            &render(&["replicaCount=2", "podDisruptionBudget.enabled=false"]),
            "PodDisruptionBudget"
        )
        .is_empty()
    );
}

fn container_image(objects: &[Value]) -> String {
    container(one(objects, "Deployment", None))["image"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn bad_values_are_refused() {
    let error = render_error(&["logFormat=yaml"]);
    assert!(error.contains("logFormat"), "{error}");
    let error = render_error(&["watchNamespace=team-a"]);
    assert!(error.contains("watchNamespace"), "a misspelt key: {error}");
    let error = render_error(&["watchNamespaces={Team_A}"]);
    assert!(error.contains("watchNamespaces"), "{error}");
    let error = render_error(&["clusterWide=true", "watchNamespaces={team-a}"]);
    assert!(error.contains("leave watchNamespaces empty"), "{error}");
    let error = render_error(&["credentials.create=true", "credentials.apiId=abc"]);
    assert!(error.contains("credentials.apiKey is required"), "{error}");
    let error = render_error(&["replicaCount=2", "leaderElection.enabled=false"]);
    assert!(error.contains("needs leaderElection.enabled"), "{error}");
}

#[test]
fn service_monitor_and_credentials_are_opt_in() {
    let objects = render(&[
        "serviceMonitor.enabled=true",
        "serviceMonitor.labels.release=prometheus",
        "credentials.create=true",
        "credentials.apiId=abcdefghijklmnop",
        "credentials.apiKey=the-key",
    ]);
    let monitor = one(&objects, "ServiceMonitor", None);
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "metrics");
    assert_eq!(endpoint["path"], "/metrics");
    let service = one(&objects, "Service", None);
    let service_labels = &service["metadata"]["labels"];
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &service_labels[key], value,
            "the monitor selects the Service"
        );
    }
    assert_eq!(
        service["spec"]["ports"][0]["name"], endpoint["port"],
        "the monitor scrapes the Service's port"
    );

    let secret = one(&objects, "Secret", Some("lunanode-credentials"));
    assert_eq!(secret["metadata"]["namespace"], RELEASE_NAMESPACE);
    let decode = |key: &str| {
        let encoded = secret["data"][key].as_str().unwrap();
        let bytes: k8s_openapi::ByteString =
            serde_json::from_value(Value::String(encoded.into())).unwrap();
        String::from_utf8(bytes.0).unwrap()
    };
    assert_eq!(decode("api_id"), "abcdefghijklmnop");
    assert_eq!(decode("api_key"), "the-key");

    // With a list of namespaces, the Secret goes to the first (that is where LunaVMs read it).
    let objects = render(&[
        "watchNamespaces={team-a,team-b}",
        "credentials.create=true",
        "credentials.apiId=abcdefghijklmnop",
        "credentials.apiKey=the-key",
    ]);
    let secret = one(&objects, "Secret", None);
    assert_eq!(secret["metadata"]["namespace"], "team-a");
}

/// The CRD files of a folder (its `.yaml` files but a kustomization).
fn crd_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect()
}

#[test]
fn the_chart_and_kustomize_crds_are_copies_of_crds() {
    const FIX: &str = "run deploy/sync-crds.sh and commit the result";
    let source = repo("crds");
    let expected = crd_files(&source);
    assert!(!expected.is_empty());
    let base_crds = format!("{KUSTOMIZE_BASE}/crds");
    for copy in [format!("{CHART}/crds"), base_crds.clone()] {
        assert_eq!(
            crd_files(&repo(&copy)),
            expected,
            "{copy} holds other CRD files than crds/: {FIX}"
        );
        for name in &expected {
            let original = std::fs::read(source.join(name)).unwrap();
            let copied = std::fs::read(repo(&copy).join(name)).unwrap();
            assert!(
                original == copied,
                "{copy}/{name} differs from crds/{name}: {FIX}"
            );
        }
    }
    // kustomize renders exactly those files.
    let listed: Value = serde_norway::from_str(
        &std::fs::read_to_string(repo(&base_crds).join("kustomization.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        strings(&listed["resources"])
            .into_iter()
            .collect::<BTreeSet<_>>(),
        expected,
        "{base_crds}/kustomization.yaml lists every CRD: {FIX}"
    );
    let base: Value = serde_norway::from_str(
        &std::fs::read_to_string(repo(KUSTOMIZE_BASE).join("kustomization.yaml")).unwrap(),
    )
    .unwrap();
    assert!(strings(&base["resources"]).contains(&"crds".to_owned()));
}

fn kustomize(dir: &str) -> Vec<Value> {
    documents(&run_ok(
        Command::new("kubectl").args(["kustomize", dir]),
        None,
    ))
}

#[test]
fn kustomize_renders_the_same_install_as_the_chart() {
    let chart = render(&[]);
    let base = kustomize(KUSTOMIZE_BASE);
    assert_eq!(kinds(&base), kinds(&chart));
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
        "NetworkPolicy",
    ] {
        assert_eq!(
            all_of(&base, kind).len(),
            all_of(&chart, kind).len(),
            "{kind}"
        );
    }
    for object in &base {
        assert!(
            object["metadata"].get("namespace").is_none(),
            "the base has no namespace: {object:#}"
        );
    }
    assert_eq!(
        permissions(one(&base, "ClusterRole", None)),
        permissions(one(&chart, "ClusterRole", None))
    );
    for role in ["lunanode-operator", "lunanode-operator-leader-election"] {
        assert_eq!(
            permissions(one(&base, "Role", Some(role))),
            permissions(one(&chart, "Role", Some(role))),
            "Role {role}"
        );
    }
    let crd_names = |objects: &[Value]| -> BTreeSet<String> {
        all_of(objects, "CustomResourceDefinition")
            .iter()
            .map(|object| object["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(crd_names(&base), crd_names(&chart));

    // The same pod: arguments, environment, probes, resources, security.
    let from_kustomize = one(&base, "Deployment", None);
    let from_chart = one(&chart, "Deployment", None);
    assert_hardened(from_kustomize);
    let (a, b) = (container(from_kustomize), container(from_chart));
    for field in [
        "image",
        "args",
        "env",
        "ports",
        "livenessProbe",
        "readinessProbe",
        "resources",
        "securityContext",
    ] {
        assert_eq!(a[field], b[field], "container {field}");
    }
    for field in ["securityContext", "terminationGracePeriodSeconds"] {
        assert_eq!(
            from_kustomize["spec"]["template"]["spec"][field],
            from_chart["spec"]["template"]["spec"][field],
            "pod {field}"
        );
    }
    assert_eq!(
        from_kustomize["spec"]["strategy"],
        from_chart["spec"]["strategy"]
    );
    assert_eq!(
        one(&base, "Service", None)["spec"]["ports"],
        one(&chart, "Service", None)["spec"]["ports"]
    );
    for field in ["policyTypes", "ingress", "egress"] {
        assert_eq!(
            one(&base, "NetworkPolicy", None)["spec"][field],
            one(&chart, "NetworkPolicy", None)["spec"][field],
            "NetworkPolicy {field}"
        );
    }

    // The ready-made overlay puts everything in lunanode-system, bindings included.
    let default = kustomize(KUSTOMIZE_DEFAULT);
    one(&default, "Namespace", Some("lunanode-system"));
    subject_is_service_account(
        one(&default, "ClusterRoleBinding", None),
        "lunanode-operator",
        "lunanode-system",
    );
    for binding in all_of(&default, "RoleBinding") {
        subject_is_service_account(binding, "lunanode-operator", "lunanode-system");
        assert_eq!(binding["metadata"]["namespace"], "lunanode-system");
    }
    for role in all_of(&default, "Role") {
        assert_eq!(role["metadata"]["namespace"], "lunanode-system");
    }
    for kind in ["ServiceAccount", "Deployment", "Service"] {
        assert_eq!(
            one(&default, kind, None)["metadata"]["namespace"],
            "lunanode-system"
        );
    }
}

/// `kubectl apply --server-side` against the test control plane; returns standard error (the
/// apiserver's warnings).
fn kubectl_apply(objects: &[Value], extra: &[&str]) -> String {
    let kubeconfig = support::control_plane().kubeconfig.clone();
    let mut command = Command::new("kubectl");
    command
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "apply",
            "--server-side",
            "--field-manager=lunanode-deploy-test",
            "-f",
            "-",
        ])
        .args(extra);
    let description = format!("{command:?}");
    let (ok, stdout, stderr) = run(&mut command, Some(&to_yaml(objects)));
    assert!(ok, "{description} failed:\n{stderr}\n{stdout}");
    stderr
}

/// Whether the apiserver allows `user` to `verb` `resource` (`resource/subresource`) in
/// `namespace` (`""`: cluster-wide).
async fn allowed(
    client: &kube::Client,
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((resource, subresource)) => (resource, Some(subresource.to_owned())),
        None => (resource, None),
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_owned()),
            resource_attributes: Some(ResourceAttributes {
                group: Some(group.to_owned()),
                resource: Some(resource.to_owned()),
                subresource,
                verb: Some(verb.to_owned()),
                namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let reviews: Api<SubjectAccessReview> = Api::all(client.clone());
    reviews
        .create(&PostParams::default(), &review)
        .await
        .expect("SubjectAccessReview")
        .status
        .expect("review status")
        .allowed
}

async fn label_namespace(client: &kube::Client, namespace: &str, labels: Value) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            namespace,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": labels}})),
        )
        .await
        .expect("label namespace");
}

#[tokio::test]
async fn the_rendered_chart_installs_and_grants_exactly_its_rules() {
    let client = support::client().await;
    // Installed first, so that the applies below update the CRDs instead of racing to create
    // them with the other test that installs the chart.
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "deploy").await;
    // The pod must meet the "restricted" Pod Security Standard: warn on any violation.
    label_namespace(
        &client,
        &ns,
        json!({"pod-security.kubernetes.io/warn": "restricted"}),
    )
    .await;
    let release = format!("{ns}-lunanode-operator");
    let objects = render_release(
        &release,
        &ns,
        &[
            "credentials.create=true",
            "credentials.apiId=abcdefghijklmnop",
            "credentials.apiKey=the-key",
        ],
    );
    let (deployments, rest): (Vec<Value>, Vec<Value>) = objects
        .into_iter()
        .partition(|object| object["kind"] == "Deployment");
    kubectl_apply(&rest, &[]);
    // No controllers run here, so the Deployment is validated (schema, admission, Pod Security)
    // but not kept.
    let warnings = kubectl_apply(&deployments, &["--dry-run=server"]);
    assert!(
        !warnings.contains("PodSecurity"),
        "the pod meets the restricted standard: {warnings}"
    );
    // The check can fail: a pod that may escalate privileges is flagged.
    let loose = render_release(
        &release,
        &ns,
        &["securityContext.allowPrivilegeEscalation=true"],
    );
    let warnings = kubectl_apply(
        &[one(&loose, "Deployment", None).clone()],
        &["--dry-run=server"],
    );
    assert!(
        warnings.contains("allowPrivilegeEscalation"),
        "the apiserver checks Pod Security: {warnings}"
    );

    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let account = accounts.get(&release).await.expect("the ServiceAccount");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .get("lunanode-credentials")
        .await
        .expect("the credentials Secret");

    // The ServiceAccount holds exactly the chart's rights, and nothing else. By default they
    // stop at the release namespace: nothing on the Secrets or kinds of another.
    let user = format!(
        "system:serviceaccount:{ns}:{}",
        account.metadata.name.unwrap()
    );
    let elsewhere = support::namespace(&client, "deploy-other").await;
    for (verb, group, resource, namespace) in [
        ("update", "lunanode.com", "lunavms/status", ns.as_str()),
        ("patch", "lunanode.com", "lunavms", ns.as_str()),
        ("watch", "lunanode.com", "lunavms", ns.as_str()),
        ("list", "", "secrets", ns.as_str()),
        ("watch", "", "secrets", ns.as_str()),
        ("patch", "", "secrets", ns.as_str()),
        ("create", "events.k8s.io", "events", ns.as_str()),
        (
            "get",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
        ),
        ("patch", "coordination.k8s.io", "leases", ns.as_str()),
    ] {
        assert!(
            allowed(&client, &user, verb, group, resource, namespace).await,
            "{verb} {group}/{resource} in {namespace:?} is allowed"
        );
    }
    for (verb, group, resource, namespace) in [
        // The namespaces it does not serve, and the cluster as a whole.
        ("list", "", "secrets", elsewhere.as_str()),
        ("get", "", "secrets", elsewhere.as_str()),
        ("watch", "", "secrets", ""),
        ("watch", "lunanode.com", "lunavms", elsewhere.as_str()),
        ("watch", "lunanode.com", "lunavms", ""),
        (
            "update",
            "lunanode.com",
            "lunavms/status",
            elsewhere.as_str(),
        ),
        ("create", "events.k8s.io", "events", elsewhere.as_str()),
        // Verbs it never uses, even at home.
        ("delete", "lunanode.com", "lunavms", ns.as_str()),
        ("create", "lunanode.com", "lunavms", ns.as_str()),
        ("update", "lunanode.com", "lunavms", ns.as_str()),
        ("patch", "lunanode.com", "lunavms/status", ns.as_str()),
        ("get", "lunanode.com", "lunavms/status", ns.as_str()),
        ("update", "lunanode.com", "lunavms/finalizers", ns.as_str()),
        ("delete", "", "secrets", ns.as_str()),
        ("create", "", "events", ns.as_str()),
        ("list", "", "configmaps", ns.as_str()),
        ("create", "", "pods", ns.as_str()),
        (
            "create",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
        ),
        (
            "list",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
        ),
        ("patch", "coordination.k8s.io", "leases", elsewhere.as_str()),
        ("delete", "coordination.k8s.io", "leases", ns.as_str()),
        ("delete", "events.k8s.io", "events", ns.as_str()),
    ] {
        assert!(
            !allowed(&client, &user, verb, group, resource, namespace).await,
            "{verb} {group}/{resource} in {namespace:?} is denied"
        );
    }

    // A list of namespaces: the rights are in each of them, and stop at their border.
    let served: Vec<String> = [
        support::namespace(&client, "deploy-team-a").await,
        support::namespace(&client, "deploy-team-b").await,
    ]
    .into();
    let listed_release = format!("{ns}-list-lunanode-operator");
    let listed = render_release(
        &listed_release,
        &ns,
        &[&format!("watchNamespaces={{{}}}", served.join(","))],
    );
    let (deployments, rest): (Vec<Value>, Vec<Value>) = listed
        .into_iter()
        .partition(|object| object["kind"] == "Deployment");
    kubectl_apply(&rest, &[]);
    kubectl_apply(&deployments, &["--dry-run=server"]);
    let user = format!("system:serviceaccount:{ns}:{listed_release}");
    for (resource, verb) in [("lunavms/status", "update"), ("secrets", "list")] {
        let group = if resource == "secrets" {
            ""
        } else {
            "lunanode.com"
        };
        for namespace in &served {
            assert!(allowed(&client, &user, verb, group, resource, namespace).await);
        }
        for namespace in [elsewhere.as_str(), ns.as_str(), ""] {
            assert!(
                !allowed(&client, &user, verb, group, resource, namespace).await,
                "{verb} {resource} in {namespace:?} is denied"
            );
        }
    }

    // Cluster-wide, only when asked for.
    let wide_release = format!("{ns}-wide-lunanode-operator");
    let wide = render_release(&wide_release, &ns, &["clusterWide=true"]);
    let (deployments, rest): (Vec<Value>, Vec<Value>) = wide
        .into_iter()
        .partition(|object| object["kind"] == "Deployment");
    kubectl_apply(&rest, &[]);
    kubectl_apply(&deployments, &["--dry-run=server"]);
    let user = format!("system:serviceaccount:{ns}:{wide_release}");
    assert!(allowed(&client, &user, "list", "", "secrets", &elsewhere).await);
    assert!(allowed(&client, &user, "watch", "lunanode.com", "lunavms", "").await);

    // The kustomize base installs too (validated by the apiserver, not kept).
    let base: Vec<Value> = kustomize(KUSTOMIZE_BASE)
        .into_iter()
        .map(|mut object| {
            if object["kind"] != "CustomResourceDefinition"
                && !object["kind"].as_str().unwrap().starts_with("Cluster")
            {
                object["metadata"]["namespace"] = json!(ns);
            }
            object
        })
        .collect();
    let warnings = kubectl_apply(&base, &["--dry-run=server"]);
    assert!(!warnings.contains("PodSecurity"), "{warnings}");
}

/// `helm` against the test control plane.
fn helm_on_cluster(args: &[&str]) -> String {
    let mut command = Command::new(support::helm());
    command
        .arg("--kubeconfig")
        .arg(&support::control_plane().kubeconfig)
        .args(args);
    run_ok(&mut command, None)
}

#[tokio::test]
async fn helm_installs_upgrades_and_uninstalls_the_release() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "helm").await;
    let release = format!("{ns}-lunanode-operator");
    let output = helm_on_cluster(&[
        "install",
        &release,
        CHART,
        "--namespace",
        &ns,
        "--set",
        &format!("watchNamespaces={{{ns}}}"),
    ]);
    assert!(output.contains("STATUS: deployed"), "{output}");
    assert!(
        output.contains(&format!("serving namespace(s) {ns} only")),
        "the notes: {output}"
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let args_of = |deployment: Deployment| -> Vec<String> {
        args(&serde_json::to_value(deployment).unwrap())
    };
    let installed = args_of(deployments.get(&release).await.expect("the Deployment"));
    assert!(installed.contains(&"text".to_owned()), "{installed:?}");

    let output = helm_on_cluster(&[
        "upgrade",
        &release,
        CHART,
        "--namespace",
        &ns,
        "--reuse-values",
        "--set",
        "logFormat=json",
    ]);
    assert!(output.contains("REVISION: 2"), "{output}");
    let upgraded = args_of(deployments.get(&release).await.unwrap());
    assert!(upgraded.contains(&"json".to_owned()), "{upgraded:?}");
    assert!(
        upgraded.contains(&ns),
        "--reuse-values kept the namespace: {upgraded:?}"
    );

    helm_on_cluster(&["uninstall", &release, "--namespace", &ns]);
    assert!(deployments.get_opt(&release).await.unwrap().is_none());
    let cluster_roles: Api<ClusterRole> = Api::all(client.clone());
    assert!(cluster_roles.get_opt(&release).await.unwrap().is_none());
    // Helm never deletes CRDs (that would delete every LunaVM).
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    assert!(
        crds.get_opt("lunavms.lunanode.com")
            .await
            .unwrap()
            .is_some()
    );
}
