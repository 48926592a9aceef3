//! The operator as its users run it: the image built with no container engine
//! (`tools/image/build.sh`), compared with the Dockerfile, then imported into the containerd of
//! a real node (`tools/testenv/node.sh`: kubelet, containerd, runc), installed with the chart,
//! and converging LunaVMs from its Pod with the in-cluster configuration. The Pod's security
//! settings are checked on its process, as runc applied them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use k8s_openapi::api::{coordination::v1::Lease, core::v1::Pod, discovery::v1::EndpointSlice};
use kube::{
    Api,
    api::{DeleteParams, ListParams, PostParams},
};
use lunanode_operator::api::vm::{LunaVM, LunaVMSpec};
use serde_json::Value;
use support::{
    processes::{Simulator, binary, test_account},
    wait,
};

const RELEASE: &str = "op";
/// The chart's full name for release `op`: the Deployment, ServiceAccount, Lease and Service.
const FULLNAME: &str = "op-lunanode-operator";
const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";

fn run(command: &mut Command) -> String {
    let output = command.output().expect("run a command");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Builds the operator image from this build's binary: the archive's path and the manifest
/// digest, as `tools/image/build.sh` prints them.
fn build_image(tag: &str, out: &Path) -> String {
    let printed = run(
        Command::new(support::repo_root().join("tools/image/build.sh"))
            .args(["--binary", binary(), "--tag", tag, "--out"])
            .arg(out),
    );
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(out.to_str().unwrap()),
        "{printed}"
    );
    let digest = lines.get(1).copied().unwrap_or_default();
    assert!(
        digest.starts_with("sha256:"),
        "no digest printed: {printed}"
    );
    digest.to_owned()
}

/// An image archive taken apart: its config and the paths of its layer.
struct Unpacked {
    config: Value,
    index: Value,
    paths: BTreeSet<String>,
}

fn unpack(archive: &Path, into: &Path) -> Unpacked {
    run(Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(into));
    let read_json = |relative: &str| -> Value {
        serde_json::from_slice(&std::fs::read(into.join(relative)).expect("read")).expect("json")
    };
    let blob = |digest: &Value| {
        format!(
            "blobs/sha256/{}",
            digest.as_str().unwrap().trim_start_matches("sha256:")
        )
    };
    let index = read_json("index.json");
    let manifest = read_json(&blob(&index["manifests"][0]["digest"]));
    let config = read_json(&blob(&manifest["config"]["digest"]));
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "one layer: {manifest}");
    let listing = run(Command::new("tar")
        .arg("-tzf")
        .arg(into.join(blob(&layers[0]["digest"]))));
    let paths = listing
        .lines()
        .map(|line| line.trim_end_matches('/').to_owned())
        .collect();
    Unpacked {
        config,
        index,
        paths,
    }
}

/// The Dockerfile's final stage: each instruction's arguments (continuation lines joined).
fn dockerfile_final_stage() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(support::repo_root().join("Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    let mut stage = BTreeMap::new();
    for line in joined.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (instruction, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let instruction = instruction.to_uppercase();
        if instruction == "FROM" {
            stage.clear();
        }
        stage
            .entry(instruction)
            .or_insert_with(Vec::new)
            .push(rest.trim().to_owned());
    }
    stage
}

/// `LABEL a="x" b="y"` as pairs.
fn labels(arguments: &[String]) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for argument in arguments {
        let mut rest = argument.as_str();
        while let Some((key, after)) = rest.split_once("=\"") {
            let (value, tail) = after.split_once('"').expect("a closed label value");
            found.insert(key.trim().to_owned(), value.to_owned());
            rest = tail;
        }
    }
    found
}

