//! `lunanode-operator plan`: what applying manifests would do to the cloud, before it is done.
//!
//! The plan runs the controllers' own code on each object — the kind's create plan, its
//! adoption decision, its create call and its `sync` with the decision functions under it —
//! with two differences: its Luna Node client sends reads only and records every write instead
//! of sending it ([`Client::planning`]), and its Kubernetes client sends reads only (a write
//! is recorded and refused; Events go nowhere). So a plan lists the calls the operator would
//! make, and can make none of them.
//!
//! The objects are the manifests over the cluster's objects: with a cluster (the default), an
//! object that exists there keeps its metadata and status (its identity, its recorded account,
//! its applied plan) and takes the manifest's spec, as `kubectl apply` would; the other
//! objects of the kinds in the manifests' namespaces are loaded too, so that references
//! resolve as the operator resolves them. With `--offline`, the manifests alone: identity by
//! the ownership rules (`spec.import.id`, or the adoption policy's match by name), the
//! objects found in a first pass standing as Ready for the references of the second.
//!
//! The calls are the next reconcile's: the operator makes one write per reconcile and looks
//! again, so a change that takes several steps (detach, then attach) shows its first, and an
//! object waiting for another one made by the same apply says what it waits for. Every object
//! is planned with the account of `LUNANODE_API_ID`/`LUNANODE_API_KEY`. The manifests are read
//! into the kinds' Rust types; the schema's CEL rules are the API server's to check.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Read as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use clap::Args;
use futures::future::BoxFuture;
use k8s_openapi::jiff::Timestamp;
use kube::{Api, ResourceExt, runtime::events::Reporter};
use serde_json::Value;

use super::{
    Context, OperatorConfig,
    accounts::{Account, Accounts},
    caches::ListCaches,
    error::Error,
    list_cache::CacheTiming,
    managed::{
        CloudCx, Cx, External, Reconciler, SyncCx, cloud,
        external::{find, matching, standing_failure},
        mark,
        ownership::{self, AccountCheck, Fresh, Identity},
        refused_at_generation,
        scope::Scope,
    },
    reason::{Progress, Reason},
};
use crate::{
    api::common::{
        ManagedResource, ManagedStatus, ManagementPolicy, READY, SYNCED, find_condition,
        is_condition_true,
    },
    lunanode::{Client, ClientConfig, Planned, PlannedCall, cli::Connection},
    telemetry::metrics::Metrics,
};

/// Arguments of `lunanode-operator plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Where and how to call the API (reads only).
    #[command(flatten)]
    pub connection: Connection,
    /// Manifest files or folders (their `.yaml`, `.yml` and `.json` files), `-` for standard
    /// input (`kustomize build | lunanode-operator plan -f -`).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// The namespace of manifests that name none.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Plan from the manifests and the cloud alone, without reading the cluster's objects.
    #[arg(long)]
    pub offline: bool,
    /// Exit 0 when nothing would change, 2 when a create, an update or a delete would be made,
    /// 1 when an object would be refused or could not be planned (without it: 0 unless refused
    /// or failed).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also plan the deletion of the cluster's lunanode.com objects in the manifests'
    /// namespaces that the manifests leave out, as `kubectl apply --prune` would delete them:
    /// those an apply made (`last-applied-configuration`), not controlled by another object,
    /// with the labels of `--selector` if given.
    #[arg(long, conflicts_with = "offline")]
    pub prune: bool,
    /// With `--prune`: only objects with these labels (`key=value,key2=value2`).
    #[arg(short = 'l', long, requires = "prune")]
    pub selector: Option<String>,
    /// The operator's `--max-monthly-cost`, to see its budget refusals (`BudgetExceeded`).
    #[arg(long, env = "LUNANODE_MAX_MONTHLY_COST")]
    pub max_monthly_cost: Option<f64>,
}

/// What the next reconciles of an object would do, besides the calls recorded meanwhile.
#[derive(Debug, Clone, PartialEq)]
pub enum Preview {
    /// The kind holds no cloud object of its own (a schedule makes objects of other kinds).
    NoCloudObject,
    /// A create (the recorded call), or a re-create of `gone`, confirmed deleted outside.
    Create {
        /// The cloud object the status names, gone from the account.
        gone: Option<String>,
        /// The create's error, which tells why no call was recorded if none was.
        error: Option<String>,
    },
    /// The cloud object `id` exists (adopted first when `adopted` says how); its sync ran and
    /// left its conditions in the status.
    Observed {
        /// Its ID.
        id: String,
        /// `spec.import.id` or `AdoptIfUnique`, when the object does not hold it yet.
        adopted: Option<&'static str>,
        /// The sync's error, if it failed otherwise than on a write not sent.
        error: Option<String>,
    },
    /// Nothing is done until something else happens.
    Waits(Reason, String),
    /// Nothing is done until the manifest changes.
    Refused(Reason, String),
    /// The object is deleted (a prune): its cloud object `id` with the recorded call, kept
    /// (`deletionPolicy: Orphan`), already gone, or none held.
    Delete {
        /// The cloud object it holds.
        id: Option<String>,
        /// What happens to it, when no call is made.
        without_call: Option<&'static str>,
    },
}

