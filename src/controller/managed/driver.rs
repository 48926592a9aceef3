//! One kind's controller: the watch, the finalizer, the pause annotation, credentials, the
//! conditional status write at the end of each reconcile, the Synced condition on failure, why a
//! deletion waits, per-object backoff, metrics, and wake-ups (credentials Secret changes,
//! list-cache drift, referenced objects).

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        finalizer::{Event as FinalizerEvent, finalizer},
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::ownership::{Claim, Identity};
use crate::api::common::ConditionStatus;
use crate::controller::reason::{Reason, set_progress};
use crate::{
    api::common::{
        Condition, ManagedResource, ManagedStatus, READY, SYNCED, find_condition, is_condition_true,
    },
    controller::{
        Context,
        accounts::{Account, CredentialsError},
        error::{Error, requeue},
        report::{event, key, write_status},
    },
    lunanode,
};

/// One kind's reconcile steps. Every [`External`](super::External) kind has them from the
/// standard steps; a kind with other steps (one that holds nothing in the cloud) implements
/// this trait itself.
pub trait Reconciler: ManagedResource {
    /// Brings the cloud toward the spec. Called with the account resolved and the object not
    /// paused; sets conditions on `status` (the driver writes it afterwards).
    fn apply(
        object: &Self,
        status: &mut Self::Status,
        cx: &CloudCx<'_, Self>,
    ) -> impl Future<Output = Result<Action, Error>> + Send;

    /// The finalizer: Ok releases the object, an error keeps it and retries.
    fn cleanup(
        object: &Self,
        cx: &Cx<'_, Self>,
    ) -> impl Future<Output = Result<Action, Error>> + Send;

    /// Adds watches of related kinds (references) to the controller.
    fn configure(controller: Controller<Self>, _ctx: &Arc<Context>) -> Controller<Self> {
        controller
    }

    /// What the object's cloud object costs, in USD a month, as its status shows it (`None`:
    /// unknown, or a kind without a price); summed by kind in `lunanode_monthly_cost_usd`.
    fn monthly_cost(&self) -> Option<f64> {
        None
    }

    /// What `lunanode-operator plan` shows of the next reconciles, run with a client that sends
    /// no write (see [`crate::controller::plan`]). A kind that holds no cloud object of its own
    /// makes no call.
    fn preview(
        _object: &Self,
        _status: &mut Self::Status,
        _cx: &CloudCx<'_, Self>,
    ) -> impl Future<Output = Result<crate::controller::plan::Preview, Error>> + Send {
        async { Ok(crate::controller::plan::Preview::NoCloudObject) }
    }

    /// What `lunanode-operator plan --prune` shows of the deletion of the object, run with a
    /// client that sends no write. A kind that holds no cloud object of its own makes no call.
    fn preview_delete(
        _object: &Self,
        _cx: &CloudCx<'_, Self>,
    ) -> impl Future<Output = Result<crate::controller::plan::Preview, Error>> + Send {
        async { Ok(crate::controller::plan::Preview::NoCloudObject) }
    }
}

/// The `plan` of an [`External`](super::External) kind whose create needs nothing resolved
/// (`type Plan = ();`): write `no_plan!();` in its `impl External` block.
macro_rules! no_plan {
    () => {
        async fn plan(
            &self,
            _cx: &$crate::controller::managed::CloudCx<'_, Self>,
        ) -> Result<
            Result<(), $crate::controller::managed::Blocked>,
            $crate::controller::error::Error,
        > {
            Ok(Ok(()))
        }
    };
}
pub(crate) use no_plan;

/// The list cache and natural key of an [`External`](super::External) kind whose objects are
/// found by one name: write `found_by!(cache, key, field)` in its `impl External` block. The
/// cache is `cache(account)` (`cache[spec_field]`: `cache(account, &spec.spec_field)`, a list per
/// region or domain); the natural key is `spec.key`; a listed object is what a create made
/// when its `field` is the key. After them, `ignore_case`: the API treats names without case;
/// `in_region`: the list spans regions, and an object of another region is not this one's.
macro_rules! found_by {
    ($cache:path $([$arg:ident])?, $key:ident, $field:ident $(, $option:ident)?) => {
        fn cache(
            &self,
            account: &$crate::controller::accounts::Account,
        ) -> ::std::sync::Arc<$crate::controller::list_cache::ListCache<Self::Observed>> {
            $cache(account $(, &self.spec.$arg)?)
        }

        fn create_name(&self) -> String {
            self.spec.$key.clone()
        }

        fn is_create_of(&self, name: &str, observed: &Self::Observed) -> bool {
            $crate::controller::managed::found_by!(@is self, observed, $field, name $(, $option)?)
        }
    };
    (@is $object:ident, $observed:ident, $field:ident, $name:ident) => {
        $observed.$field == $name
    };
    (@is $object:ident, $observed:ident, $field:ident, $name:ident, ignore_case) => {
        $observed.$field.eq_ignore_ascii_case($name)
    };
    (@is $object:ident, $observed:ident, $field:ident, $name:ident, in_region) => {
        $observed.$field == $name
            && ($observed.region.is_empty() || $observed.region == $object.spec.region)
    };
}
pub(crate) use found_by;

/// When a reconcile that found its copy behind the API server's looks again, unless the watch
/// brings the newer copy first (which it normally does: the copy was behind a write).
pub const STALE_RETRY: Duration = Duration::from_secs(1);

/// The `resourceVersion`s this process's own writes replaced, per object (UID). A copy still at
/// one of them is behind a write already made: a reconcile from it would act on what that write
/// superseded (a memo in the status it wrote, such as the alerts a check already matched) and
/// then be refused at its status write. The watch brings the newer copy within moments, so such
/// a reconcile does nothing and looks again.
#[derive(Default)]
pub struct Superseded {
    versions: Mutex<HashMap<String, Vec<String>>>,
}

/// Versions remembered per object: one reconcile writes a few times at most.
const SUPERSEDED_PER_OBJECT: usize = 8;

