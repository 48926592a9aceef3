//! The Helm chart's RBAC is sufficient and minimal: the operator runs against the real control
//! plane authenticated as a user holding only the rules `helm template` renders with default
//! values (the ClusterRole, which only reads the CRDs; the Role in the namespace it serves; the
//! leader-election Role), converges one object of every kind and deletes them all without a
//! single `forbidden`; and with any one rule removed, a named step fails.
//!
//! The tests bind the one limited user of the control plane (`support::LIMITED_USER`), so they
//! take turns, and each starts by removing the bindings any earlier test left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use k8s_openapi::api::{
    authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec},
    coordination::v1::Lease,
    core::v1::{ConfigMap, Secret},
    rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject},
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, ObjectMeta, PostParams},
};
use lunanode_operator::api::{
    common::{
        AttachedVm, CREDENTIALS_FINALIZER, ConnectionSecretRef, LocalObjectReference,
        ManagedResource, is_condition_true,
    },
    dnszone::{DnsRecordSpec, LunaDnsZone, LunaDnsZoneSpec},
    floating::{FloatingIPAttachment, LunaFloatingIP, LunaFloatingIPSpec},
    loadbalancer::{LbMemberSpec, LunaLoadBalancer, LunaLoadBalancerSpec},
    network::{LunaNetwork, LunaNetworkSpec},
    schedule::{LunaSnapshotSchedule, LunaSnapshotScheduleSpec},
    securitygroup::{FirewallRule, LunaSecurityGroup, LunaSecurityGroupSpec, Protocol},
    sshkey::{LunaSSHKey, LunaSSHKeySpec},
    startupscript::{LunaStartupScript, LunaStartupScriptSpec, ScriptSource},
    vm::{LunaVM, LunaVMSpec},
    volume::{LunaVolume, LunaVolumeSpec, VolumeAttachment},
    volumesnapshot::LunaVolumeSnapshot,
};
use serde::Deserialize;
use serde_json::{Value, json};
use support::{World, processes::Operator, wait, world::CREDENTIALS};

const CHART: &str = "deploy/helm/lunanode-operator";
const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const WAIT: Duration = Duration::from_secs(90);
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorRbacTestKey000000000 rbac@example.com";
/// Marks every RBAC object these tests create, so that the next test can remove them.
const TEST_LABEL: &str = "lunanode.com/rbac-test";

/// The limited user is shared: one test at a time.
static LIMITED_USER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the chart renders for a release in `namespace`.
#[derive(Clone)]
struct Chart {
    /// The cluster-wide rules: reading the CRDs, nothing else.
    cluster_role: ClusterRole,
    /// The rules in the namespace the operator serves (`namespace`).
    role: Role,
    /// The leader-election Role (in `namespace`).
    leader: Role,
    /// The operator's arguments in the Deployment.
    args: Vec<String>,
    /// Its environment variables.
    env: Vec<Value>,
}

