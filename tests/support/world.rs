//! One end-to-end test's world: the CRDs installed, a fresh namespace, a simulator process with
//! a test account, that account's credentials Secret, and an operator process watching the
//! namespace. Dropping it kills both processes (the namespace goes with the control plane).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::{NamespaceResourceScope, api::events::v1::Event};
use kube::{
    Api, Client, Resource,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use lunanode_operator::api::common::Condition;
use serde_json::{Value, json};

use super::{
    processes::{Operator, Simulator, cloud_client, test_account},
    wait::{self, Object},
};

/// The credentials Secret every world creates, unless told otherwise.
pub const CREDENTIALS: &str = "lunanode-credentials";

/// How a [`World`] is set up; start it with [`Setup::start`].
#[must_use]
pub struct Setup {
    prefix: String,
    tag: char,
    sim_args: Vec<String>,
    operator_args: Vec<String>,
    watch_namespace: bool,
    operator: bool,
    credentials: String,
    wait: Duration,
}

impl Setup {
    /// Simulator arguments (`--build-seconds 2` unless they set it).
    pub fn sim_args(mut self, args: &[&str]) -> Self {
        self.sim_args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// A second account on the simulator.
    pub fn second_account(self, account: &(String, String)) -> Self {
        self.sim_args(&["--api-id", &account.0, "--api-key", &account.1])
    }

    /// Operator arguments after `--namespace NS`.
    pub fn operator_args(mut self, args: &[&str]) -> Self {
        self.operator_args
            .extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// The operator watches every namespace (no `--namespace`).
    pub fn all_namespaces(mut self) -> Self {
        self.watch_namespace = false;
        self
    }

    /// No operator: the test starts its own with [`World::start_operator`].
    pub fn without_operator(mut self) -> Self {
        self.operator = false;
        self
    }

    /// The credentials Secret's name (default [`CREDENTIALS`]).
    pub fn credentials(mut self, name: &str) -> Self {
        self.credentials = name.to_owned();
        self
    }

    /// How long [`World::ready`] and the other waits wait (default [`wait::WAIT`]).
    pub fn wait(mut self, timeout: Duration) -> Self {
        self.wait = timeout;
        self
    }

    /// Installs the CRDs, creates the namespace `PREFIX-TAG-…`, starts the simulator with the
    /// account of `tag`, creates the credentials Secret and starts the operator.
    pub async fn start(self) -> World {
        let client = super::client().await;
        super::install_crds(&client).await;
        let ns = super::namespace(&client, &format!("{}-{}", self.prefix, self.tag)).await;
        let account = test_account(self.tag);
        let mut sim_args: Vec<&str> = self.sim_args.iter().map(String::as_str).collect();
        if !sim_args.contains(&"--build-seconds") {
            sim_args.extend(["--build-seconds", "2"]);
        }
        let sim = Simulator::start(&account, &sim_args);
        super::credentials_secret(&client, &ns, &self.credentials, &account.0, &account.1).await;
        let mut world = World {
            client,
            ns,
            account,
            sim,
            operator: None,
            wait: self.wait,
            watch_namespace: self.watch_namespace,
        };
        if self.operator {
            let args: Vec<&str> = self.operator_args.iter().map(String::as_str).collect();
            world.operator = Some(world.start_operator(&args));
        }
        world
    }
}

/// One test's world. See the module documentation.
pub struct World {
    /// An admin client of the control plane.
    pub client: Client,
    /// The test's namespace.
    pub ns: String,
    /// The simulator account (`api_id`, `api_key`) in the credentials Secret.
    pub account: (String, String),
    /// The simulator process.
    pub sim: Simulator,
    operator: Option<Operator>,
    /// How long the waits wait.
    pub wait: Duration,
    watch_namespace: bool,
}

impl World {
    /// The default setup for the test account `tag`, in a namespace named after `prefix`.
    pub fn setup(prefix: &str, tag: char) -> Setup {
        Setup {
            prefix: prefix.to_owned(),
            tag,
            sim_args: Vec::new(),
            operator_args: Vec::new(),
            watch_namespace: true,
            operator: true,
            credentials: CREDENTIALS.to_owned(),
            wait: wait::WAIT,
        }
    }

    /// A world with every default.
    pub async fn start(prefix: &str, tag: char) -> Self {
        Self::setup(prefix, tag).start().await
    }

    /// The operator started with the world.
    pub fn operator(&self) -> &Operator {
        self.operator.as_ref().expect("a world with an operator")
    }

    /// The same, to kill or restart it.
    pub fn operator_mut(&mut self) -> &mut Operator {
        self.operator.as_mut().expect("a world with an operator")
    }

    /// Starts another operator process against the simulator, as the admin, with
    /// `--namespace NS` (unless the world watches every namespace) and `extra`.
    pub fn start_operator(&self, extra: &[&str]) -> Operator {
        self.start_operator_as(&super::control_plane().kubeconfig, extra)
    }

    /// The same with another kubeconfig.
    pub fn start_operator_as(&self, kubeconfig: &std::path::Path, extra: &[&str]) -> Operator {
        let mut args: Vec<&str> = Vec::new();
        if self.watch_namespace {
            args.extend(["--namespace", self.ns.as_str()]);
        }
        args.extend_from_slice(extra);
        Operator::start(kubeconfig, &self.sim.endpoint(), &args)
    }

    /// An API of kind `K` in the test's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// A Luna Node client of the world's account on the simulator (no rate limit), for objects
    /// made outside the operator and for reading what the account holds.
    pub fn cloud(&self) -> lunanode_operator::lunanode::Client {
        cloud_client(&self.sim.endpoint(), &self.account)
    }

    /// Another credentials Secret `name` for the world's account.
    pub async fn credentials_secret(&self, name: &str) {
        super::credentials_secret(
            &self.client,
            &self.ns,
            name,
            &self.account.0,
            &self.account.1,
        )
        .await;
    }

    /// Creates `object` in the namespace.
    pub async fn create<K>(&self, object: &K) -> K
    where
        K: Object + Resource<Scope = NamespaceResourceScope>,
    {
        self.api::<K>()
            .create(&PostParams::default(), object)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "create {} {}: {error}",
                    K::kind(&()),
                    object.meta().name.as_deref().unwrap_or("?")
                )
            })
    }

    /// Deletes `name`.
    pub async fn delete<K>(&self, name: &str)
    where
        K: Object + Resource<Scope = NamespaceResourceScope>,
    {
        self.api::<K>()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|error| panic!("delete {} {name}: {error}", K::kind(&())));
    }

    /// Merges `spec` into the spec of `name`.
    pub async fn patch_spec<K>(&self, name: &str, spec: Value) -> K
    where
        K: Object + Resource<Scope = NamespaceResourceScope>,
    {
        self.api::<K>()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .unwrap_or_else(|error| panic!("patch {} {name}: {error}", K::kind(&())))
    }

    /// Waits until `check` holds on `name`.
    pub async fn until<K>(&self, name: &str, what: &str, check: impl FnMut(&K) -> bool) -> K
    where
        K: Object + Resource<Scope = NamespaceResourceScope>,
    {
        wait::until(&self.api::<K>(), name, what, self.wait, check).await
    }

    /// Waits until `name` is Ready for its current generation.
    pub async fn ready<K>(&self, name: &str) -> K
    where
        K: Object + Resource<Scope = NamespaceResourceScope>,
    {
        wait::ready(&self.api::<K>(), name, self.wait).await
    }

    /// Waits until `name` has a condition matching `check`, and returns it.
    pub async fn condition<K>(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&Condition) -> bool,
    ) -> Condition
    where
        K: Object + Resource<Scope = NamespaceResourceScope>,
    {
        wait::condition_where(&self.api::<K>(), name, what, self.wait, check).await
    }

    /// Proof that the operator looked at `name` again with nothing in its spec changed, for a
    /// "nothing happened" check: sets the annotation `test.example/poke` to `poke` and waits
    /// until the kind's reconcile counter moves. Call it twice for two more looks.
    pub async fn looked_again<K>(&self, name: &str, poke: &str)
    where
        K: Object + Resource<Scope = NamespaceResourceScope>,
    {
        let series = format!(
            "lunanode_reconciles_total{{kind=\"{}\",outcome=\"ok\"}}",
            K::kind(&())
        );
        let operator = self.operator();
        let before = operator.metric(&series).await.unwrap_or_default();
        self.api::<K>()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"test.example/poke": poke}}})),
            )
            .await
            .unwrap_or_else(|error| panic!("annotate {} {name}: {error}", K::kind(&())));
        let series = &series;
        super::eventually(self.wait, "a reconcile after the annotation", || async move {
            (operator.metric(series).await.unwrap_or_default() > before).then_some(())
        })
        .await;
    }

    /// Creates `object` while every answer of `action` is dropped (the action carried out, then
    /// the connection closed), waits until `action` was called `attempts` times in all, crashes
    /// the operator, and lets the API behave again: a lost create answer and a crash.
    pub async fn create_losing_answers<K>(&mut self, object: &K, action: &str, attempts: u64)
    where
        K: Object + Resource<Scope = NamespaceResourceScope>,
    {
        self.sim
            .admin_post(
                "faults",
                json!({"drop_after_commit_rate": 1.0, "actions": [action]}),
            )
            .await;
        self.create(object).await;
        let sim = &self.sim;
        super::eventually(self.wait, "a create attempt", || async move {
            (sim.calls(action).await >= attempts).then_some(())
        })
        .await;
        self.operator_mut().restart();
        self.sim.admin_post("faults", json!({})).await;
    }

    /// Waits until `name` is gone.
    pub async fn gone<K>(&self, name: &str)
    where
        K: Object + Resource<Scope = NamespaceResourceScope>,
    {
        wait::gone(&self.api::<K>(), name, self.wait).await;
    }

    /// Waits until an Event about `name` in the namespace matches `check`, and returns it.
    pub async fn event(&self, name: &str, what: &str, check: impl Fn(&Event) -> bool) -> Event {
        wait::event(&self.api(), name, what, self.wait, check).await
    }

    /// The reasons of the Events about `name`, oldest first.
    pub async fn event_reasons(&self, name: &str) -> Vec<String> {
        wait::events_about(&self.api(), name)
            .await
            .into_iter()
            .filter_map(|event| event.reason)
            .collect()
    }
}