impl Superseded {
    /// A write of ours replaced `object` as it was.
    fn replaced<K: Resource>(&self, object: &K) {
        let (Some(uid), Some(version)) = (object.meta().uid.clone(), object.resource_version())
        else {
            return;
        };
        let mut versions = self
            .versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Bounded: objects deleted right after a write leave an entry each.
        if versions.len() > 10_000 {
            versions.clear();
        }
        let replaced = versions.entry(uid).or_default();
        if replaced.len() == SUPERSEDED_PER_OBJECT {
            replaced.remove(0);
        }
        replaced.push(version);
    }

    /// Whether `object` is a copy that a write of ours replaced. A copy that is not is newer than
    /// every one of them (each guarded write was conditional on the version it replaced), so they
    /// are forgotten.
    pub fn behind<K: Resource>(&self, object: &K) -> bool {
        let Some(uid) = object.meta().uid.as_deref() else {
            return false;
        };
        let mut versions = self
            .versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(replaced) = versions.get(uid) else {
            return false;
        };
        let version = object.resource_version().unwrap_or_default();
        if replaced.contains(&version) {
            return true;
        }
        versions.remove(uid);
        false
    }
}

/// What a reconcile step gets besides the object.
pub struct Cx<'a, K: Resource> {
    /// The shared context.
    pub ctx: &'a Context,
    /// The kind's API in the object's namespace.
    pub api: &'a Api<K>,
    /// `namespace/name`, for logs and errors.
    pub object: String,
    /// The object as last written during this reconcile.
    written: Mutex<Option<K>>,
    /// The kind's finalizer is still to be added, together with the first identity write (see
    /// [`fresh_without_finalizer`]).
    add_finalizer: AtomicBool,
    /// The object turned out to be a copy behind the API server's: this reconcile writes
    /// nothing more (its status write would conflict) and the next starts from a fresher one.
    stale: AtomicBool,
}

impl<'a, K: ManagedResource> Cx<'a, K> {
    /// A context for looking at `object` outside a controller (`lunanode-operator plan`): no
    /// finalizer to add, nothing written yet.
    pub fn detached(ctx: &'a Context, api: &'a Api<K>, object: &K) -> Self {
        Cx {
            ctx,
            api,
            object: key(object),
            written: Mutex::default(),
            add_finalizer: AtomicBool::new(false),
            stale: AtomicBool::new(false),
        }
    }
    /// The account of the object's credentials if the operator holds it already, without a
    /// read: what a cleanup needs to forget the object's per-account memos.
    pub fn existing_account(&self, object: &K) -> Option<Arc<Account>> {
        let namespace = object.namespace().unwrap_or_default();
        self.ctx
            .accounts
            .existing(&namespace, object.credentials_secret_name())
    }

    /// Writes `status` now (before a cloud call whose outcome must survive a crash, such as the
    /// intent to create). Later writes in the same reconcile start from the written object.
    pub async fn save(&self, object: &K, status: &K::Status) -> Result<(), Error> {
        let base = self.latest(object);
        let mut status = status.clone();
        settle(&mut status, &base);
        let written = write_status(self.api, &base, base.managed_status(), &status).await?;
        if let Some(written) = written {
            self.ctx.superseded.replaced(&base);
            self.ctx
                .registry
                .status_written::<K>(&written.namespace().unwrap_or_default());
            *self
                .written
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(written);
        }
        Ok(())
    }

    /// Writes the identity annotations now (see [`Identity`]). With `guarded`, the write is
    /// conditional on the object's `resourceVersion`, so a reconcile working from a stale copy
    /// fails here instead of acting twice: the create intent is written this way. A fresh
    /// object's first identity write adds the kind's finalizer too (one write instead of two),
    /// always guarded: the merge patch replaces the whole finalizer list.
    pub async fn save_identity(
        &self,
        object: &K,
        identity: &Identity,
        guarded: bool,
    ) -> Result<(), Error> {
        let base = self.latest(object);
        let add_finalizer = self.add_finalizer.load(Ordering::SeqCst);
        if Identity::of(&base) == *identity && !add_finalizer {
            return Ok(());
        }
        let mut patch = serde_json::json!({
            "metadata": { "annotations": identity.merge_patch() }
        });
        if add_finalizer {
            let mut finalizers = base.finalizers().to_vec();
            finalizers.push(K::finalizer());
            patch["metadata"]["finalizers"] = finalizers.into();
        }
        if guarded || add_finalizer {
            patch["metadata"]["resourceVersion"] = base.resource_version().into();
        }
        let written = self
            .api
            .patch(
                &base.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(Error::kube(
                "record the cloud identity",
                self.object.clone(),
            ))?;
        self.ctx.superseded.replaced(&base);
        self.add_finalizer.store(false, Ordering::SeqCst);
        *self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(written);
        Ok(())
    }

    /// The claims of every object of the kind, see [`Waker::claims`].
    pub fn claims(&self) -> Vec<Claim> {
        self.ctx
            .registry
            .waker::<K>()
            .map(|waker| waker.claims())
            .unwrap_or_default()
    }

    /// The claims of every object of the kind as the API server has them now (a watch cache
    /// may lag behind a claim just recorded): for the rare decisions that take a candidate
    /// (adopt, recover an interrupted create, delete one). They come held: until the returned
    /// [`HeldClaims`] is dropped, no other reconcile of the kind reads them, so two objects that
    /// find one cloud object unclaimed at the same moment cannot both take it — the first
    /// records its ID before the second looks. Keep it until the ID is recorded.
    pub async fn fresh_claims(&self) -> Result<HeldClaims, Error> {
        let turn = self.ctx.registry.claim_lock::<K>().lock_owned().await;
        let listed = self
            .ctx
            .config
            .scope
            .list::<K>(&self.ctx.kube)
            .await
            .map_err(Error::kube("list the claims", self.object.clone()))?;
        Ok(HeldClaims {
            claims: listed.iter().map(Claim::of).collect(),
            _turn: turn,
        })
    }

    /// The object as the API server has it now.
    pub async fn read_fresh(&self, object: &K) -> Result<K, Error> {
        self.api
            .get(&object.name_any())
            .await
            .map_err(Error::kube("read the object", self.object.clone()))
    }

    /// Whether `object`, a copy from the watch, is behind the API server's on what it holds:
    /// its cloud ID (status or annotation) or a pending create. The watch lags under load, and
    /// a copy from before this object's own last writes would take its own cloud object for
    /// someone else's, or its status for lost.
    pub async fn behind(&self, object: &K) -> Result<bool, Error> {
        let fresh = self.read_fresh(object).await?;
        let pending = |object: &K| {
            object
                .managed_status()
                .and_then(|status| status.pending_create())
                .cloned()
        };
        let behind = fresh.status_id() != object.status_id()
            || Identity::of(&fresh) != Identity::of(object)
            || pending(&fresh) != pending(object);
        if behind {
            self.stale();
        }
        Ok(behind)
    }

    /// Records that the object is a copy behind the API server's (see [`Cx::behind`]): the
    /// reconcile ends without writing its status.
    pub fn stale(&self) {
        self.stale.store(true, Ordering::SeqCst);
    }

    /// The object as last written in this reconcile (or as given).
    pub fn latest(&self, object: &K) -> K {
        self.written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| object.clone())
    }