/// The steps of [`super::managed::cleanup_external`] that decide, with the plan's account
/// instead of the credentials Secret's: the deletion policy, the holders a deletion waits
/// for, and the kind's delete call (recorded, not sent).
pub async fn preview_delete<K: External>(
    object: &K,
    cx: &CloudCx<'_, K>,
) -> Result<Preview, Error> {
    let id = object
        .status_id()
        .map(str::to_owned)
        .or(Identity::of(object).external_id);
    let delete = |id, without_call| Ok(Preview::Delete { id, without_call });
    if object.deletion_policy() == crate::api::common::DeletionPolicy::Orphan
        || object.management_policy() == ManagementPolicy::ObserveOnly
    {
        return delete(
            id,
            Some("kept in the account: deletionPolicy Orphan or ObserveOnly"),
        );
    }
    let Some(id) = id else {
        return delete(None, Some("it holds no cloud object"));
    };
    let holders = object.holders(cx.ctx).await?;
    if !holders.is_empty() {
        return Ok(Preview::Waits(
            Reason::InUse,
            format!("deletion waits: in use by {}", holders.join(", ")),
        ));
    }
    let cache = object.cache(cx.account);
    let snapshot = cache
        .get(cx.ctx.accounts.timing().fast_interval)
        .await
        .map_err(|source| cloud("list", &cx.object, source))?;
    let found = find(object, &cache, &snapshot, &id, cx.account, Duration::ZERO)
        .await
        .map_err(|source| cloud("read", &cx.object, source))?;
    let Some(observed) = found else {
        return delete(Some(id), Some("already gone from the account"));
    };
    // The call is recorded; its refusal is the planning client's.
    let _ = object.delete(&observed, cx).await;
    delete(Some(id), None)
}

/// The steps of [`super::managed::apply_external`] and [`super::managed::create::find_or_create`]
/// that decide, without their writes: identity, adoption, create plan and call, observe, sync.
pub async fn preview_external<K: External>(
    object: &K,
    status: &mut K::Status,
    cx: &CloudCx<'_, K>,
) -> Result<Preview, Error> {
    let cache = object.cache(cx.account);
    let identity = Identity::of(object);
    let api_id = &cx.account.api_id;
    let mut held = status.id().map(str::to_owned).or(identity.external_id);
    match ownership::check_account(
        identity.account.as_deref(),
        api_id,
        object.import_id(),
        held.as_deref(),
    ) {
        AccountCheck::Fits => {}
        AccountCheck::Changed { recorded } => {
            return Ok(Preview::Refused(
                Reason::AccountChanged,
                format!(
                    "the object's cloud object is in account {recorded}, the plan's credentials are for {api_id}"
                ),
            ));
        }
        // The user adopts an object of the new account: the old identity goes.
        AccountCheck::Reimport => {
            held = None;
            status.set_id(None);
        }
    }
    let list_error = |source| cloud("list", &cx.object, source);
    let timing = cx.ctx.accounts.timing();
    let (id, adopted) = match held {
        Some(id) => (id, None),
        None => match identify(object, status, cx).await? {
            Identified::Id(id, how) => {
                status.set_id(Some(id.clone()));
                object.created(status, None, cx.account);
                (id, Some(how))
            }
            Identified::Not(preview) => return Ok(preview),
        },
    };
    let snapshot = cache.get(timing.fast_interval).await.map_err(list_error)?;
    let found = find(object, &cache, &snapshot, &id, cx.account, Duration::ZERO)
        .await
        .map_err(|source| cloud("read", &cx.object, source))?;
    let Some(observed) = found else {
        if object.management_policy() == ManagementPolicy::ObserveOnly {
            return Ok(Preview::Waits(
                Reason::NotFound,
                format!("{id} no longer exists"),
            ));
        }
        status.set_id(None);
        object.forget_observed(status);
        return Ok(match create(object, status, cx).await? {
            Preview::Create { error, .. } => Preview::Create {
                gone: Some(id),
                error,
            },
            other => other,
        });
    };
    let observed = object.refine(observed, cx).await?;
    object.report(status, &observed);
    if object.management_policy() == ManagementPolicy::ObserveOnly {
        mark(status, object).ready(Reason::Observed, "observed");
        return Ok(Preview::Observed {
            id,
            adopted,
            error: None,
        });
    }
    // A first pass only finds identities, for the references of the second: no sync.
    if IDENTIFYING
        .try_with(|identifying| *identifying)
        .unwrap_or(false)
    {
        mark(status, object).ready(Reason::Available, "found by the plan");
        return Ok(Preview::Observed {
            id,
            adopted,
            error: None,
        });
    }
    // As the standard steps: a refusal that stands for this generation stays, and the sync
    // makes no call for it.
    if standing_failure(status, object).is_none() {
        mark(status, object).synced(Reason::ReconcileSuccess, "the last reconcile succeeded");
    }
    let error = object
        .sync(SyncCx(&mut *status, &observed, cx))
        .await
        .err()
        .map(|error| error.to_string());
    if let Some((reason, message)) = standing_failure(status, object) {
        if reason != Reason::UpdateNotApplied || !is_condition_true(status.conditions(), READY) {
            mark(status, object).not_ready(reason, &message);
        }
    }
    Ok(Preview::Observed { id, adopted, error })
}

tokio::task_local! {
    /// Set in the first pass, which looks for identities only.
    static IDENTIFYING: bool;
}