fn chart(namespace: &str) -> Chart {
    let output = Command::new(support::helm())
        .current_dir(support::repo_root())
        .args([
            "template",
            "lunanode-operator",
            CHART,
            "--namespace",
            namespace,
        ])
        .output()
        .expect("run helm template");
    assert!(
        output.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let yaml = String::from_utf8(output.stdout).unwrap();
    let documents: Vec<Value> = serde_norway::Deserializer::from_str(&yaml)
        .map(|document| Value::deserialize(document).unwrap())
        .filter(|value| !value.is_null())
        .collect();
    let pick = |kind: &str, name: Option<&str>| -> Value {
        let found: Vec<&Value> = documents
            .iter()
            .filter(|d| d["kind"] == kind)
            .filter(|d| name.is_none_or(|name| d["metadata"]["name"] == name))
            .collect();
        assert_eq!(found.len(), 1, "one {kind} {name:?} in the chart");
        found[0].clone()
    };
    let container = pick("Deployment", None)["spec"]["template"]["spec"]["containers"][0].clone();
    let role: Role = serde_json::from_value(pick("Role", Some("lunanode-operator"))).unwrap();
    assert_eq!(
        role.namespace().as_deref(),
        Some(namespace),
        "by default the chart serves its own namespace"
    );
    Chart {
        cluster_role: serde_json::from_value(pick("ClusterRole", None)).unwrap(),
        role,
        leader: serde_json::from_value(pick("Role", Some("lunanode-operator-leader-election")))
            .unwrap(),
        args: serde_json::from_value(container["args"].clone()).unwrap(),
        env: serde_json::from_value(container["env"].clone()).unwrap(),
    }
}

/// The chart's arguments for `lunanode-operator run`, as a test process takes them: the test
/// harness chooses the metrics address, and the pod's namespace, which the chart gives as
/// POD_NAMESPACE (where the Lease lives) and LUNANODE_NAMESPACE (the namespace served),
/// becomes `--lease-namespace` and `--namespace`.
fn operator_args(chart: &Chart, namespace: &str) -> Vec<String> {
    for name in ["POD_NAMESPACE", "LUNANODE_NAMESPACE"] {
        assert!(
            chart.env.iter().any(|var| var["name"] == name
                && var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"),
            "the chart gives the operator its namespace as {name}"
        );
    }
    let mut args = Vec::new();
    let mut given = chart.args.iter();
    assert_eq!(given.next().map(String::as_str), Some("run"));
    while let Some(arg) = given.next() {
        if arg == "--metrics-addr" {
            given.next();
        } else {
            args.push(arg.clone());
        }
    }
    assert!(args.contains(&"--leader-elect".to_owned()), "{args:?}");
    args.extend(["--namespace", namespace, "--lease-namespace", namespace].map(String::from));
    args
}

fn test_meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some([(TEST_LABEL.to_owned(), "true".to_owned())].into()),
        ..ObjectMeta::default()
    }
}

fn limited_user() -> Vec<Subject> {
    vec![Subject {
        kind: "User".into(),
        api_group: Some("rbac.authorization.k8s.io".into()),
        name: support::LIMITED_USER.into(),
        namespace: None,
    }]
}

/// Removes every binding and role an earlier test of this file created.
async fn unbind_everything(client: &Client) {
    let selector = ListParams::default().labels(&format!("{TEST_LABEL}=true"));
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    for binding in bindings.list(&selector).await.unwrap() {
        let _ = bindings
            .delete(&binding.name_any(), &DeleteParams::default())
            .await;
    }
    let roles: Api<ClusterRole> = Api::all(client.clone());
    for role in roles.list(&selector).await.unwrap() {
        let _ = roles
            .delete(&role.name_any(), &DeleteParams::default())
            .await;
    }
    for binding in Api::<RoleBinding>::all(client.clone())
        .list(&selector)
        .await
        .unwrap()
    {
        let namespaced: Api<RoleBinding> =
            Api::namespaced(client.clone(), &binding.namespace().unwrap());
        let _ = namespaced
            .delete(&binding.name_any(), &DeleteParams::default())
            .await;
    }
}

/// Grants the limited user the chart's rules: its ClusterRole cluster-wide, its Role and
/// leader-election Role in `namespace`.
async fn bind(client: &Client, namespace: &str, chart: Chart) {
    let name = format!("rbac-test-{namespace}");
    let mut cluster_role = chart.cluster_role;
    cluster_role.metadata = test_meta(&name, None);
    Api::<ClusterRole>::all(client.clone())
        .create(&PostParams::default(), &cluster_role)
        .await
        .expect("create ClusterRole");
    Api::<ClusterRoleBinding>::all(client.clone())
        .create(
            &PostParams::default(),
            &ClusterRoleBinding {
                metadata: test_meta(&name, None),
                role_ref: role_ref("ClusterRole", &name),
                subjects: Some(limited_user()),
            },
        )
        .await
        .expect("create ClusterRoleBinding");
    for (suffix, mut role) in [("", chart.role), ("-leader", chart.leader)] {
        let name = format!("{name}{suffix}");
        role.metadata = test_meta(&name, Some(namespace));
        Api::<Role>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &role)
            .await
            .expect("create Role");
        Api::<RoleBinding>::namespaced(client.clone(), namespace)
            .create(
                &PostParams::default(),
                &RoleBinding {
                    metadata: test_meta(&name, Some(namespace)),
                    role_ref: role_ref("Role", &name),
                    subjects: Some(limited_user()),
                },
            )
            .await
            .expect("create RoleBinding");
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: kind.into(),
        name: name.into(),
    }
}