    /// Publishes an Event about `object`.
    pub async fn event(&self, object: &K, warning: bool, reason: &str, action: &str, note: String) {
        event(&self.ctx.recorder, object, warning, reason, action, note).await;
    }

    /// Publishes a Warning Event whose reason is the condition reason `reason`.
    pub async fn warn(&self, object: &K, reason: Reason, action: &str, note: String) {
        self.event(object, true, reason.as_str(), action, note)
            .await;
    }

    /// Makes the delete call `call` of cloud object `id` and ends it as [`Cx::deleted`] does,
    /// with the note `<action in the past> <id>` (`remove ssh key` → `removed ssh key 42`).
    pub async fn remove(
        &self,
        object: &K,
        action: &'static str,
        id: &str,
        call: impl std::future::Future<Output = Result<(), lunanode::Error>>,
    ) -> Result<(), Error> {
        let result = call.await;
        let (verb, rest) = action.split_once(' ').unwrap_or((action, ""));
        let past = if verb.ends_with('e') { "d" } else { "ed" };
        let note = format!("{verb}{past} {rest} {id}");
        self.deleted(object, action, result, note).await
    }

    /// The end of a delete call: success publishes the `Deleted` Event with `note`, "not found"
    /// is success too (someone was faster), anything else is the cloud error of `action`.
    pub async fn deleted(
        &self,
        object: &K,
        action: &'static str,
        result: Result<(), lunanode::Error>,
        note: String,
    ) -> Result<(), Error> {
        match result {
            Ok(()) => {
                self.event(object, false, "Deleted", "Delete", note).await;
                Ok(())
            }
            Err(error) if error.is_not_found() => Ok(()),
            Err(error) => Err(cloud(action, &self.object, error)),
        }
    }
}

/// What a step that talks to the cloud gets: the reconcile's [`Cx`] (through `Deref`) and the
/// account its credentials resolved to. Made once the credentials resolve, so a step that has
/// one never has to ask whether there is an account.
pub struct CloudCx<'a, K: Resource> {
    /// The reconcile's context.
    pub cx: &'a Cx<'a, K>,
    /// The Luna Node account of the object's credentials.
    pub account: &'a Arc<Account>,
}

impl<K: Resource> CloudCx<'_, K> {
    /// The API client of the object's account.
    pub fn client(&self) -> &lunanode::Client {
        &self.account.client
    }
}

impl<'a, K: Resource> std::ops::Deref for CloudCx<'a, K> {
    type Target = Cx<'a, K>;

    fn deref(&self) -> &Self::Target {
        self.cx
    }
}

/// Counts the controllers whose caches have not synced yet; readiness once all have.
pub struct Readiness {
    pending: AtomicUsize,
    ready: Arc<AtomicBool>,
}

impl Readiness {
    /// A gate over `controllers` controllers that sets `ready` when all have synced.
    pub fn new(controllers: usize, ready: Arc<AtomicBool>) -> Arc<Self> {
        Arc::new(Self {
            pending: AtomicUsize::new(controllers),
            ready,
        })
    }

    fn synced(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.ready.store(true, Ordering::SeqCst);
        }
    }
}

/// The claims of a kind as the API server had them, read under the kind's claim lock (see
/// [`Cx::fresh_claims`]); the lock is released when this is dropped.
pub struct HeldClaims {
    claims: Vec<Claim>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl std::ops::Deref for HeldClaims {
    type Target = [Claim];

    fn deref(&self) -> &[Claim] {
        &self.claims
    }
}

/// The object caches of the running controllers and their wake-up channels, by kind.
#[derive(Default)]
pub struct Registry {
    entries: Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
    /// One lock per kind, taken to read the claims for a decision that takes a cloud object.
    claim_locks: Mutex<HashMap<TypeId, Arc<tokio::sync::Mutex<()>>>>,
    /// The kinds and namespaces where a status write has succeeded since the start.
    status_rights: Mutex<std::collections::HashSet<(TypeId, String)>>,
    /// The kinds whose object cache has synced (its first list is in).
    synced: Mutex<std::collections::HashSet<TypeId>>,
    /// How many kinds run, and since when: set once, when the controllers start.
    expected: std::sync::OnceLock<(usize, Instant)>,
}

/// How long reconciles wait, after the start, for every kind's object cache to load before they
/// go on regardless (a watch the API server refuses never loads; its kind's objects then stay
/// unknown, and the operator is not ready).
const CACHES_LOAD_WAIT: Duration = Duration::from_secs(30);

/// Wakes objects of one kind: by reference, or by the cloud IDs their status holds.
pub struct Waker<K: Resource<DynamicType = ()> + Clone + 'static> {
    /// The controller's object cache.
    pub store: Store<K>,
    wake: mpsc::UnboundedSender<ObjectRef<K>>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Clone for Waker<K> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            wake: self.wake.clone(),
        }
    }
}