enum Identified {
    /// Held, adopted by `spec.import.id` or by the adoption policy.
    Id(String, &'static str),
    /// Not held: what the operator would do instead.
    Not(Preview),
}

/// The cloud object an object without a recorded ID would take, or the create it would make.
async fn identify<K: External>(
    object: &K,
    status: &mut K::Status,
    cx: &CloudCx<'_, K>,
) -> Result<Identified, Error> {
    let Some(import_id) = object.import_id() else {
        return create(object, status, cx)
            .await
            .map(|preview| match preview {
                Preview::Observed { id, .. } => Identified::Id(id, "AdoptIfUnique"),
                other => Identified::Not(other),
            });
    };
    // One cloud object has one manager.
    let uid = object.uid().unwrap_or_default();
    let claims = cx.claims();
    if let Some(other) = ownership::claimed_by(&claims, import_id, &cx.account.api_id, &uid) {
        return Ok(Identified::Not(Preview::Refused(
            Reason::AlreadyManaged,
            format!(
                "{import_id} is already managed by {} {}: one cloud object has one manager",
                K::KIND,
                other.object
            ),
        )));
    }
    let cache = object.cache(cx.account);
    let snapshot = cache
        .get(cx.ctx.accounts.timing().fast_interval)
        .await
        .map_err(|source| cloud("list", &cx.object, source))?;
    let found = find(
        object,
        &cache,
        &snapshot,
        import_id,
        cx.account,
        Duration::ZERO,
    )
    .await
    .map_err(|source| cloud("read", &cx.object, source))?;
    Ok(match found {
        Some(_) => Identified::Id(import_id.to_owned(), "spec.import.id"),
        None => Identified::Not(Preview::Refused(
            Reason::ImportNotFound,
            format!("{import_id} named by spec.import.id does not exist on the account"),
        )),
    })
}

/// A create: the kind's plan (or why it waits), the adoption policy's decision on the objects
/// of the name, and the create call (recorded, not sent). An adoption comes back as
/// [`Preview::Observed`] with the ID.
async fn create<K: External>(
    object: &K,
    status: &mut K::Status,
    cx: &CloudCx<'_, K>,
) -> Result<Preview, Error> {
    if object.management_policy() == ManagementPolicy::ObserveOnly {
        return Ok(Preview::Refused(
            Reason::NothingToObserve,
            "ObserveOnly needs spec.import.id: the operator never creates in this mode".into(),
        ));
    }
    // The API refused a create for this very spec: the operator waits for a change.
    if refused_at_generation(status, object, Reason::CreateFailed) {
        let message = find_condition(status.conditions(), SYNCED)
            .map(|synced| synced.message.clone())
            .unwrap_or_default();
        return Ok(Preview::Refused(Reason::CreateFailed, message));
    }
    let plan = match object.plan(cx).await? {
        Ok(plan) => plan,
        // A block on a reason that stops until the manifest changes is a refusal; one that
        // the operator gets past by itself (a reference made by the same apply) a wait.
        Err(blocked) if blocked.waiting || blocked.reason.progress() != Progress::Stalled => {
            return Ok(Preview::Waits(blocked.reason, blocked.message));
        }
        Err(blocked) => return Ok(Preview::Refused(blocked.reason, blocked.message)),
    };
    let cache = object.cache(cx.account);
    let snapshot = cache
        .get(cx.ctx.accounts.timing().fast_interval)
        .await
        .map_err(|source| cloud("list", &cx.object, source))?;
    let name = object.create_name_for(&plan);
    if object.has_natural_key() {
        let preexisting = matching(object, &snapshot, &name);
        let uid = object.uid().unwrap_or_default();
        match ownership::decide_fresh(
            object.adoption_policy(),
            K::KIND,
            &name,
            &preexisting,
            &cx.claims(),
            &cx.account.api_id,
            &uid,
        ) {
            Fresh::Create => {}
            Fresh::Adopt(id) => {
                return Ok(Preview::Observed {
                    id,
                    adopted: Some("AdoptIfUnique"),
                    error: None,
                });
            }
            Fresh::Wait(message) => return Ok(Preview::Waits(Reason::WaitingForName, message)),
            Fresh::Stop(reason, message) => return Ok(Preview::Refused(reason, message)),
        }
    }
    // A planning client sends no write: the call is recorded and answered with a refusal. An
    // error before it (a read the create needs) is kept for the report.
    let error = object.create(&plan, cx.client()).await.err();
    mark(status, object).not_ready(Reason::Creating, "to be created");
    Ok(Preview::Create {
        gone: None,
        error: error.map(|error| error.to_string()),
    })
}

/// The Kubernetes writes a plan's reconciles asked for (refused, never sent).
type ClusterWrites = Arc<Mutex<Vec<String>>>;

/// What every object's look shares.
struct Run {
    ctx: Arc<Context>,
    account: Arc<Account>,
    planned: Arc<Planned>,
    cluster_writes: ClusterWrites,
}

/// How an object's plan ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Create,
    Update,
    Delete,
    InSync,
    Waits,
    Refused,
    Failed,
    NoCloudObject,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::InSync => "in sync",
            Self::Waits => "waits",
            Self::Refused => "refused",
            Self::Failed => "failed",
            Self::NoCloudObject => "no cloud call of its own",
        }
    }
}

/// One object's plan, as printed.
struct Line {
    order: usize,
    object: String,
    verdict: Verdict,
    detail: Option<String>,
    adopted: bool,
    calls: Vec<PlannedCall>,
    cluster: Vec<String>,
    /// What the object's cloud object costs now, in USD a month, as its status shows it.
    cost_before: Option<f64>,
    /// How much more (or less) it would cost a month after the calls, when they change a price.
    cost_change: Option<f64>,
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.object, self.verdict.word())?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        for call in &self.calls {
            write!(f, "\n    {call}")?;
        }
        for write in &self.cluster {
            write!(f, "\n    (cluster) {write}")?;
        }
        if let Some(change) = self.cost_change {
            write!(f, "\n    cost: {} a month", dollars(change))?;
        }
        Ok(())
    }
}

/// One manifest's object.
struct Entry<K> {
    /// Its order among all manifests.
    order: usize,
    object: K,
    /// How a first pass found its cloud object (`spec.import.id`, `AdoptIfUnique`), which it
    /// does not hold yet.
    adopted: Option<&'static str>,
}

/// The manifests of one kind, over the cluster's objects of the kind.
struct KindSet<K> {
    /// The manifests' objects.
    planned: Vec<Entry<K>>,
    /// The cluster's other objects of the kind (in the manifests' namespaces).
    others: Vec<K>,
    /// The objects a prune deletes: those of `others` the selector takes.
    pruned: Vec<K>,
}

