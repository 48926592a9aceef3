//! Test harness: one real control plane (etcd + kube-apiserver + kube-controller-manager with
//! the garbage collector and the namespace controller, see `tools/testenv/`) per test binary, a
//! fresh `kube::Client` and a fresh namespace per test.
//!
//! The control plane is started by a small watchdog shell in its own session: it runs
//! `tools/testenv/up.sh`, then waits for the test process to exit — normally, by a panic, by
//! Ctrl-C or by SIGKILL — and runs `down.sh`, so no etcd, apiserver or controller manager
//! outlives the tests.
//! Set `LUNANODE_TEST_KUBECONFIG` to use an already running control plane instead.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod processes;
pub mod secrets;
pub mod sim_process;
pub mod wait;
pub mod world;

#[allow(unused_imports)]
pub use wait::eventually;
#[allow(unused_imports)]
pub use world::World;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client, Config,
    api::{ObjectMeta, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};

/// A user that tests may bind to narrower roles (token auth, see `tokens.csv`).
pub const LIMITED_USER: &str = "lunanode-operator";
/// That user's bearer token.
pub const LIMITED_USER_TOKEN: &str = "operator-test-token";

/// A running control plane.
#[derive(Debug)]
pub struct ControlPlane {
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// The folder holding its data, logs and `tokens.csv` (absent for an external one).
    pub dir: Option<PathBuf>,
}

impl ControlPlane {
    /// The apiserver URL, read from the kubeconfig.
    pub fn server(&self) -> String {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        kubeconfig.clusters[0]
            .cluster
            .as_ref()
            .and_then(|c| c.server.clone())
            .expect("server in kubeconfig")
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Starts the control plane for this test binary on first use.
pub fn control_plane() -> &'static ControlPlane {
    static PLANE: OnceLock<ControlPlane> = OnceLock::new();
    PLANE.get_or_init(|| {
        if let Ok(path) = std::env::var("LUNANODE_TEST_KUBECONFIG") {
            return ControlPlane {
                kubeconfig: PathBuf::from(path),
                dir: None,
            };
        }
        start_control_plane(false)
    })
}

/// Starts, on first use, this test binary's control plane with a node (`up.sh --node`: a
/// kubelet with containerd and runc, the scheduler, and the controllers a Deployment needs; see
/// `tools/testenv/node.sh`). A binary uses either this or [`control_plane`], not both.
pub fn node_control_plane() -> &'static ControlPlane {
    static PLANE: OnceLock<ControlPlane> = OnceLock::new();
    PLANE.get_or_init(|| start_control_plane(true))
}

fn start_control_plane(node: bool) -> ControlPlane {
    let dir = tempfile::Builder::new()
        .prefix("lunanode-testenv-")
        .tempdir()
        .expect("temp dir")
        .keep();
    std::fs::write(
        dir.join("tokens.csv"),
        format!("{LIMITED_USER_TOKEN},{LIMITED_USER},{LIMITED_USER}-uid\n"),
    )
    .expect("write tokens.csv");
    let testenv = repo_root().join("tools/testenv");
    // The watchdog: start, then wait until this process is gone, then stop and clean up.
    let script = format!(
        r#"parent={parent}
"{up}" {node} "{dir}" > "{dir}/up.log" 2>&1 || {{ echo failed > "{dir}/up.status.new"; mv "{dir}/up.status.new" "{dir}/up.status"; exit 1; }}
echo ok > "{dir}/up.status.new" && mv "{dir}/up.status.new" "{dir}/up.status"
while kill -0 "$parent" 2>/dev/null; do sleep 0.5; done
"{down}" "{dir}""#,
        parent = std::process::id(),
        up = testenv.join("up.sh").display(),
        node = if node { "--node" } else { "" },
        down = testenv.join("down.sh").display(),
        dir = dir.display(),
    );
    let mut watchdog = Command::new("setsid")
        .arg("bash")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the control-plane watchdog (setsid, bash)");
    // Reap the watchdog when it ends, so that it never lingers as a zombie.
    std::thread::spawn(move || watchdog.wait());
    // A cold build of the binaries can take many minutes; normally they are cached.
    let deadline = Instant::now() + Duration::from_secs(1800);
    let status = dir.join("up.status");
    loop {
        // The status file appears whole (written aside, then renamed); an empty read is still
        // taken as "not yet" rather than as a failure.
        match std::fs::read_to_string(&status).as_deref().map(str::trim) {
            Ok("ok") => break,
            Ok("failed") => {
                let log = std::fs::read_to_string(dir.join("up.log")).unwrap_or_default();
                panic!("the control plane did not start:\n{log}");
            }
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the control plane did not start in time"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    ControlPlane {
        kubeconfig: dir.join("kubeconfig"),
        dir: Some(dir),
    }
}

/// A client for the control plane, authenticated as the admin.
pub async fn client() -> Client {
    client_for(&control_plane().kubeconfig).await
}

/// A client from a kubeconfig file.
pub async fn client_for(kubeconfig: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    Client::try_from(config).expect("client")
}

/// Creates a fresh namespace named after the test. Each test gets a unique one and need not
/// delete it (the control plane goes away with the test binary); deleting one works, since the
/// namespace controller runs.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let name = format!(
        "{}-{}",
        prefix.to_lowercase().replace('_', "-"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .await
        .expect("create namespace");
    name
}

/// Installs (server-side apply) every CRD of the operator and waits until each is established.
/// `LUNANODE_TEST_CRDS_DIR` installs the CRD files of that folder instead (those of an older
/// build, with `LUNANODE_OPERATOR_BINARY`).
pub async fn install_crds(client: &Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let wanted: Vec<CustomResourceDefinition> = match std::env::var("LUNANODE_TEST_CRDS_DIR") {
        Ok(dir) => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .expect("read LUNANODE_TEST_CRDS_DIR")
                .map(|entry| entry.expect("CRD file").path())
                .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
                .collect();
            files.sort();
            files
                .iter()
                .map(|path| {
                    serde_norway::from_str(&std::fs::read_to_string(path).expect("read CRD"))
                        .expect("parse CRD")
                })
                .collect()
        }
        Err(_) => lunanode_operator::api::crdgen::all(),
    };
    for crd in wanted {
        apply_crd(client, &crd, "tests").await;
    }
}