impl<K: ManagedResource> Waker<K> {
    /// Reconciles `object` soon.
    pub fn wake(&self, object: &K) {
        let _ = self.wake.send(ObjectRef::from_obj(object));
    }

    /// Reconciles the objects whose `status.id` is among `ids`.
    pub fn wake_ids(&self, ids: &[String]) {
        let ids: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        for object in self.store.state() {
            if object.status_id().is_some_and(|id| ids.contains(id)) {
                self.wake(&object);
            }
        }
    }

    /// Reconciles the objects refused as `AlreadyManaged`: an object of the kind let go of its
    /// cloud object, which one of them may take now. One pass over the cache per release.
    pub fn wake_refused(&self) {
        for object in self.store.state() {
            let refused = find_condition(object.conditions(), SYNCED)
                .is_some_and(|synced| synced.reason == Reason::AlreadyManaged);
            if refused {
                self.wake(&object);
            }
        }
    }

    /// What every object of the kind (in every watched namespace) holds or is creating.
    pub fn claims(&self) -> Vec<Claim> {
        self.store
            .state()
            .iter()
            .map(|object| Claim::of(&**object))
            .collect()
    }
}

impl Registry {
    /// Records that a status write of kind `K` in `namespace` succeeded.
    pub fn status_written<K: ManagedResource>(&self, namespace: &str) {
        let mut rights = self
            .status_rights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rights.insert((TypeId::of::<K>(), namespace.to_owned()));
    }

    /// Whether a status write of kind `K` in `namespace` has succeeded since the start: the
    /// operator's role lets it report what it does there.
    pub fn status_writable<K: ManagedResource>(&self, namespace: &str) -> bool {
        self.status_rights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&(TypeId::of::<K>(), namespace.to_owned()))
    }

    /// The lock of kind `K`'s claim decisions (see [`Cx::fresh_claims`]). The operator acts
    /// as one process (leader election), so a lock in memory orders every such decision.
    fn claim_lock<K: ManagedResource>(&self) -> Arc<tokio::sync::Mutex<()>> {
        self.claim_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(TypeId::of::<K>())
            .or_default()
            .clone()
    }

    fn insert<K: ManagedResource>(&self, waker: Waker<K>) {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(TypeId::of::<K>(), Box::new(waker));
    }

    /// Loads kind `K`'s object cache with `objects`, as synced, in place of a controller's
    /// watch (`lunanode-operator plan`: the manifests over the cluster's objects). Wake-ups go
    /// nowhere.
    pub fn load<K: ManagedResource>(&self, objects: impl IntoIterator<Item = K>) {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Init);
        for object in objects {
            writer.apply_watcher_event(&watcher::Event::InitApply(object));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let (wake, _) = mpsc::unbounded_channel();
        self.insert(Waker { store, wake });
        self.mark_synced::<K>();
    }

    /// Records that `kinds` controllers start now.
    pub fn expect_kinds(&self, kinds: usize) {
        let _ = self.expected.set((kinds, Instant::now()));
    }

    /// Whether every kind's object cache has loaded (or [`CACHES_LOAD_WAIT`] has passed since
    /// the start): until then a reference to an object of another kind cannot be told missing
    /// from not loaded yet, so no object is looked at.
    pub fn caches_loaded(&self) -> bool {
        let Some((kinds, since)) = self.expected.get() else {
            return true;
        };
        since.elapsed() >= CACHES_LOAD_WAIT
            || self
                .synced
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .len()
                >= *kinds
    }

    /// Records that kind `K`'s object cache has synced.
    fn mark_synced<K: ManagedResource>(&self) {
        self.synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(TypeId::of::<K>());
    }

    /// Whether kind `K`'s object cache has synced: until then, an object it lacks may only not
    /// be loaded yet.
    pub fn is_synced<K: ManagedResource>(&self) -> bool {
        self.synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&TypeId::of::<K>())
    }

    /// The waker of kind `K`, once its controller runs.
    pub fn waker<K: ManagedResource>(&self) -> Option<Waker<K>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&TypeId::of::<K>())
            .and_then(|any| any.downcast_ref::<Waker<K>>())
            .cloned()
    }

    /// The objects of kind `K` in `namespace` (empty when its controller does not run).
    pub fn objects<K: ManagedResource>(&self, namespace: &str) -> Vec<Arc<K>> {
        self.waker::<K>()
            .map(|waker| {
                waker
                    .store
                    .state()
                    .into_iter()
                    .filter(|object| object.namespace().as_deref() == Some(namespace))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Adds to `controller` a watch of kind `T` in each namespace the operator serves, mapping each
/// changed object to the objects of `K` to wake.
pub fn watches<K, T, I>(
    controller: Controller<K>,
    ctx: &Context,
    mapper: impl Fn(T) -> I + Send + Sync + 'static,
) -> Controller<K>
where
    K: Reconciler,
    T: ManagedResource,
    I: IntoIterator<Item = ObjectRef<K>> + Send + 'static,
    I::IntoIter: Send,
{
    let config = watcher::Config::default().any_semantic();
    let mapper = Arc::new(mapper);
    ctx.config
        .scope
        .apis::<T>(&ctx.kube)
        .into_iter()
        .fold(controller, |controller, api| {
            let mapper = mapper.clone();
            controller.watches(api, config.clone(), move |object| mapper(object))
        })
}

/// Runs the controller of kind `K` until `shutdown` completes.
pub async fn run<K: Reconciler>(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    readiness: Arc<Readiness>,
) {
    let (store, writer) = reflector::store();
    let objects = super::scope::watch_into(
        &ctx.config.scope,
        &ctx.kube,
        watcher::Config::default().any_semantic(),
        compact::<K>,
        writer,
        store.clone(),
    )
    .applied_objects();
    let controller = Controller::for_stream(objects, store.clone());
    let (wake, woken) = mpsc::unbounded_channel::<ObjectRef<K>>();
    ctx.registry.insert(Waker {
        store: store.clone(),
        wake: wake.clone(),
    });

    // A changed credentials Secret wakes the objects that use it.
    {
        let store = store.clone();
        ctx.accounts
            .on_secret_change(Arc::new(move |namespace, secret| {
                for object in store.state() {
                    if object.namespace().as_deref() == Some(namespace)
                        && object.credentials_secret_name() == secret
                    {
                        let _ = wake.send(ObjectRef::from_obj(&*object));
                    }
                }
            }));
    }

    // Readiness once the object cache has synced; then, every 15 s, the managed-objects gauge.
    {
        let store = store.clone();
        let metrics = ctx.metrics.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            // The store's readiness future wakes only its most recent poller, and the
            // controller polls it too: poll again every second rather than wait once.
            loop {
                match tokio::time::timeout(Duration::from_secs(1), store.wait_until_ready()).await {
                    Ok(Ok(())) => break,
                    Ok(Err(_)) => return,
                    Err(_) => {}
                }
            }
            tracing::info!(kind = K::KIND, "object cache synced");
            ctx.registry.mark_synced::<K>();
            readiness.synced();
            let mut priced = false;
            loop {
                let objects = store.state();
                let ready = objects
                    .iter()
                    .filter(|object| is_condition_true(object.conditions(), READY))
                    .count();
                metrics.managed(K::KIND, ready, objects.len() - ready);
                // Once a kind has shown a price, its total stays exported (down to 0).
                let costs: Vec<f64> = objects.iter().filter_map(|o| o.monthly_cost()).collect();
                priced |= !costs.is_empty();
                if priced {
                    metrics.monthly_cost(K::KIND, costs.iter().sum());
                }
                tokio::time::sleep(Duration::from_secs(15)).await;
            }
        });
    }
    let triggers = futures::stream::unfold(woken, |mut woken| async move {
        woken.recv().await.map(|object| (object, woken))
    });
    K::configure(controller, &ctx)
        .with_config(
            kube::runtime::controller::Config::default().concurrency(ctx.config.concurrency),
        )
        .reconcile_on(triggers)
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|result| async move {
            match result {
                // A watch the API server refuses (a missing RBAC rule, say) is retried with
                // backoff; say so where an operator of the operator looks.
                Err(kube::runtime::controller::Error::QueueError(error)) => {
                    tracing::warn!(kind = K::KIND, %error, "a watch failed; retrying");
                }
                Err(error) => tracing::debug!(%error, "reconcile error"),
                Ok(_) => {}
            }
        })
        .await;
}