/// A [`KindSet`] of any kind.
trait Set: Send + Sync {
    /// Loads the kind's object cache with the set's objects.
    fn publish(&self, ctx: &Context);
    /// Looks at the objects without a cloud ID and records what they would hold (so that the
    /// references to them resolve); how many took one.
    fn identify<'a>(&'a mut self, run: &'a Run) -> BoxFuture<'a, usize>;
    /// Plans every object of the manifests.
    fn plan<'a>(&'a self, run: &'a Run) -> BoxFuture<'a, Vec<Line>>;
}

impl<K: Reconciler> Set for KindSet<K> {
    fn publish(&self, ctx: &Context) {
        let objects = self.planned.iter().map(|entry| &entry.object);
        ctx.registry
            .load::<K>(objects.chain(&self.others).cloned().collect::<Vec<_>>());
    }

    fn identify<'a>(&'a mut self, run: &'a Run) -> BoxFuture<'a, usize> {
        Box::pin(async move {
            let mut identified = 0;
            for entry in &mut self.planned {
                if entry.object.status_id().is_some() {
                    continue;
                }
                let Looked {
                    preview, status, ..
                } = IDENTIFYING
                    .scope(true, look(&entry.object, run, Look::Apply))
                    .await;
                if let Ok(Preview::Observed { adopted, .. }) = preview {
                    if let Some(updated) = with_status(&entry.object, &status) {
                        entry.object = updated;
                        entry.adopted = adopted;
                        identified += 1;
                    }
                }
            }
            identified
        })
    }

    fn plan<'a>(&'a self, run: &'a Run) -> BoxFuture<'a, Vec<Line>> {
        Box::pin(async move {
            let mut lines = Vec::new();
            for Entry {
                order,
                object,
                adopted,
            } in &self.planned
            {
                let Looked {
                    mut preview,
                    status,
                    calls,
                    cluster,
                } = look(object, run, Look::Apply).await;
                if let (Ok(Preview::Observed { adopted: now, .. }), Some(first)) =
                    (&mut preview, adopted)
                {
                    now.get_or_insert(first);
                }
                let (verdict, detail, adopted) =
                    judge::<K>(preview, &status, &calls, !cluster.is_empty());
                lines.push(Line {
                    order: *order,
                    object: format!(
                        "{} {}/{}",
                        K::KIND,
                        object.namespace().unwrap_or_default(),
                        object.name_any()
                    ),
                    verdict,
                    detail,
                    adopted,
                    calls,
                    cluster,
                    cost_before: object.monthly_cost(),
                    cost_change: None,
                });
            }
            for object in &self.pruned {
                let Looked {
                    preview,
                    status,
                    calls,
                    cluster,
                } = look(object, run, Look::Delete).await;
                let namespace = object.namespace().unwrap_or_default();
                let (verdict, detail, _) =
                    judge::<K>(preview, &status, &calls, !cluster.is_empty());
                // A VM deleted stops costing; one kept goes on.
                let saved = object.monthly_cost().filter(|_| !calls.is_empty());
                lines.push(Line {
                    order: usize::MAX,
                    object: format!("{} {namespace}/{}", K::KIND, object.name_any()),
                    verdict,
                    detail,
                    adopted: false,
                    calls,
                    cluster,
                    cost_before: object.monthly_cost(),
                    cost_change: saved.map(|cost| -cost),
                });
            }
            lines
        })
    }
}

/// Which of the kind's previews [`look`] runs.
#[derive(Debug, Clone, Copy)]
enum Look {
    /// What applying the object does.
    Apply,
    /// What deleting it does (a prune).
    Delete,
}

/// What [`look`] found: the preview, the status it left, and the cloud calls and cluster
/// writes recorded meanwhile.
struct Looked<S> {
    preview: Result<Preview, Error>,
    status: S,
    calls: Vec<PlannedCall>,
    cluster: Vec<String>,
}

/// Runs the kind's preview of `object` (`look`), with the records of calls and cluster writes
/// started afresh for it.
async fn look<K: Reconciler>(object: &K, run: &Run, look: Look) -> Looked<K::Status> {
    run.planned.take();
    lock(&run.cluster_writes).clear();
    let (preview, status) = preview(object, run, look).await;
    Looked {
        preview,
        status,
        calls: run.planned.take(),
        cluster: std::mem::take(&mut *lock(&run.cluster_writes)),
    }
}

/// The kind's preview of `object`: what it decided, and the status it left. A paused object
/// gets nothing done, a deletion included (its finalizer waits for the pause to end).
async fn preview<K: Reconciler>(
    object: &K,
    run: &Run,
    look: Look,
) -> (Result<Preview, Error>, K::Status) {
    let namespace = object.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(run.ctx.kube.clone(), &namespace);
    let cx = Cx::detached(&run.ctx, &api, object);
    let cloud = CloudCx {
        cx: &cx,
        account: &run.account,
    };
    let mut status = object.managed_status().cloned().unwrap_or_default();
    if object.is_paused() {
        let message = "paused: the operator does nothing until the annotation goes".to_owned();
        return (Ok(Preview::Waits(Reason::ReconcilePaused, message)), status);
    }
    let preview = match look {
        Look::Apply => K::preview(object, &mut status, &cloud).await,
        Look::Delete => K::preview_delete(object, &cloud).await,
    };
    (preview, status)
}