/// Applies one CRD (server-side apply as `manager`) and waits until it is established. The CRD
/// is a typed one or, for a CRD file to apply exactly as written, its JSON.
pub async fn apply_crd(
    client: &Client,
    crd: &(impl serde::Serialize + std::fmt::Debug),
    manager: &str,
) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::{
        api::{Patch, PatchParams},
        runtime::{conditions, wait::await_condition},
    };
    let name = serde_json::to_value(crd)
        .ok()
        .and_then(|crd| crd["metadata"]["name"].as_str().map(str::to_owned))
        .expect("a CRD with metadata.name");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        &name,
        &PatchParams::apply(manager).force(),
        &Patch::Apply(crd),
    )
    .await
    .unwrap_or_else(|error| panic!("the apiserver refused CRD {name}: {error}"));
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(crds, &name, conditions::is_crd_established()),
    )
    .await
    .expect("CRD established in time")
    .expect("watch CRD");
}

/// The public IP a LunaVM's status reports; panics (a test failure) when it has none yet.
pub fn public_ip(vm: &lunanode_operator::api::vm::LunaVM) -> String {
    vm.status
        .as_ref()
        .and_then(|status| status.at_provider.as_ref())
        .and_then(|at| at.networking.ip.clone())
        .unwrap_or_else(|| panic!("LunaVM {:?} reports no public IP", vm.metadata.name))
}

/// Asserts that the API server refused a write as invalid (422) with `needle` in its message.
#[track_caller]
pub fn assert_rejected<T>(result: Result<T, kube::Error>, needle: &str) {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status.message.contains(needle),
                "expected {needle:?} in: {}",
                status.message
            );
        }
        Err(other) => panic!("expected a validation error ({needle}), got {other}"),
        Ok(_) => panic!("expected a validation error ({needle}), but it was accepted"),
    }
}

/// Creates a credentials Secret (`api_id`, `api_key`) named `name` in `namespace`.
pub async fn credentials_secret(client: &Client, namespace: &str, name: &str, id: &str, key: &str) {
    use k8s_openapi::{ByteString, api::core::v1::Secret};
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        data: Some(
            [
                ("api_id".to_owned(), ByteString(id.as_bytes().to_vec())),
                ("api_key".to_owned(), ByteString(key.as_bytes().to_vec())),
            ]
            .into(),
        ),
        ..Secret::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the credentials secret");
}

/// The helm binary: on PATH, or where the test command builds it.
pub fn helm() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("helm"))
        .find(|candidate| candidate.is_file());
    let cached = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/lunanode-operator/bin/helm"))
        .filter(|candidate| candidate.is_file());
    on_path.or(cached).unwrap_or_else(|| {
        panic!(
            "helm is not installed. Run .ci/run, or install it from the Go module proxy:\n  \
             GOBIN=\"$HOME/.cache/lunanode-operator/bin\" go install \
             helm.sh/helm/v3/cmd/helm@v3.22.0"
        )
    })
}

/// An untyped API for one of the kinds (or Secrets) in `namespace`, by kind name: for objects
/// written as raw JSON, the way a manifest reaches the apiserver.
#[allow(dead_code)]
pub fn dynamic(
    client: &kube::Client,
    namespace: &str,
    kind: &str,
) -> kube::Api<kube::api::DynamicObject> {
    let resource = if kind == "Secret" {
        kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&())
    } else {
        lunanode_operator::api::kinds::api_resources()
            .into_iter()
            .find(|resource| resource.kind == kind)
            .unwrap_or_else(|| panic!("no API for kind {kind}"))
    };
    kube::Api::namespaced_with(client.clone(), namespace, &resource)
}