/// Drops from a watched object what no step reads and the cache would otherwise hold for every
/// object: the server-side apply bookkeeping (`managedFields`, often larger than the spec) and
/// `kubectl apply`'s copy of the last manifest. Status writes go through the API with their own
/// patches, never by sending the cached object back, so nothing is lost on the server.
fn compact<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// The backoff key of an object: kinds may share names.
fn backoff_key<K: Reconciler>(object: &K) -> String {
    format!("{}/{}", K::KIND, key(object))
}

/// One reconcile, in a span that names the object: its kind, namespace, name and generation,
/// and the account (a short hash of the API ID) once the credentials resolve. Log lines inside
/// carry these fields; they do not name the object themselves.
async fn reconcile<K: Reconciler>(object: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Just after a start: wait until every kind's cache is in, so that a reference to a LunaVM,
    // say, is not judged missing when it is only not loaded yet (nothing would wake it).
    if !ctx.registry.caches_loaded() {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let span = tracing::info_span!(
        "reconcile",
        kind = K::KIND,
        namespace = %object.namespace().unwrap_or_default(),
        name = %object.name_any(),
        generation = object.meta().generation,
        account = tracing::field::Empty,
    );
    if ctx.superseded.behind(&*object) {
        span.in_scope(|| {
            tracing::debug!(
                "the copy is behind a write of this process; waiting for the newer one"
            );
        });
        return Ok(Action::requeue(STALE_RETRY));
    }
    reconcile_object(object, ctx).instrument(span).await
}

/// Records the account in the current reconcile's span.
pub(crate) fn record_account(account: &Account) {
    tracing::Span::current().record("account", account.log_id());
}

async fn reconcile_object<K: Reconciler>(
    object: Arc<K>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let namespace = object.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &namespace);
    let backoff = backoff_key(&*object);
    let started = Instant::now();
    let fresh = fresh_without_finalizer(&*object);
    let cx = Cx {
        ctx: &ctx,
        api: &api,
        object: key(&*object),
        written: Mutex::default(),
        add_finalizer: AtomicBool::new(fresh),
        stale: AtomicBool::new(false),
    };
    // Credentials finalizer: what a released object needs to let go of its Secret.
    let deleting = object.meta().deletion_timestamp.is_some().then(|| {
        (
            object.uid().unwrap_or_default(),
            object.credentials_secret_name().to_owned(),
        )
    });
    let result = if fresh {
        apply::<K>(object, &cx)
            .await
            .map_err(kube::runtime::finalizer::Error::ApplyFailed)
    } else {
        finalizer(&api, &K::finalizer(), object, |event| async {
            match event {
                FinalizerEvent::Apply(object) => apply::<K>(object, &cx).await,
                FinalizerEvent::Cleanup(object) => cleanup::<K>(&object, &cx).await,
            }
        })
        .await
    }
    .map_err(|error| Error::Finalizer(Box::new(error)));
    // Credentials finalizer: a deleted object whose finalizer is gone no longer needs its
    // Secret. On failure the sweep (`credentials::sweep`) catches it later.
    if let (Ok(_), Some((uid, secret))) = (&result, &deleting) {
        if let Err(error) =
            crate::controller::credentials::release_if_unused(&ctx, &namespace, secret, uid).await
        {
            tracing::debug!(%error, "unable to release the credentials secret");
        }
    }
    if result.is_ok() {
        ctx.backoff.reset(&backoff);
        if deleting.is_some() {
            // Released (or never held anything): a refused importer may take its object now.
            if let Some(waker) = ctx.registry.waker::<K>() {
                waker.wake_refused();
            }
        }
    }
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => error.category().as_str(),
    };
    ctx.metrics.reconciled(K::KIND, outcome, started.elapsed());
    result
}