/// The verdict on an object from its preview, the status it left, the calls it recorded and
/// whether it asked for a cluster write (a connection Secret: the write, refused, is the
/// change, not a failure): the verdict, what to add, and whether it adopts.
fn judge<K: ManagedResource>(
    preview: Result<Preview, Error>,
    status: &K::Status,
    calls: &[PlannedCall],
    cluster_writes: bool,
) -> (Verdict, Option<String>, bool) {
    let condition = |type_: &str| {
        find_condition(status.conditions(), type_)
            .map(|condition| format!("{}: {}", condition.reason, condition.message))
    };
    match preview {
        Err(error) => (Verdict::Failed, Some(error.to_string()), false),
        Ok(Preview::NoCloudObject) => (Verdict::NoCloudObject, None, false),
        Ok(Preview::Delete { id, without_call }) => {
            let detail = match (id, without_call) {
                (Some(id), Some(what)) => format!("{id}: {what}"),
                (None, Some(what)) => what.to_owned(),
                (Some(id), None) if calls.is_empty() => format!("{id}: no delete call was made"),
                (id, None) => id.unwrap_or_default(),
            };
            (Verdict::Delete, Some(detail), false)
        }
        Ok(Preview::Waits(reason, message)) => {
            (Verdict::Waits, Some(format!("{reason}: {message}")), false)
        }
        Ok(Preview::Refused(reason, message)) => (
            Verdict::Refused,
            Some(format!("{reason}: {message}")),
            false,
        ),
        Ok(Preview::Create { gone, error }) => match (calls.is_empty(), gone) {
            (true, _) => (
                Verdict::Failed,
                Some(format!(
                    "no create call: {}",
                    error.unwrap_or_else(|| "none was made".into())
                )),
                false,
            ),
            (false, Some(gone)) => (
                Verdict::Create,
                Some(format!("{gone} is gone from the account")),
                false,
            ),
            (false, None) => (Verdict::Create, None, false),
        },
        Ok(Preview::Observed { id, adopted, error }) => {
            let adopts = adopted.map(|how| format!("adopts {id} by {how}"));
            let with = |text: Option<String>| match (&adopts, text) {
                (Some(adopts), Some(text)) => Some(format!("{adopts}; {text}")),
                (Some(adopts), None) => Some(adopts.clone()),
                (None, text) => text,
            };
            let adopting = adopted.is_some();
            if !calls.is_empty() || cluster_writes {
                return (Verdict::Update, with(Some(id)), adopting);
            }
            if let Some(error) = error {
                return (Verdict::Failed, with(Some(error)), adopting);
            }
            let ready = crate::api::common::is_condition_true(status.conditions(), READY);
            if ready {
                (Verdict::InSync, with(Some(id)), adopting)
            } else if crate::controller::reason::is_stalled(status.conditions()) {
                let why = find_condition(status.conditions(), SYNCED)
                    .filter(|synced| !synced.is_true())
                    .and_then(|_| condition(SYNCED))
                    .or_else(|| condition(READY));
                (Verdict::Refused, with(why), adopting)
            } else {
                (Verdict::Waits, with(condition(READY)), adopting)
            }
        }
    }
}

/// `object` with `status` as its status (what a first pass found), or `None` when it does not
/// fit the kind's type.
fn with_status<K: ManagedResource>(object: &K, status: &K::Status) -> Option<K> {
    let mut value = serde_json::to_value(object).ok()?;
    let status = serde_json::to_value(status).ok()?;
    value.as_object_mut()?.insert("status".into(), status);
    serde_json::from_value(value).ok()
}