#[test]
fn the_offline_image_holds_what_the_dockerfile_builds() {
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("image.tar");
    let digest = build_image("compare", &archive);
    let unpacked_dir = work.path().join("unpacked");
    std::fs::create_dir(&unpacked_dir).unwrap();
    let image = unpack(&archive, &unpacked_dir);
    let config = &image.config["config"];

    // The config, instruction by instruction, as the Dockerfile's final stage sets it.
    let stage = dockerfile_final_stage();
    let json_list = |instruction: &str| -> Value {
        serde_json::from_str(&stage[instruction][0]).expect("exec form")
    };
    assert_eq!(config["User"], stage["USER"][0].as_str(), "USER");
    assert_eq!(config["Entrypoint"], json_list("ENTRYPOINT"));
    assert_eq!(config["Cmd"], json_list("CMD"));
    let exposed: BTreeSet<String> = config["ExposedPorts"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let declared: BTreeSet<String> = stage["EXPOSE"]
        .iter()
        .map(|port| format!("{port}/tcp"))
        .collect();
    assert_eq!(exposed, declared, "EXPOSE");
    let image_labels: BTreeMap<String, String> =
        serde_json::from_value(config["Labels"].clone()).unwrap();
    assert_eq!(image_labels, labels(&stage["LABEL"]), "LABEL");
    // The distroless base's user is 65532 (nonroot), which the Dockerfile repeats.
    assert!(
        stage["FROM"][0].ends_with(":nonroot"),
        "{:?}",
        stage["FROM"]
    );
    assert_eq!(config["User"], "65532:65532");

    // The contents: the binary, the CA bundle and the libraries it loads; no shell, no package
    // manager, nothing in bin/.
    for needed in [
        "lunanode-operator",
        "etc/ssl/certs/ca-certificates.crt",
        "etc/passwd",
        "tmp",
    ] {
        assert!(
            image.paths.contains(needed),
            "{needed} missing: {:?}",
            image.paths
        );
    }
    let ldd = run(Command::new("ldd").arg(binary()));
    for library in ldd.lines().filter_map(|line| {
        let line = line.trim();
        let path = match line.split_once(" => ") {
            Some((_, resolved)) => resolved.split_whitespace().next()?,
            None => line.split_whitespace().next()?,
        };
        path.starts_with('/')
            .then(|| path.trim_start_matches('/').to_owned())
    }) {
        assert!(
            image.paths.contains(&library),
            "{library} (ldd) missing: {:?}",
            image.paths
        );
    }
    for absent in ["bin/sh", "bin/bash", "usr/bin/apt", "bin", "usr/bin"] {
        assert!(!image.paths.contains(absent), "{absent} is in the image");
    }

    // The index names the image as containerd imports it.
    assert_eq!(
        image.index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "docker.io/library/lunanode-operator:compare"
    );
    // The same inputs give the same image.
    let again = build_image("compare", &work.path().join("again.tar"));
    assert_eq!(digest, again, "two builds of one binary differ");
}

/// What `node.sh` wrote to `DIR/node.env`.
fn node_env(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(dir.join("node.env"))
        .expect("node.env")
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

fn ctr(env: &BTreeMap<String, String>, args: &[&str]) -> String {
    run(Command::new(&env["CTR"])
        .args([
            "--address",
            &env["CONTAINERD_ADDRESS"],
            "--namespace",
            "k8s.io",
        ])
        .args(args))
}

fn helm(kubeconfig: &Path, args: &[&str]) -> String {
    run(Command::new(support::helm())
        .env("KUBECONFIG", kubeconfig)
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("lunanode-helm-cache"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("lunanode-helm-config"),
        )
        .args(args))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// On a failing test, the operator Pod's log and the end of the kubelet's and containerd's.
struct Diagnostics(PathBuf);

impl Drop for Diagnostics {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let logs = Command::new("sh")
            .arg("-c")
            .arg("find \"$0/node/pod-logs\" -name '*.log' -exec tail -n 60 {} +; tail -n 30 \"$0/kubelet.log\" \"$0/containerd.log\"")
            .arg(&self.0)
            .output();
        if let Ok(output) = logs {
            eprintln!("--- node logs\n{}", String::from_utf8_lossy(&output.stdout));
        }
    }
}

/// The running operator Pods of the release, by name.
async fn operator_pods(pods: &Api<Pod>) -> Vec<Pod> {
    let selector = "app.kubernetes.io/name=lunanode-operator";
    pods.list(&ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .collect()
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

/// The one Ready operator Pod, once there is exactly one and it runs `tag`.
async fn ready_pod(pods: &Api<Pod>, tag: &str) -> Pod {
    support::eventually(
        Duration::from_secs(180),
        "one Ready operator Pod",
        || async {
            let running = operator_pods(pods).await;
            match running.as_slice() {
                [pod] if pod_ready(pod) => {
                    let image = pod.spec.as_ref()?.containers[0].image.clone()?;
                    image.ends_with(&format!(":{tag}")).then(|| pod.clone())
                }
                _ => None,
            }
        },
    )
    .await
}

/// The process of the Pod's operator container, found by its environment (POD_NAME).
fn operator_process(pod_name: &str) -> u32 {
    let wanted = format!("POD_NAME={pod_name}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            cmdline.starts_with(b"/lunanode-operator\0run\0")
                && environ
                    .split(|byte| *byte == 0)
                    .any(|var| var == wanted.as_bytes())
        })
        .unwrap_or_else(|| panic!("no process of pod {pod_name}"))
}

/// A `Name:\tvalue` line of `/proc/PID/status`.
fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in the status of {pid}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// From now on, every `vm create` is carried out and its answer dropped (or no longer).
async fn lose_create_answers(sim: &Simulator, lose: bool) {
    let faults = if lose {
        serde_json::json!({"drop_after_commit_rate": 1.0, "actions": ["vm/create"]})
    } else {
        serde_json::json!({})
    };
    sim.admin_post("faults", faults).await;
}

/// Waits until the simulator has answered `count` VM creates in all.
async fn creates_reach(sim: &Simulator, count: u64) {
    support::eventually(wait::WAIT, "the creates", || async {
        (sim.calls("vm/create").await >= count).then_some(())
    })
    .await;
}

async fn vm(vms: &Api<LunaVM>, name: &str) {
    vms.create(
        &PostParams::default(),
        &LunaVM::new(name, LunaVMSpec::new(name, "m.1", IMAGE)),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chart_runs_the_image_in_a_pod_that_converges_vms() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(
        status.lines().any(|line| line.starts_with("Uid:\t0\t")),
        "this test runs a kubelet and containerd, which need root: run it as root (as CI does)"
    );
    let plane = support::node_control_plane();
    let dir = plane.dir.clone().expect("this binary's own control plane");
    let _diagnostics = Diagnostics(dir.clone());
    let client = support::client_for(&plane.kubeconfig).await;
    let env = node_env(&dir);
    let account = test_account('p');
    let sim = Simulator::start(&account, &[]);

    // The image, built here from this build's binary and imported into the node's containerd
    // (no registry: the Pod must use it as it is).
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("image.tar");
    build_image("first", &archive);
    ctr(&env, &["images", "import", archive.to_str().unwrap()]);

    let namespace = support::namespace(&client, "incluster").await;
    support::credentials_secret(
        &client,
        &namespace,
        "lunanode-credentials",
        &account.0,
        &account.1,
    )
    .await;
    // The node has no kube-proxy: the Pod reaches the API server at its loopback address rather
    // than at the `kubernetes` Service's cluster IP, and the simulator at its own.
    let server = plane.server();
    let api_port = server.rsplit(':').next().unwrap().trim_end_matches('/');
    let metrics_port = free_port();
    let values = work.path().join("values.yaml");
    std::fs::write(
        &values,
        format!(
            r#"image: {{repository: lunanode-operator, tag: first, pullPolicy: Never}}
hostNetwork: true
# One node, and the metrics port is the node's: the new Pod of an upgrade starts once the old
# one is gone.
strategy: {{type: Recreate}}
endpoint: "{endpoint}"
allowInsecureEndpoint: true
metrics: {{port: {metrics_port}}}
extraEnv:
  - {{name: KUBERNETES_SERVICE_HOST, value: "127.0.0.1"}}
  - {{name: KUBERNETES_SERVICE_PORT, value: "{api_port}"}}
"#,
            endpoint = sim.endpoint(),
        ),
    )
    .unwrap();
    let chart = support::repo_root().join("deploy/helm/lunanode-operator");
    helm(
        &plane.kubeconfig,
        &[
            "install",
            RELEASE,
            chart.to_str().unwrap(),
            "--namespace",
            &namespace,
            "--values",
            values.to_str().unwrap(),
            "--wait",
            "--timeout",
            "180s",
        ],
    );

    // The Pod is Ready (its readiness probe answered through the node), on the image it was
    // given, with a projected ServiceAccount token (the admission plugin and the kubelet).
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let pod = ready_pod(&pods, "first").await;
    let pod_name = pod.metadata.name.clone().unwrap();
    let spec = pod.spec.clone().unwrap();
    assert_eq!(spec.service_account_name.as_deref(), Some(FULLNAME));
    assert!(
        spec.volumes
            .iter()
            .flatten()
            .any(
                |volume| volume.projected.as_ref().is_some_and(|projected| projected
                    .sources
                    .iter()
                    .flatten()
                    .any(|source| source.service_account_token.is_some()))
            ),
        "no projected token volume: {spec:?}"
    );

    // The security settings as runc applied them to the process: user and group 65532, no
    // capabilities, no privilege escalation, a seccomp filter, a read-only root.
    let pid = operator_process(&pod_name);
    assert_eq!(status_field(pid, "Uid"), "65532 65532 65532 65532");
    assert_eq!(status_field(pid, "Gid"), "65532 65532 65532 65532");
    assert_eq!(status_field(pid, "CapEff"), "0000000000000000");
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    assert_eq!(status_field(pid, "Seccomp"), "2", "seccomp filter mode");
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let root = mountinfo
        .lines()
        .find(|line| line.split_whitespace().nth(4) == Some("/"))
        .expect("a root mount");
    let options = root.split_whitespace().nth(5).unwrap();
    assert!(
        options.split(',').any(|option| option == "ro"),
        "root mounted {options}"
    );

    // It signed in with the Pod's token (it has no kubeconfig) and holds the Lease.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let holder = support::eventually(Duration::from_secs(60), "the Lease held", || async {
        leases.get_opt(FULLNAME).await.ok()??.spec?.holder_identity
    })
    .await;
    assert_eq!(holder, pod_name);

    // A LunaVM converges through it, made once.
    let vms: Api<LunaVM> = Api::namespaced(client.clone(), &namespace);
    vm(&vms, "pod-made").await;
    wait::ready(&vms, "pod-made", wait::WAIT).await;
    assert_eq!(sim.calls("vm/create").await, 1);

    // The metrics Service's endpoint answers.
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &namespace);
    let address = support::eventually(Duration::from_secs(60), "the metrics endpoint", || async {
        let list = slices
            .list(
                &ListParams::default()
                    .labels(&format!("kubernetes.io/service-name={FULLNAME}-metrics")),
            )
            .await
            .ok()?;
        let endpoint = list.items.first()?.endpoints.as_ref()?.first()?.clone();
        (endpoint.conditions?.ready == Some(true)).then(|| endpoint.addresses[0].clone())
    })
    .await;
    let metrics = reqwest::get(format!("http://{address}:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("lunanode_"), "{metrics}");

    // An upgrade to a new tag in the middle of creates whose answers were lost: the old Pod
    // made the three VMs but never heard so, and is stopped while it waits for its lists to show
    // them. The new Pod finds them; nothing is made twice.
    ctr(
        &env,
        &[
            "images",
            "tag",
            "docker.io/library/lunanode-operator:first",
            "docker.io/library/lunanode-operator:second",
        ],
    );
    let upgrade_vms = ["during-upgrade-1", "during-upgrade-2", "during-upgrade-3"];
    lose_create_answers(&sim, true).await;
    for name in upgrade_vms {
        vm(&vms, name).await;
    }
    creates_reach(&sim, 4).await;
    lose_create_answers(&sim, false).await;
    helm(
        &plane.kubeconfig,
        &[
            "upgrade",
            RELEASE,
            chart.to_str().unwrap(),
            "--namespace",
            &namespace,
            "--reuse-values",
            "--set",
            "image.tag=second",
            "--wait",
            "--timeout",
            "180s",
        ],
    );
    let upgraded = ready_pod(&pods, "second").await;
    assert_ne!(upgraded.metadata.name, pod.metadata.name);
    for name in upgrade_vms {
        wait::ready(&vms, name, wait::WAIT).await;
    }
    assert_eq!(sim.calls("vm/create").await, 4, "a VM made twice");

    // The same with the Pod deleted (its ReplicaSet makes the next one).
    lose_create_answers(&sim, true).await;
    vm(&vms, "during-handover").await;
    creates_reach(&sim, 5).await;
    lose_create_answers(&sim, false).await;
    pods.delete(
        &upgraded.metadata.name.clone().unwrap(),
        &DeleteParams::default(),
    )
    .await
    .unwrap();
    let replacement = ready_pod(&pods, "second").await;
    assert_ne!(replacement.metadata.name, upgraded.metadata.name);
    wait::ready(&vms, "during-handover", wait::WAIT).await;
    let hostnames: Vec<String> = sim
        .vms()
        .await
        .iter()
        .filter_map(|vm| vm["hostname"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(hostnames.len(), 5, "{hostnames:?}");
    assert_eq!(
        hostnames.iter().collect::<BTreeSet<_>>().len(),
        5,
        "{hostnames:?}"
    );
    assert_eq!(sim.calls("vm/create").await, 5);

    // Every example converges through the Pod too (their credentials Secret aside: the
    // namespace has its own, for this simulator's account).
    let examples = work.path().join("examples");
    std::fs::create_dir(&examples).unwrap();
    for entry in std::fs::read_dir(support::repo_root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".yaml") && name != "credentials-secret.yaml" {
            std::fs::copy(&path, examples.join(&name)).unwrap();
        }
    }
    let kubectl = |args: &[&str]| {
        run(Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&plane.kubeconfig)
            .args(["--namespace", &namespace])
            .args(args))
    };
    kubectl(&["apply", "-f", examples.to_str().unwrap()]);
    kubectl(&[
        "wait",
        "--for=condition=Ready",
        "lunavm,lunavolume,lunafloatingip,lunanetwork,lunaloadbalancer,lunadnszone,lunasshkey,\
         lunasecuritygroup,lunastartupscript,lunaimage,lunavolumesnapshot,lunadynamicrecord,\
         lunaemaildomain,lunaemailuser,lunaemailalias,lunamonitorcontact,lunamonitorcheck,\
         lunasnapshotschedule",
        "--all",
        "--timeout=300s",
    ]);

    helm(
        &plane.kubeconfig,
        &["uninstall", RELEASE, "--namespace", &namespace, "--wait"],
    );
}