/// An object that holds nothing in the cloud yet — no finalizer, no cloud ID, no create
/// intent, not being deleted — is reconciled without the finalizer's own write first: its first
/// identity write (the create intent, or the ID it adopts) adds the finalizer in the same
/// guarded patch, before any cloud object can be its own. Until then there is nothing to clean
/// up, so nothing is lost when it is deleted without one. Every other object (a paused one
/// too) goes through the finalizer as usual.
fn fresh_without_finalizer<K: ManagedResource>(object: &K) -> bool {
    let meta = object.meta();
    meta.deletion_timestamp.is_none()
        && !object.is_paused()
        && !object.finalizers().contains(&K::finalizer())
        && object.status_id().is_none()
        && Identity::of(object) == Identity::default()
}

async fn cleanup<K: Reconciler>(object: &K, cx: &Cx<'_, K>) -> Result<Action, Error> {
    let result = K::cleanup(object, cx).await;
    if let Err(error) = &result {
        report_waiting_deletion(object, cx, error).await;
    }
    result
}

/// Says on the object why its deletion waits: `Ready=False` with a reason and the message, and a
/// Warning Event when the reason is new (a deletion that waits on a human must say so where
/// `kubectl describe` shows it, not only in the operator's log).
async fn report_waiting_deletion<K: Reconciler>(object: &K, cx: &Cx<'_, K>, error: &Error) {
    let (reason, warning) = match error.root() {
        Error::DeletionInProgress { .. } => (Reason::Deleting, false),
        // `wait_for_holders` reports its own condition; a stale copy retries at once.
        Error::InUse { .. } => return,
        error if error.is_stale_copy() => return,
        Error::Paused { .. } => (Reason::DeletionPaused, true),
        Error::Credentials { .. } => (Reason::DeletionWaitsForCredentials, true),
        Error::DeletionBlocked { reason, .. } => (*reason, true),
        _ => (Reason::DeleteFailed, true),
    };
    let message = error.root().to_string();
    let latest = cx.latest(object);
    let current = find_condition(latest.conditions(), READY);
    if current.is_some_and(|c| c.reason == reason && c.message == message) {
        return;
    }
    let new_reason = current.is_none_or(|c| c.reason != reason);
    let mut status = latest.managed_status().cloned().unwrap_or_default();
    mark(&mut status, object).not_ready(reason, &message);
    if let Err(error) = cx.save(object, &status).await {
        tracing::debug!(%error, "unable to report why the deletion waits");
    }
    if warning && new_reason {
        cx.warn(
            object,
            reason,
            "Delete",
            format!("deletion waits: {message}"),
        )
        .await;
    }
}

fn error_policy<K: Reconciler>(object: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    if ctx.backoff.caps(error) {
        ctx.metrics.retry_after_capped(K::KIND);
    }
    requeue(&ctx.backoff, &backoff_key(&*object), error)
}

async fn apply<K: Reconciler>(object: Arc<K>, cx: &Cx<'_, K>) -> Result<Action, Error> {
    let mut status = object.managed_status().cloned().unwrap_or_default();
    status.set_observed_generation(object.meta().generation);
    let requested = object.reconcile_requested_at().map(str::to_owned);
    let result = steps(&*object, &mut status, cx).await;
    let status_after = match result {
        Ok(action) => {
            status.set_last_reconcile_request(requested);
            Ok(action)
        }
        Err(Error::Cloud {
            source: source @ lunanode::Error::Auth { .. },
            ..
        }) => {
            // The API refused the credentials: retrying with the same Secret only repeats the
            // refusal. Wait for the Secret to change (its watch wakes this object); look again
            // after an hour in case the key was re-enabled in the panel.
            let message = format!("the Luna Node API refused the credentials: {source}");
            stuck(
                &mut status,
                &*object,
                Reason::AuthenticationFailed,
                &message,
            );
            Ok(Action::requeue(Duration::from_secs(3600)))
        }
        Err(error) => {
            // A retryable failure: say so in Synced, keep the rest of the status. A Ready of an
            // earlier generation no longer holds: the spec changed and the change is not made.
            let (reason, message) = (error.category().reason(), error.to_string());
            let generation = object.meta().generation;
            let ready_before = find_condition(status.conditions(), READY)
                .is_some_and(|ready| ready.is_true() && ready.observed_generation != generation);
            let marked = mark(&mut status, &*object).not_synced(reason, &message);
            if ready_before {
                marked.not_ready(reason, &message);
            }
            Err(error)
        }
    };
    let base = cx.latest(&object);
    settle(&mut status, &base);
    match status_after {
        Ok(action) if cx.stale.load(Ordering::SeqCst) => Ok(action),
        Ok(action) => {
            if write_status(cx.api, &base, base.managed_status(), &status)
                .await?
                .is_some()
            {
                cx.ctx.superseded.replaced(&base);
                cx.ctx
                    .registry
                    .status_written::<K>(&object.namespace().unwrap_or_default());
            }
            Ok(action)
        }
        Err(error) => {
            // Best effort: from a stale copy this write conflicts, and the retry reports.
            match write_status(cx.api, &base, base.managed_status(), &status).await {
                Ok(Some(_)) => cx.ctx.superseded.replaced(&base),
                Ok(None) => {}
                Err(write_error) => {
                    tracing::debug!(error = %write_error, "unable to report the failure");
                }
            }
            Err(error)
        }
    }
}