/// `object` without a status: what the API server keeps of a manifest's on a create.
fn without_status<K: ManagedResource>(object: &K) -> Option<K> {
    let mut value = serde_json::to_value(object).ok()?;
    value.as_object_mut()?.remove("status");
    serde_json::from_value(value).ok()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PlanArgs {
    /// Plans the manifests; the exit code.
    pub async fn run(self) -> anyhow::Result<i32> {
        let documents = read_manifests(&self.files)?;
        let (credentials, config) = self.connection.parts()?;
        let (client, planned) = Client::planning(credentials, config)?;
        let live = if self.offline {
            None
        } else {
            Some(kube::Client::try_default().await.context(
                "unable to reach Kubernetes (KUBECONFIG or in-cluster config); --offline plans from the manifests and the cloud alone",
            )?)
        };
        let mut namespaces = BTreeSet::new();
        let mut manifests = Vec::new();
        for (order, mut document) in documents.into_iter().enumerate() {
            if document["apiVersion"] != crate::api::common::API_VERSION {
                continue;
            }
            let namespace = match document["metadata"]["namespace"].as_str() {
                Some(namespace) => namespace.to_owned(),
                None => {
                    let Some(metadata) = document["metadata"].as_object_mut() else {
                        anyhow::bail!("a {} manifest has no metadata", document["kind"]);
                    };
                    metadata.insert("namespace".into(), self.namespace.clone().into());
                    self.namespace.clone()
                }
            };
            namespaces.insert(namespace);
            manifests.push((order, document));
        }
        let namespaces: Vec<String> = namespaces.into_iter().collect();

        let cluster_writes = ClusterWrites::default();
        let kube = read_only_kube(live.clone(), cluster_writes.clone());
        let metrics = Arc::new(Metrics::default());
        // One list per kind and region for the whole plan.
        let timing = CacheTiming {
            fast_interval: Duration::from_secs(3600),
            slow_interval: Duration::from_secs(3600),
            min_interval: Duration::ZERO,
        };
        let account = Arc::new(Account {
            api_id: client.api_id().to_owned(),
            caches: ListCaches::new(&client, &timing, &metrics),
            client,
        });
        let ctx = Arc::new(Context::new(
            kube.clone(),
            Accounts::new(kube, ClientConfig::default(), timing, metrics.clone()),
            Reporter {
                controller: "lunanode-operator-plan".into(),
                instance: None,
            },
            OperatorConfig {
                concurrency: 1,
                scope: Scope::new(&namespaces),
                max_retry_after: Duration::from_secs(300),
                max_monthly_cost: self.max_monthly_cost,
                min_credit_days: 0.0,
            },
            metrics,
        ));

        let prune = if self.prune {
            Some(parse_selector(
                self.selector.as_deref().unwrap_or_default(),
            )?)
        } else {
            None
        };
        let mut sets: Vec<Box<dyn Set>> = Vec::new();
        let mut kinds = BTreeSet::new();
        macro_rules! load {
            ($($kind:ty),* $(,)?) => {
                $(
                    kinds.insert(<$kind as ManagedResource>::KIND);
                    sets.push(Box::new(
                        kind_set::<$kind>(&manifests, live.as_ref(), &namespaces, prune.as_ref())
                            .await?,
                    ));
                )*
            };
        }
        crate::for_each_kind!(load);
        let unknown: Vec<&str> = manifests
            .iter()
            .filter_map(|(_, document)| document["kind"].as_str())
            .filter(|kind| !kinds.contains(kind))
            .collect();
        if !unknown.is_empty() {
            anyhow::bail!("unknown lunanode.com kinds: {}", unknown.join(", "));
        }

        let run = Run {
            ctx: ctx.clone(),
            account,
            planned,
            cluster_writes,
        };
        // Objects without an ID take theirs first, in passes, so that references to them
        // resolve (a reference's own identity may wait on another's).
        for _ in 0..3 {
            for set in &sets {
                set.publish(&ctx);
            }
            let mut identified = 0;
            for set in &mut sets {
                identified += set.identify(&run).await;
            }
            if identified == 0 {
                break;
            }
        }
        for set in &sets {
            set.publish(&ctx);
        }
        let mut lines = Vec::new();
        for set in &sets {
            lines.extend(set.plan(&run).await);
        }
        lines.sort_by_key(|line| line.order);
        for line in &mut lines {
            if let Some(change) = cost_change(line, &run.account).await {
                line.cost_change = Some(change);
            }
        }
        for line in &lines {
            println!("{line}");
        }
        let count = |verdict: Verdict| lines.iter().filter(|line| line.verdict == verdict).count();
        let adopted = lines.iter().filter(|line| line.adopted).count();
        let deleted = if self.prune {
            format!("{} to delete, ", count(Verdict::Delete))
        } else {
            String::new()
        };
        println!(
            "Plan: {} to create, {} to update, {deleted}{} in sync, {} waiting, {} refused, {} failed{}.",
            count(Verdict::Create),
            count(Verdict::Update),
            count(Verdict::InSync),
            count(Verdict::Waits),
            count(Verdict::Refused),
            count(Verdict::Failed),
            if adopted > 0 {
                format!("; {adopted} adopted")
            } else {
                String::new()
            }
        );
        let changes: Vec<f64> = lines.iter().filter_map(|line| line.cost_change).collect();
        if !changes.is_empty() {
            println!(
                "Cost: {} a month (VM plans at list price; volumes, addresses and traffic not counted).",
                dollars(changes.iter().sum())
            );
        }
        Ok(exit_code(&lines, self.detailed_exitcode))
    }
}

/// What the calls of `line` change in its monthly price: a VM created or resized to a plan of
/// known price (from the account's `plan list`, the one the budget uses).
async fn cost_change(line: &Line, account: &Account) -> Option<f64> {
    let mut change = None;
    for call in &line.calls {
        let before = match (call.category, call.action) {
            ("vm", "create") => 0.0,
            ("vm", "resize") => line.cost_before?,
            _ => continue,
        };
        let plan = call
            .parameters
            .iter()
            .find(|(name, _)| name == "plan_id")
            .map(|(_, plan)| plan)?;
        let price = super::vm::cloud::plan(account, plan).await.ok()??.monthly?;
        *change.get_or_insert(0.0) += price - before;
    }
    change
}

/// `+$12.50`, `-$3.00`.
fn dollars(amount: f64) -> String {
    let sign = if amount < 0.0 { '-' } else { '+' };
    format!("{sign}${:.2}", amount.abs())
}

/// 1 when an object would be refused or could not be planned; with `detailed`, 2 when a create
/// or an update would be made; 0 otherwise.
fn exit_code(lines: &[Line], detailed: bool) -> i32 {
    let any = |verdicts: &[Verdict]| lines.iter().any(|line| verdicts.contains(&line.verdict));
    if any(&[Verdict::Refused, Verdict::Failed]) {
        1
    } else if detailed && any(&[Verdict::Create, Verdict::Update, Verdict::Delete]) {
        2
    } else {
        0
    }
}

/// The manifests of kind `K` read into its type, over the cluster's objects of the kind.
async fn kind_set<K: Reconciler>(
    manifests: &[(usize, Value)],
    live: Option<&kube::Client>,
    namespaces: &[String],
    prune: Option<&BTreeMap<String, String>>,
) -> anyhow::Result<KindSet<K>> {
    let mut cluster: Vec<K> = Vec::new();
    if let Some(live) = live {
        for namespace in namespaces {
            let api: Api<K> = Api::namespaced(live.clone(), namespace);
            let listed = api
                .list(&Default::default())
                .await
                .with_context(|| format!("unable to list the {}s of {namespace}", K::KIND))?;
            cluster.extend(listed.items);
        }
    }
    let mut planned = Vec::new();
    for (order, document) in manifests {
        if document["kind"] != K::KIND {
            continue;
        }
        let manifest: K = serde_json::from_value(document.clone()).with_context(|| {
            format!(
                "{} {}: not a valid manifest",
                K::KIND,
                document["metadata"]["name"]
            )
        })?;
        let key = (manifest.namespace(), manifest.name_any());
        let object = match cluster
            .iter()
            .position(|object| (object.namespace(), object.name_any()) == key)
        {
            Some(index) => applied(cluster.swap_remove(index), &manifest)?,
            None => fresh(manifest),
        };
        planned.push(Entry {
            order: *order,
            object,
            adopted: None,
        });
    }
    // As `kubectl apply --prune` takes them: objects an apply made (they carry its
    // last-applied annotation), not those another object made and controls (a schedule's
    // snapshots), with the selector's labels.
    let pruned = prune.map_or_else(Vec::new, |selector| {
        cluster
            .iter()
            .filter(|object| {
                object.annotations().contains_key(LAST_APPLIED)
                    && !object
                        .owner_references()
                        .iter()
                        .any(|owner| owner.controller == Some(true))
                    && selector
                        .iter()
                        .all(|(key, value)| object.labels().get(key) == Some(value))
            })
            .cloned()
            .collect()
    });
    Ok(KindSet {
        planned,
        others: cluster,
        pruned,
    })
}

/// The annotation `kubectl apply` writes on what it applies, which its prune looks for.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// `key=value,key2=value2` as labels to match (empty: every object).
fn parse_selector(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (key, value) = part
                .split_once('=')
                .with_context(|| format!("{part:?}: a selector here is key=value pairs"))?;
            let key = key.trim().trim_end_matches('=');
            Ok((key.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// The cluster's `object` once `manifest` is applied over it: the manifest's spec, labels
/// and annotations, its metadata and status otherwise, and a new generation if the spec
/// changed.
fn applied<K: ManagedResource>(object: K, manifest: &K) -> anyhow::Result<K> {
    let mut value = serde_json::to_value(&object)?;
    let wanted = serde_json::to_value(manifest)?;
    if value["spec"] != wanted["spec"] {
        value["spec"] = wanted["spec"].clone();
        let generation = object.meta().generation.unwrap_or_default() + 1;
        value["metadata"]["generation"] = generation.into();
    }
    for field in ["labels", "annotations"] {
        if let (Some(into), Some(from)) = (
            value["metadata"][field].as_object_mut(),
            wanted["metadata"][field].as_object(),
        ) {
            into.extend(from.clone());
        } else if wanted["metadata"][field].is_object() {
            value["metadata"][field] = wanted["metadata"][field].clone();
        }
    }
    Ok(serde_json::from_value(value)?)
}

/// A manifest's object as the API server would make it: a UID of its own (the claims tell
/// objects apart by it), generation 1, no status.
fn fresh<K: ManagedResource>(mut manifest: K) -> K {
    let uid = format!(
        "plan-{}-{}-{}",
        K::KIND.to_ascii_lowercase(),
        manifest.namespace().unwrap_or_default(),
        manifest.name_any()
    );
    if let Some(without) = without_status(&manifest) {
        manifest = without;
    }
    let meta = manifest.meta_mut();
    meta.uid = Some(uid);
    meta.generation = Some(1);
    meta.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Timestamp::now(),
    ));
    manifest
}

/// The documents of the files, folders (their `.yaml`, `.yml` and `.json` files, in name
/// order) and standard input (`-`), in order; a `List`'s items in its place.
fn read_manifests(paths: &[PathBuf]) -> anyhow::Result<Vec<Value>> {
    let mut documents = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("unable to read standard input")?;
            documents.extend(parse(&text, Path::new("standard input"))?);
        } else if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("unable to read {}", path.display()))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|file| {
                    file.extension()
                        .is_some_and(|ext| ext == "yaml" || ext == "yml" || ext == "json")
                })
                .collect();
            files.sort();
            for file in files {
                documents.extend(parse(&read(&file)?, &file)?);
            }
        } else {
            documents.extend(parse(&read(path)?, path)?);
        }
    }
    Ok(documents)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("unable to read {}", path.display()))
}