/// A kubeconfig for the limited user: the admin kubeconfig's cluster (server and CA), the
/// limited user's token, and `namespace` as the default namespace.
fn limited_kubeconfig(dir: &Path, namespace: &str) -> PathBuf {
    let admin: Value = serde_norway::from_str(
        &std::fs::read_to_string(&support::control_plane().kubeconfig).unwrap(),
    )
    .unwrap();
    let current = admin["current-context"].as_str().unwrap();
    let context = admin["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|context| context["name"] == current)
        .expect("the current context");
    let cluster_name = context["context"]["cluster"].as_str().unwrap();
    let cluster = admin["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cluster| cluster["name"] == cluster_name)
        .expect("the current cluster")["cluster"]
        .clone();
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testenv", "cluster": cluster}],
        "users": [{"name": support::LIMITED_USER, "user": {"token": support::LIMITED_USER_TOKEN}}],
        "contexts": [{"name": "limited", "context": {
            "cluster": "testenv", "user": support::LIMITED_USER, "namespace": namespace,
        }}],
        "current-context": "limited",
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_norway::to_string(&kubeconfig).unwrap()).unwrap();
    path
}

/// Whether the client's own user may `verb` `resource` (`resource/subresource`) in `namespace`.
async fn can(client: &Client, verb: &str, group: &str, resource: &str, namespace: &str) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((resource, subresource)) => (resource, Some(subresource.to_owned())),
        None => (resource, None),
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource,
                verb: Some(verb.into()),
                namespace: Some(namespace.into()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("SelfSubjectAccessReview")
        .status
        .expect("review status")
        .allowed
}

/// One run: the shared world (a namespace, a simulator, credentials) without its operator, the
/// limited user bound to the chart's rules as `edit` leaves them, and the operator running as
/// the limited user with the chart's arguments.
struct RbacWorld {
    world: World,
    operator: Operator,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for RbacWorld {
    type Target = World;

    fn deref(&self) -> &World {
        &self.world
    }
}

/// The first permission a role grants, as (verb, group, resource), to check that a binding
/// applies.
fn first_permission(rules: &Option<Vec<PolicyRule>>) -> Option<(String, String, String)> {
    let rule = rules.as_ref()?.first()?;
    Some((
        rule.verbs.first()?.clone(),
        rule.api_groups.as_ref()?.first()?.clone(),
        rule.resources.as_ref()?.first()?.clone(),
    ))
}

async fn world(tag: char, edit: impl FnOnce(&mut Chart)) -> RbacWorld {
    // The test passes the namespace (as the chart's LUNANODE_NAMESPACE does).
    let world = World::setup("rbac", tag)
        .all_namespaces()
        .without_operator()
        .start()
        .await;
    let (admin, ns) = (&world.client, world.ns.clone());
    unbind_everything(admin).await;
    let mut chart = chart(&ns);
    let args = operator_args(&chart, &ns);
    edit(&mut chart);
    let granted: Vec<_> = [
        first_permission(&chart.cluster_role.rules),
        first_permission(&chart.role.rules),
        first_permission(&chart.leader.rules),
    ]
    .into_iter()
    .flatten()
    .collect();
    bind(admin, &ns, chart).await;

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = limited_kubeconfig(dir.path(), &ns);
    // RBAC changes reach the authorizer within moments; wait until they have.
    let limited = support::client_for(&kubeconfig).await;
    support::eventually(Duration::from_secs(20), "the bindings to apply", || {
        let (limited, ns, granted) = (limited.clone(), ns.clone(), granted.clone());
        async move {
            for (verb, group, resource) in &granted {
                if !can(&limited, verb, group, resource, &ns).await {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;
    assert!(
        !can(&limited, "delete", "lunanode.com", "lunavms", &ns).await,
        "the limited user holds only the chart's rules"
    );
    assert!(
        !can(&limited, "list", "", "secrets", "default").await,
        "no rights on the Secrets of a namespace the operator does not serve"
    );

    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let operator = world.start_operator_as(&kubeconfig, &args);
    RbacWorld {
        world,
        operator,
        _dir: dir,
    }
}

/// Fails at once when the operator's log shows a refused request.
fn no_refusal(operator: &Operator) {
    let logs = operator.logs();
    assert!(
        !logs.to_lowercase().contains("forbidden"),
        "a request was refused:\n{logs}"
    );
}

#[tokio::test]
async fn the_charts_rbac_is_enough_for_every_kind() {
    let _turn = LIMITED_USER.lock().await;
    let world = world('r', |_| {}).await;
    world
        .create(&LunaNetwork::new(
            "net",
            LunaNetworkSpec::new("rbac-net", "10.91.1.0/24"),
        ))
        .await;
    world
        .create(&LunaSSHKey::new(
            "deploy",
            LunaSSHKeySpec::new("rbac-deploy", KEY),
        ))
        .await;
    let https = FirewallRule {
        protocol: Protocol::TCP,
        port_min: Some(443),
        ..FirewallRule::default()
    };
    world
        .create(&LunaSecurityGroup::new(
            "web",
            LunaSecurityGroupSpec::new("rbac-web", vec![https]),
        ))
        .await;
    boot_script(&world, "boot").await;
    let mut spec = LunaVMSpec::new("rbac-web", "m.1", IMAGE);
    spec.placement.network_ref = Some(LocalObjectReference::new("net"));
    spec.write_connection_secret_to_ref = Some(ConnectionSecretRef {
        name: "rbac-web-connection".into(),
    });
    spec.ssh_key_ref = Some(LocalObjectReference::new("deploy"));
    spec.security_group_refs = vec![LocalObjectReference::new("web")];
    spec.startup_script_refs = vec![LocalObjectReference::new("boot")];
    world.create(&LunaVM::new("web", spec)).await;
    let mut volume = LunaVolumeSpec::new("rbac-data", 10);
    volume.attach_to = Some(VolumeAttachment::vm_ref("web"));
    world.create(&LunaVolume::new("data", volume)).await;
    world
        .create(&LunaSnapshotSchedule::new(
            "daily",
            LunaSnapshotScheduleSpec::volume("data", 86_400, 2),
        ))
        .await;
    let mut floating = LunaFloatingIPSpec::new();
    floating.attach_to = Some(FloatingIPAttachment {
        vm: AttachedVm::vm_ref("web"),
        private_ip: None,
    });
    world.create(&LunaFloatingIP::new("public", floating)).await;
    let mut balancer = LunaLoadBalancerSpec::new("net", 80);
    balancer.members = vec![LbMemberSpec::vm("web", 8080)];
    world
        .create(&LunaLoadBalancer::new("front", balancer))
        .await;
    let mut zone = LunaDnsZoneSpec::new("rbac.example.com");
    zone.records = vec![DnsRecordSpec::vm("www", "web")];
    world.create(&LunaDnsZone::new("zone", zone)).await;

    let operator = &world.operator;
    macro_rules! ready {
        ($kind:ty, $name:expr) => {{
            let api = world.api::<$kind>();
            support::eventually(WAIT, concat!(stringify!($kind), " Ready"), || {
                let api = api.clone();
                async move {
                    no_refusal(operator);
                    let object = api.get($name).await.ok()?;
                    is_condition_true(object.conditions(), "Ready").then_some(())
                }
            })
            .await;
        }};
    }
    ready!(LunaSSHKey, "deploy");
    ready!(LunaSecurityGroup, "web");
    ready!(LunaStartupScript, "boot");
    ready!(LunaNetwork, "net");
    ready!(LunaVM, "web");
    ready!(LunaVolume, "data");
    ready!(LunaSnapshotSchedule, "daily");
    ready!(LunaFloatingIP, "public");
    ready!(LunaLoadBalancer, "front");
    ready!(LunaDnsZone, "zone");
    let held = world.sim.vms().await;
    assert_eq!(held.len(), 1, "exactly one VM: {held:?}");
    assert_eq!(world.sim.calls("vm/create").await, 1);
    // It reconciles as the leader, holding the Lease in its own namespace.
    let lease = world
        .api::<Lease>()
        .get("lunanode-operator")
        .await
        .expect("the Lease");
    assert!(lease.spec.and_then(|spec| spec.holder_identity).is_some());

    // What the other rules are for: the connection Secret, the credentials Secret's finalizer,
    // and Events.
    world
        .until::<Secret>("rbac-web-connection", "the connection Secret", |_| true)
        .await;
    let held = |present: bool| {
        world.until::<Secret>(CREDENTIALS, "the credentials finalizer", move |secret| {
            wait::has_finalizer(secret, CREDENTIALS_FINALIZER) == present
        })
    };
    held(true).await;
    world
        .event("web", "an Event from the operator", |event| {
            event.reporting_controller.as_deref() == Some("lunanode-operator")
        })
        .await;

    // Everything deleted, dependents first as `kubectl delete -f` of a folder would; the
    // schedule's snapshot goes with it (the garbage collector, by its owner reference).
    let snapshots = world
        .api::<LunaVolumeSnapshot>()
        .list(&ListParams::default())
        .await
        .expect("list the snapshots");
    assert_eq!(snapshots.items.len(), 1, "the schedule's first snapshot");
    world.delete::<LunaSnapshotSchedule>("daily").await;
    for snapshot in &snapshots.items {
        world.gone::<LunaVolumeSnapshot>(&snapshot.name_any()).await;
    }
    world.delete::<LunaDnsZone>("zone").await;
    world.delete::<LunaLoadBalancer>("front").await;
    world.delete::<LunaFloatingIP>("public").await;
    world.delete::<LunaVolume>("data").await;
    world.delete::<LunaVM>("web").await;
    world.delete::<LunaNetwork>("net").await;
    world.gone::<LunaDnsZone>("zone").await;
    world.gone::<LunaLoadBalancer>("front").await;
    world.gone::<LunaFloatingIP>("public").await;
    world.gone::<LunaVolume>("data").await;
    world.gone::<LunaVM>("web").await;
    world.gone::<LunaNetwork>("net").await;
    world.delete::<LunaSecurityGroup>("web").await;
    world.delete::<LunaSSHKey>("deploy").await;
    world.delete::<LunaStartupScript>("boot").await;
    world.gone::<LunaSecurityGroup>("web").await;
    world.gone::<LunaSSHKey>("deploy").await;
    world.gone::<LunaStartupScript>("boot").await;
    assert!(world.sim.vms().await.is_empty(), "the VM is deleted");
    held(false).await;
    no_refusal(&world.operator);
    unbind_everything(&world.client).await;
}

/// A LunaStartupScript `name` whose content is the key `boot.sh` of a ConfigMap of that name,
/// created with it.
async fn boot_script(world: &World, name: &str) {
    let map: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": name},
        "data": {"boot.sh": "#!/bin/sh\necho rbac\n"},
    }))
    .unwrap();
    world
        .api::<ConfigMap>()
        .create(&PostParams::default(), &map)
        .await
        .expect("create the script's ConfigMap");
    let mut spec = LunaStartupScriptSpec::new(name, "");
    spec.content = None;
    spec.content_from = Some(ScriptSource::config_map(name, "boot.sh"));
    world.create(&LunaStartupScript::new(name, spec)).await;
}

/// What fails, in the operator's log, without the rule on `resource`: the named step.
fn step_without(resource: &str) -> (&'static str, &'static str) {
    match resource {
        "customresourcedefinitions" => ("check the CRDs at start", "unable to check that CRD"),
        "lunavms" => ("watch the LunaVMs", r#"cannot list resource "lunavms""#),
        "lunavms/status" => (
            "write a LunaVM's status",
            r#"cannot update resource "lunavms/status""#,
        ),
        "secrets" => ("read the credentials Secret", r#"resource "secrets""#),
        "configmaps" => (
            "read a startup script's ConfigMap",
            r#"resource "configmaps""#,
        ),
        "events" => ("publish an Event", "unable to publish an event"),
        "lunavolumesnapshots" => (
            "make a schedule's snapshot",
            r#"cannot create resource "lunavolumesnapshots""#,
        ),
        "leases" => ("hold the leader-election Lease", r#"resource "leases""#),
        other => panic!("the chart has a rule on {other} that this test does not know: add it"),
    }
}

/// Removes rule `index` of the rules in `rules`, returning its first resource.
fn remove_rule(rules: &mut Option<Vec<PolicyRule>>, index: usize) -> String {
    let rules = rules.as_mut().expect("rules");
    let rule = rules.remove(index);
    rule.resources.and_then(|r| r.first().cloned()).unwrap()
}

#[tokio::test]
async fn every_rule_of_the_chart_is_needed() {
    let _turn = LIMITED_USER.lock().await;
    let sample = chart("sample");
    let counts = [
        sample.cluster_role.rules.as_ref().map_or(0, Vec::len),
        sample.role.rules.as_ref().map_or(0, Vec::len),
        sample.leader.rules.as_ref().map_or(0, Vec::len),
    ];
    let mut removed = Vec::new();
    let tags = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k'];
    let mut tag = tags.iter();
    for (role, count) in counts.into_iter().enumerate() {
        for index in 0..count {
            let mut resource = String::new();
            let world = world(*tag.next().expect("a tag per rule"), |chart| {
                resource = match role {
                    0 => remove_rule(&mut chart.cluster_role.rules, index),
                    1 => remove_rule(&mut chart.role.rules, index),
                    _ => remove_rule(&mut chart.leader.rules, index),
                };
            })
            .await;
            let (step, evidence) = step_without(&resource);
            let mut spec = LunaVMSpec::new("rbac-needed", "m.1", IMAGE);
            spec.write_connection_secret_to_ref = Some(ConnectionSecretRef {
                name: "rbac-needed-connection".into(),
            });
            world
                .api::<LunaVM>()
                .create(&PostParams::default(), &LunaVM::new("web", spec))
                .await
                .expect("create LunaVM");
            boot_script(&world, "boot").await;
            world
                .create(&LunaVolume::new(
                    "data",
                    LunaVolumeSpec::new("rbac-data", 10),
                ))
                .await;
            world
                .create(&LunaSnapshotSchedule::new(
                    "daily",
                    LunaSnapshotScheduleSpec::volume("data", 86_400, 1),
                ))
                .await;
            let operator = &world.operator;
            support::eventually(
                WAIT,
                &format!("without {resource}: {step} fails"),
                || async move { operator.logs().contains(evidence).then_some(()) },
            )
            .await;
            removed.push(resource);
            unbind_everything(&world.client).await;
        }
    }
    assert_eq!(
        removed.len(),
        counts.iter().sum::<usize>(),
        "every rule was removed once: {removed:?}"
    );
}