async fn steps<K: Reconciler>(
    object: &K,
    status: &mut K::Status,
    cx: &Cx<'_, K>,
) -> Result<Action, Error> {
    if object.is_paused() {
        mark(status, object).not_synced(
            Reason::ReconcilePaused,
            "reconciliation is paused by the lunanode.com/paused annotation",
        );
        return Ok(Action::await_change());
    }
    let namespace = object.namespace().unwrap_or_default();
    let account = match cx
        .ctx
        .accounts
        .get(&namespace, object.credentials_secret_name())
        .await
    {
        Ok(account) => {
            record_account(&account);
            account
        }
        Err(error) => {
            let reason = match error {
                CredentialsError::NotReady { .. } => Reason::CredentialsUnavailable,
                _ => Reason::CredentialsInvalid,
            };
            mark(status, object)
                .not_ready(reason, &error.to_string())
                .not_synced(reason, &error.to_string());
            // The Secret watch wakes this object when the Secret appears or changes.
            return Ok(match error {
                CredentialsError::NotReady { .. } => Action::requeue(Duration::from_secs(30)),
                _ => Action::await_change(),
            });
        }
    };
    // Credentials finalizer: the Secret stays while this object may write to the cloud.
    crate::controller::credentials::hold(cx.ctx, &namespace, object.credentials_secret_name())
        .await?;
    K::apply(
        object,
        status,
        &CloudCx {
            cx,
            account: &account,
        },
    )
    .await
}

/// Sets a condition of `status`, stamped with the object's generation.
pub fn set<K: ManagedResource>(
    status: &mut K::Status,
    object: &K,
    kind: &str,
    holds: ConditionStatus,
    reason: Reason,
    message: &str,
) {
    crate::api::common::set_condition(
        status.conditions_mut(),
        Condition::new(
            kind,
            holds,
            reason.as_str(),
            message,
            object.meta().generation,
            Timestamp::now(),
        ),
    );
}

/// Makes the conditions final, just before a status write: a condition whose status is the
/// stored one keeps the stored `lastTransitionTime` (a reconcile that passed through another
/// status on the way, such as `Synced=True` set early and a failure found later, did not make
/// a transition: writing one would write the status on every reconcile), and the kstatus
/// conditions are derived from the final `Ready` and `Synced` ([`set_progress`]).
fn settle<K: ManagedResource>(status: &mut K::Status, object: &K) {
    if let Some(stored) = object.managed_status() {
        for condition in status.conditions_mut() {
            if let Some(before) = find_condition(stored.conditions(), &condition.type_) {
                if before.status == condition.status {
                    condition
                        .last_transition_time
                        .clone_from(&before.last_transition_time);
                }
            }
        }
    }
    set_progress(
        status.conditions_mut(),
        object.meta().generation,
        Timestamp::now(),
    );
}

/// Sets conditions of `object`'s status, at the object's generation, one call a condition:
/// `mark(status, object).not_ready(Reason::Creating, &message).synced(Reason::Created, &note)`.
pub fn mark<'a, K: ManagedResource>(status: &'a mut K::Status, object: &'a K) -> Mark<'a, K> {
    Mark { status, object }
}

/// The conditions being set by [`mark`].
pub struct Mark<'a, K: ManagedResource> {
    status: &'a mut K::Status,
    object: &'a K,
}

impl<K: ManagedResource> Mark<'_, K> {
    fn condition(self, kind: &str, holds: ConditionStatus, reason: Reason, message: &str) -> Self {
        set(self.status, self.object, kind, holds, reason, message);
        self
    }

    /// Ready=True.
    pub fn ready(self, reason: Reason, message: &str) -> Self {
        self.condition(READY, ConditionStatus::True, reason, message)
    }

    /// Ready=False.
    pub fn not_ready(self, reason: Reason, message: &str) -> Self {
        self.condition(READY, ConditionStatus::False, reason, message)
    }

    /// Synced=True.
    pub fn synced(self, reason: Reason, message: &str) -> Self {
        self.condition(SYNCED, ConditionStatus::True, reason, message)
    }

    /// Synced=False.
    pub fn not_synced(self, reason: Reason, message: &str) -> Self {
        self.condition(SYNCED, ConditionStatus::False, reason, message)
    }
}

/// Sets Ready and Synced false with the same reason: a terminal state until the spec changes.
pub fn stuck<K: ManagedResource>(
    status: &mut K::Status,
    object: &K,
    reason: Reason,
    message: &str,
) {
    mark(status, object)
        .not_ready(reason, message)
        .not_synced(reason, message);
}

/// [`stuck`], returning whether it is news: `false` when `Synced` said the same already, so
/// that a Warning Event about it goes out once, not at every look.
pub fn stuck_anew<K: ManagedResource>(
    status: &mut K::Status,
    object: &K,
    reason: Reason,
    message: &str,
) -> bool {
    let told = find_condition(status.conditions(), SYNCED)
        .is_some_and(|synced| synced.reason == reason && synced.message == message);
    stuck(status, object, reason, message);
    !told
}

/// Whether `Synced` is `False` for `reason` at the object's current generation: a refusal that
/// stands until the manifest changes (nothing is sent again for it).
pub fn refused_at_generation<K: ManagedResource>(
    status: &K::Status,
    object: &K,
    reason: Reason,
) -> bool {
    find_condition(status.conditions(), SYNCED).is_some_and(|synced| {
        !synced.is_true()
            && synced.reason == reason
            && synced.observed_generation == object.meta().generation
    })
}