/// The YAML (or JSON) documents of `text`, empty ones left out and `List`s flattened.
fn parse(text: &str, origin: &Path) -> anyhow::Result<Vec<Value>> {
    use serde::Deserialize as _;
    let mut documents = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value = Value::deserialize(document)
            .with_context(|| format!("{} is not valid YAML", origin.display()))?;
        match value {
            Value::Null => {}
            Value::Object(ref object)
                if object.get("kind").and_then(Value::as_str) == Some("List") =>
            {
                if let Some(items) = object.get("items").and_then(Value::as_array) {
                    documents.extend(items.iter().cloned());
                }
            }
            other => documents.push(other),
        }
    }
    Ok(documents)
}

/// A Kubernetes client that reads the cluster `live` (none: every object is absent) and
/// writes nothing: a write is recorded in `writes` and answered 403; an Event is accepted and
/// dropped.
fn read_only_kube(live: Option<kube::Client>, writes: ClusterWrites) -> kube::Client {
    use axum::http::{Method, Request, Response, StatusCode, header};
    let service = tower::service_fn(move |request: Request<kube::client::Body>| {
        let live = live.clone();
        let writes = writes.clone();
        async move {
            let answer = |code: StatusCode, body: Value| {
                let mut response =
                    Response::new(kube::client::Body::from(body.to_string().into_bytes()));
                *response.status_mut() = code;
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
                response
            };
            let failure = |code: StatusCode, reason: &str, message: &str| {
                answer(
                    code,
                    serde_json::json!({
                        "kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": reason, "message": message, "code": code.as_u16(),
                    }),
                )
            };
            let method = request.method().clone();
            let path = request.uri().path().to_owned();
            if method == Method::GET {
                return match live {
                    Some(live) => live.send(request).await.map_err(tower::BoxError::from),
                    None => Ok(failure(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        "plan --offline reads no cluster object",
                    )),
                };
            }
            if path.contains("/events") {
                return Ok(answer(
                    StatusCode::CREATED,
                    serde_json::json!({
                        "apiVersion": "events.k8s.io/v1", "kind": "Event",
                        "metadata": {"name": "plan"},
                        "eventTime": "1970-01-01T00:00:00.000000Z",
                    }),
                ));
            }
            lock(&writes).push(format!("{method} {path}"));
            Ok(failure(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "a plan makes no change",
            ))
        }
    });
    kube::Client::new(service, "default")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::api::volume::LunaVolume;

    fn line(verdict: Verdict) -> Line {
        Line {
            order: 0,
            object: "LunaVolume default/data".into(),
            verdict,
            detail: None,
            adopted: false,
            calls: Vec::new(),
            cluster: Vec::new(),
            cost_before: None,
            cost_change: None,
        }
    }

    #[test]
    fn dollars_carry_their_sign() {
        assert_eq!(dollars(12.5), "+$12.50");
        assert_eq!(dollars(-3.0), "-$3.00");
        assert_eq!(dollars(0.0), "+$0.00");
    }

    #[test]
    fn the_exit_code_says_refused_before_changed() {
        let lines = |verdicts: &[Verdict]| verdicts.iter().map(|v| line(*v)).collect::<Vec<_>>();
        assert_eq!(
            exit_code(&lines(&[Verdict::InSync, Verdict::Waits]), true),
            0
        );
        assert_eq!(
            exit_code(&lines(&[Verdict::InSync, Verdict::Update]), true),
            2
        );
        assert_eq!(exit_code(&lines(&[Verdict::Create]), true), 2);
        assert_eq!(exit_code(&lines(&[Verdict::Create]), false), 0);
        assert_eq!(
            exit_code(&lines(&[Verdict::Create, Verdict::Refused]), true),
            1
        );
        assert_eq!(exit_code(&lines(&[Verdict::Failed]), false), 1);
    }

    #[test]
    fn documents_lists_and_empty_documents() {
        let text = "---\n# nothing\n---\napiVersion: v1\nkind: List\nitems:\n- kind: A\n- kind: B\n---\nkind: C\n";
        let kinds: Vec<Value> = parse(text, Path::new("x"))
            .unwrap()
            .into_iter()
            .map(|document| document["kind"].clone())
            .collect();
        assert_eq!(kinds, ["A", "B", "C"]);
        assert!(parse("a: [", Path::new("broken.yaml")).is_err());
    }

    fn volume(size: u64) -> LunaVolume {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "lunanode.com/v1alpha1", "kind": "LunaVolume",
            "metadata": {"name": "data", "namespace": "default", "labels": {"team": "a"}},
            "spec": {"label": "data", "size": size, "region": "toronto"},
        }))
        .unwrap()
    }

    #[test]
    fn a_manifest_over_the_cluster_object_keeps_its_identity_and_bumps_the_generation() {
        let mut live = volume(10);
        live.metadata.uid = Some("uid-1".into());
        live.metadata.generation = Some(4);
        live.metadata.annotations =
            Some([("lunanode.com/external-id".to_owned(), "42".to_owned())].into());
        let same = applied(live.clone(), &volume(10)).unwrap();
        assert_eq!(same.metadata.generation, Some(4));
        let grown = applied(live, &volume(20)).unwrap();
        assert_eq!(grown.spec.size, 20);
        assert_eq!(grown.metadata.generation, Some(5));
        assert_eq!(grown.metadata.uid.as_deref(), Some("uid-1"));
        assert_eq!(Identity::of(&grown).external_id.as_deref(), Some("42"));
        assert_eq!(grown.labels().get("team").map(String::as_str), Some("a"));
    }

    #[test]
    fn a_new_object_gets_a_uid_of_its_own() {
        let object = fresh(volume(10));
        assert_eq!(
            object.metadata.uid.as_deref(),
            Some("plan-lunavolume-default-data")
        );
        assert_eq!(object.metadata.generation, Some(1));
    }

    #[test]
    fn calls_make_an_update_and_conditions_the_rest() {
        let call = PlannedCall {
            category: "volume",
            action: "extend",
            parameters: vec![("size".into(), "20".into())],
        };
        let observed = || {
            Ok(Preview::Observed {
                id: "42".into(),
                adopted: None,
                error: None,
            })
        };
        let mut status = <LunaVolume as ManagedResource>::Status::default();
        let object = volume(20);
        let (verdict, ..) =
            judge::<LunaVolume>(observed(), &status, std::slice::from_ref(&call), false);
        assert_eq!(verdict, Verdict::Update);
        mark(&mut status, &object).ready(Reason::Available, "available");
        assert_eq!(
            judge::<LunaVolume>(observed(), &status, &[], false).0,
            Verdict::InSync
        );
        mark(&mut status, &object).not_ready(Reason::Updating, "extending");
        assert_eq!(
            judge::<LunaVolume>(observed(), &status, &[], false).0,
            Verdict::Waits
        );
        let create = Preview::Create {
            gone: None,
            error: Some("image not found".into()),
        };
        let (verdict, detail, _) = judge::<LunaVolume>(Ok(create), &status, &[], false);
        assert_eq!(verdict, Verdict::Failed);
        assert!(detail.unwrap_or_default().contains("image not found"));
        assert_eq!(call.to_string(), "volume extend size=20");
        let kept = Preview::Delete {
            id: Some("42".into()),
            without_call: Some("kept"),
        };
        let (verdict, detail, _) = judge::<LunaVolume>(Ok(kept), &status, &[], false);
        assert_eq!(
            (verdict, detail.as_deref()),
            (Verdict::Delete, Some("42: kept"))
        );
    }
}