/// A cloud error, with the action and the object.
pub fn cloud(action: &'static str, object: &str, source: lunanode::Error) -> Error {
    Error::Cloud {
        action,
        object: object.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kube::Resource;

    use super::{Registry, compact, fresh_without_finalizer};

    #[test]
    fn no_object_is_looked_at_until_every_kinds_cache_is_in() {
        use crate::api::{network::LunaNetwork, vm::LunaVM};
        let registry = Registry::default();
        assert!(
            registry.caches_loaded(),
            "no controllers: nothing to wait for"
        );
        registry.expect_kinds(2);
        assert!(!registry.caches_loaded());
        registry.mark_synced::<LunaVM>();
        assert!(!registry.caches_loaded(), "one of two");
        registry.mark_synced::<LunaNetwork>();
        assert!(registry.caches_loaded());
    }
    use crate::api::{
        common::{ManagedResource, ManagedStatus},
        vm::{LunaVM, LunaVMSpec, LunaVMStatus},
        volume::LunaVolume,
    };

    #[test]
    fn a_copy_a_write_replaced_is_behind_until_a_newer_one_is_seen() {
        let superseded = super::Superseded::default();
        let copy = |uid: &str, version: &str| {
            let mut vm = LunaVM::new("web", LunaVMSpec::new("web", "m.1", "img"));
            vm.meta_mut().uid = Some(uid.into());
            vm.meta_mut().resource_version = Some(version.into());
            vm
        };
        assert!(!superseded.behind(&copy("a", "10")), "nothing written yet");
        // Two writes in one reconcile: 10 -> 11 (identity), 11 -> 12 (status).
        superseded.replaced(&copy("a", "10"));
        superseded.replaced(&copy("a", "11"));
        assert!(superseded.behind(&copy("a", "10")));
        assert!(superseded.behind(&copy("a", "11")));
        assert!(!superseded.behind(&copy("b", "11")), "another object");
        // The written copy arrives: it is not behind, and the older ones are forgotten.
        assert!(!superseded.behind(&copy("a", "12")));
        assert!(!superseded.behind(&copy("a", "11")));
        // No version, no judgement.
        let mut unversioned = copy("a", "12");
        unversioned.meta_mut().resource_version = None;
        superseded.replaced(&unversioned);
        assert!(!superseded.behind(&unversioned));
    }

    #[test]
    fn a_status_that_passed_through_another_keeps_its_transition_time() {
        use crate::api::common::{Condition, SYNCED, find_condition};
        use k8s_openapi::jiff::{SignedDuration, Timestamp};
        let then = Timestamp::UNIX_EPOCH;
        let failed = |at| Condition::new(SYNCED, false, "VMError", "vm 1 is in ERROR", Some(1), at);
        let mut stored = LunaVM::new("web", LunaVMSpec::new("web", "m.1", "ubuntu"));
        let mut status = LunaVMStatus::default();
        status.managed.conditions = vec![failed(then)];
        stored.status = Some(status.clone());
        // The reconcile set Synced=True early, then found the failure again: no transition.
        let later = then.checked_add(SignedDuration::from_hours(1)).unwrap();
        status.managed.conditions = vec![failed(later)];
        super::settle(&mut status, &stored);
        let synced = find_condition(&status.managed.conditions, SYNCED).unwrap();
        assert_eq!(synced.last_transition_time.0, then);
        // A real transition keeps its own time.
        let mut recovered = LunaVMStatus::default();
        recovered.managed.conditions = vec![Condition::new(
            SYNCED,
            true,
            "ReconcileSuccess",
            "ok",
            Some(1),
            later,
        )];
        super::settle(&mut recovered, &stored);
        let synced = find_condition(&recovered.managed.conditions, SYNCED).unwrap();
        assert_eq!(synced.last_transition_time.0, later);
    }

    #[tokio::test]
    async fn one_claim_decision_of_a_kind_at_a_time() {
        let registry = Registry::default();
        let held = registry.claim_lock::<LunaVM>().lock_owned().await;
        // A second decision of the kind waits for the first to record its ID.
        assert!(registry.claim_lock::<LunaVM>().try_lock_owned().is_err());
        // Another kind's does not.
        assert!(registry.claim_lock::<LunaVolume>().try_lock_owned().is_ok());
        drop(held);
        assert!(registry.claim_lock::<LunaVM>().try_lock_owned().is_ok());
    }

    #[test]
    fn only_an_object_holding_nothing_skips_the_finalizer_write() {
        let fresh = LunaVM::new("web", LunaVMSpec::new("web", "m.1", "ubuntu"));
        assert!(fresh_without_finalizer(&fresh));

        let mut finalized = fresh.clone();
        finalized.meta_mut().finalizers = Some(vec![LunaVM::finalizer()]);
        assert!(!fresh_without_finalizer(&finalized));

        // Another controller's finalizer does not count as ours.
        let mut foreign = fresh.clone();
        foreign.meta_mut().finalizers = Some(vec!["example.com/keep".to_owned()]);
        assert!(fresh_without_finalizer(&foreign));

        for annotation in [
            "lunanode.com/external-id",
            "lunanode.com/account",
            "lunanode.com/create-pending",
        ] {
            let mut recorded = fresh.clone();
            recorded.meta_mut().annotations =
                Some(BTreeMap::from([(annotation.to_owned(), "x".to_owned())]));
            assert!(!fresh_without_finalizer(&recorded), "{annotation}");
        }

        let mut with_id = fresh.clone();
        let mut status = LunaVMStatus::default();
        status.set_id(Some("vm-1".into()));
        with_id.status = Some(status);
        assert!(!fresh_without_finalizer(&with_id));

        let mut paused = fresh.clone();
        paused.meta_mut().annotations = Some(BTreeMap::from([(
            "lunanode.com/paused".to_owned(),
            "true".to_owned(),
        )]));
        assert!(!fresh_without_finalizer(&paused));

        let mut deleting = fresh.clone();
        deleting.meta_mut().deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        assert!(!fresh_without_finalizer(&deleting));
    }

    #[test]
    fn cached_objects_lose_the_apply_bookkeeping_and_keep_the_identity() {
        let mut vm = LunaVM::new("web", LunaVMSpec::new("web", "m.1", "ubuntu"));
        vm.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        vm.metadata.annotations = Some(BTreeMap::from([
            (
                "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
                "{\"spec\":{}}".to_owned(),
            ),
            ("lunanode.com/external-id".to_owned(), "vm-1".to_owned()),
        ]));
        compact(&mut vm);
        assert_eq!(vm.metadata.managed_fields, None);
        let annotations = vm.metadata.annotations.unwrap();
        assert_eq!(annotations.len(), 1);
        assert_eq!(annotations["lunanode.com/external-id"], "vm-1");
    }
}
