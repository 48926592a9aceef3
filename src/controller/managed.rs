//! The controller skeleton every kind runs on.
//!
//! [`run`] drives one kind: the watch, the finalizer, the pause annotation, credentials, the
//! conditional status write at the end of each reconcile, the Synced condition on failure,
//! per-object backoff, metrics, and wake-ups (credentials Secret changes, list-cache drift,
//! referenced objects). A kind supplies the two steps that differ, [`Reconciler::apply`] and
//! [`Reconciler::cleanup`].
//!
//! Most kinds share more than that: observe through a list cache, adopt by `import.id`, create
//! crash-safely, update, delete and wait for the list to confirm. Those implement [`External`]
//! and delegate to [`apply_external`] and [`cleanup_external`]; LunaVM keeps its own steps
//! (it follows builds and power changes through `vm info`).

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
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    Api, Resource, ResourceExt,
    runtime::{
        Controller,
        controller::Action,
        finalizer::{Event as FinalizerEvent, finalizer},
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use tokio::sync::mpsc;

use super::{
    Context,
    accounts::{Account, CredentialsError},
    error::{Error, requeue},
    list_cache::{ListCache, Snapshot},
    report::{event, key, write_status},
};
use crate::{
    api::common::{
        Condition, DeletionPolicy, ManagedResource, ManagedStatus, ManagementPolicy, PendingCreate,
        READY, SYNCED, is_condition_true,
    },
    lunanode,
};

/// One kind's reconcile steps.
pub trait Reconciler: ManagedResource {
    /// The kind, for logs, metrics and messages.
    const KIND: &'static str;

    /// Brings the cloud toward the spec. Called with the account resolved and the object not
    /// paused; sets conditions on `status` (the driver writes it afterwards).
    fn apply(
        object: &Self,
        status: &mut Self::Status,
        account: &Arc<Account>,
        cx: &Cx<'_, Self>,
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
}

/// The `apply` and `cleanup` of a [`Reconciler`] whose steps are all the standard ones of
/// [`External`]: write `external_steps!();` in its `impl Reconciler` block.
macro_rules! external_steps {
    () => {
        async fn apply(
            object: &Self,
            status: &mut <Self as $crate::api::common::ManagedResource>::Status,
            account: &std::sync::Arc<$crate::controller::accounts::Account>,
            cx: &$crate::controller::managed::Cx<'_, Self>,
        ) -> Result<kube::runtime::controller::Action, $crate::controller::error::Error> {
            $crate::controller::managed::apply_external(object, status, account, cx).await
        }

        async fn cleanup(
            object: &Self,
            cx: &$crate::controller::managed::Cx<'_, Self>,
        ) -> Result<kube::runtime::controller::Action, $crate::controller::error::Error> {
            $crate::controller::managed::cleanup_external(object, cx).await
        }
    };
}
pub(crate) use external_steps;

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
}

impl<K: ManagedResource> Cx<'_, K> {
    /// Writes `status` now (before a cloud call whose outcome must survive a crash, such as the
    /// intent to create). Later writes in the same reconcile start from the written object.
    pub async fn save(&self, object: &K, status: &K::Status) -> Result<(), Error> {
        let base = self.latest(object);
        let written = write_status(self.api, &base, base.managed_status(), status).await?;
        if let Some(written) = written {
            *self
                .written
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(written);
        }
        Ok(())
    }

    fn latest(&self, object: &K) -> K {
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

/// The object caches of the running controllers and their wake-up channels, by kind.
#[derive(Default)]
pub struct Registry {
    entries: Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
}

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
        for object in self.store.state() {
            if object
                .status_id()
                .is_some_and(|id| ids.iter().any(|changed| changed == id))
            {
                self.wake(&object);
            }
        }
    }

    /// Whether another object of the kind already holds the cloud ID `id`.
    pub fn claimed_by_other(&self, id: &str, uid: &str) -> bool {
        self.store
            .state()
            .iter()
            .any(|object| object.uid().as_deref() != Some(uid) && object.status_id() == Some(id))
    }
}

impl Registry {
    fn insert<K: ManagedResource>(&self, waker: Waker<K>) {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(TypeId::of::<K>(), Box::new(waker));
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

/// The API of kind `K` over the namespaces the operator watches.
pub fn scoped<K: ManagedResource>(ctx: &Context) -> Api<K> {
    match &ctx.config.namespace {
        Some(namespace) => Api::namespaced(ctx.kube.clone(), namespace),
        None => Api::all(ctx.kube.clone()),
    }
}

/// Runs the controller of kind `K` until `shutdown` completes.
pub async fn run<K: Reconciler>(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    readiness: Arc<Readiness>,
) {
    let controller = Controller::new(scoped::<K>(&ctx), watcher::Config::default().any_semantic());
    let store = controller.store();
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
            readiness.synced();
            loop {
                let objects = store.state();
                let ready = objects
                    .iter()
                    .filter(|object| is_condition_true(object.conditions(), READY))
                    .count();
                metrics.managed(K::KIND, ready, objects.len() - ready);
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
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile error");
            }
        })
        .await;
}

/// The backoff key of an object: kinds may share names.
fn backoff_key<K: Reconciler>(object: &K) -> String {
    format!("{}/{}", K::KIND, key(object))
}

async fn reconcile<K: Reconciler>(object: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = object.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &namespace);
    let backoff = backoff_key(&*object);
    let started = Instant::now();
    let cx = Cx {
        ctx: &ctx,
        api: &api,
        object: key(&*object),
        written: Mutex::default(),
    };
    // Credentials finalizer: what a released object needs to let go of its Secret.
    let deleting = object.meta().deletion_timestamp.is_some().then(|| {
        (
            object.uid().unwrap_or_default(),
            object.credentials_secret_name().to_owned(),
        )
    });
    let result = finalizer(&api, &K::finalizer(), object, |event| async {
        match event {
            FinalizerEvent::Apply(object) => apply::<K>(object, &cx).await,
            FinalizerEvent::Cleanup(object) => K::cleanup(&object, &cx).await,
        }
    })
    .await
    .map_err(|error| Error::Finalizer(Box::new(error)));
    // Credentials finalizer: a deleted object whose finalizer is gone no longer needs its
    // Secret. On failure the sweep (`credentials::sweep`) catches it later.
    if let (Ok(_), Some((uid, secret))) = (&result, &deleting) {
        if let Err(error) =
            super::credentials::release_if_unused(&ctx, &namespace, secret, uid).await
        {
            tracing::debug!(%error, "unable to release the credentials secret");
        }
    }
    if result.is_ok() {
        ctx.backoff.reset(&backoff);
    }
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => error.category(),
    };
    ctx.metrics.reconciled(K::KIND, outcome, started.elapsed());
    result
}

fn error_policy<K: Reconciler>(object: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
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
            stuck(&mut status, &*object, "AuthenticationFailed", &message);
            Ok(Action::requeue(Duration::from_secs(3600)))
        }
        Err(error) => {
            // A retryable failure: say so in Synced, keep the rest of the status.
            set(
                &mut status,
                &*object,
                SYNCED,
                false,
                error.category_reason(),
                &error.to_string(),
            );
            Err(error)
        }
    };
    let base = cx.latest(&object);
    match status_after {
        Ok(action) => {
            write_status(cx.api, &base, base.managed_status(), &status).await?;
            Ok(action)
        }
        Err(error) => {
            // Best effort: from a stale copy this write conflicts, and the retry reports.
            if let Err(write_error) =
                write_status(cx.api, &base, base.managed_status(), &status).await
            {
                tracing::debug!(error = %write_error, "unable to report the failure");
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
        set(
            status,
            object,
            SYNCED,
            false,
            "ReconcilePaused",
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
        Ok(account) => account,
        Err(error) => {
            let reason = match error {
                CredentialsError::NotReady { .. } => "CredentialsUnavailable",
                _ => "CredentialsInvalid",
            };
            set(status, object, READY, false, reason, &error.to_string());
            set(status, object, SYNCED, false, reason, &error.to_string());
            // The Secret watch wakes this object when the Secret appears or changes.
            return Ok(match error {
                CredentialsError::NotReady { .. } => Action::requeue(Duration::from_secs(30)),
                _ => Action::await_change(),
            });
        }
    };
    // Credentials finalizer: the Secret stays while this object may write to the cloud.
    super::credentials::hold(cx.ctx, &namespace, object.credentials_secret_name()).await?;
    K::apply(object, status, &account, cx).await
}

/// Sets a condition of `status`, stamped with the object's generation.
pub fn set<K: ManagedResource>(
    status: &mut K::Status,
    object: &K,
    kind: &str,
    ok: bool,
    reason: &str,
    message: &str,
) {
    crate::api::common::set_condition(
        status.conditions_mut(),
        Condition::new(
            kind,
            ok,
            reason,
            message,
            object.meta().generation,
            Timestamp::now(),
        ),
    );
}

/// Sets Ready and Synced false with the same reason: a terminal state until the spec changes.
pub fn stuck<K: ManagedResource>(status: &mut K::Status, object: &K, reason: &str, message: &str) {
    set(status, object, READY, false, reason, message);
    set(status, object, SYNCED, false, reason, message);
}

/// A cloud error, with the action and the object.
pub fn cloud(action: &'static str, object: &str, source: lunanode::Error) -> Error {
    Error::Cloud {
        action,
        object: object.to_owned(),
        source,
    }
}

/// A referenced object of kind `T`, as its controller last saw it.
pub enum Reference<T> {
    /// It exists and has a cloud ID.
    Ready {
        /// Its cloud ID.
        id: String,
        /// The object.
        object: Arc<T>,
    },
    /// It exists but has no cloud ID yet (or is being deleted): wait.
    Waiting(String),
    /// It does not exist.
    Missing(String),
}

/// Looks up `name` of kind `T` in `namespace` in its controller's cache.
pub fn resolve<T: Reconciler>(ctx: &Context, namespace: &str, name: &str) -> Reference<T> {
    let found = ctx
        .registry
        .objects::<T>(namespace)
        .into_iter()
        .find(|object| object.name_any() == name);
    match found {
        None => Reference::Missing(format!("{} {namespace}/{name} does not exist", T::KIND)),
        Some(object) if object.meta().deletion_timestamp.is_some() => {
            Reference::Waiting(format!("{} {namespace}/{name} is being deleted", T::KIND))
        }
        Some(object) => match object.status_id() {
            Some(id) => Reference::Ready {
                id: id.to_owned(),
                object: object.clone(),
            },
            None => Reference::Waiting(format!(
                "{} {namespace}/{name} has no cloud object yet",
                T::KIND
            )),
        },
    }
}

/// The objects of kind `R` in `namespace` that name `name` through `refers` and are not gone:
/// the holders that keep a referenced object from being deleted. Read from the API server, not
/// from a watch cache: the wake-up that follows a holder's removal comes from another watch, and
/// a cache that has not seen the removal yet would hold the object back until the next retry.
pub async fn holders<R: Reconciler>(
    ctx: &Context,
    namespace: &str,
    name: &str,
    refers: impl Fn(&R) -> Vec<String>,
) -> Result<Vec<String>, Error> {
    let api: Api<R> = Api::namespaced(ctx.kube.clone(), namespace);
    let listed = api
        .list(&kube::api::ListParams::default())
        .await
        .map_err(|source| Error::Kube {
            action: "list referrers",
            object: format!("{namespace}/{name}"),
            source: Box::new(source),
        })?;
    Ok(listed
        .items
        .iter()
        .filter(|holder| refers(holder).iter().any(|target| target == name))
        .map(|holder| format!("{} {}", R::KIND, key(holder)))
        .collect())
}

/// Maps a change of a referrer `R` to the objects of kind `K` it names (for `watches`).
pub fn referenced<K: Reconciler, R: ManagedResource>(
    refers: impl Fn(&R) -> Vec<String> + Send + Sync + 'static,
) -> impl Fn(R) -> Vec<ObjectRef<K>> + Send + Sync + 'static {
    move |referrer: R| {
        let namespace = referrer.namespace().unwrap_or_default();
        refers(&referrer)
            .into_iter()
            .map(|name| ObjectRef::new(&name).within(&namespace))
            .collect()
    }
}

/// Maps a change of a referenced object `T` to the objects of kind `K` that name it.
pub fn referrers<K: Reconciler, T: ManagedResource>(
    ctx: &Arc<Context>,
    refers: impl Fn(&K) -> Vec<String> + Send + Sync + 'static,
) -> impl Fn(T) -> Vec<ObjectRef<K>> + Send + Sync + 'static {
    let ctx = ctx.clone();
    move |target: T| {
        let namespace = target.namespace().unwrap_or_default();
        let name = target.name_any();
        ctx.registry
            .objects::<K>(&namespace)
            .into_iter()
            .filter(|object| refers(object).contains(&name))
            .map(|object| ObjectRef::from_obj(&*object))
            .collect()
    }
}

/// A kind whose cloud object is observed through a list cache and created, updated and deleted
/// by the standard steps of [`apply_external`] and [`cleanup_external`].
pub trait External: Reconciler {
    /// The cloud object as listed.
    type Observed: Clone + PartialEq + Send + Sync + 'static;
    /// What a create needs once resolved (IDs of references, image IDs, ...).
    type Plan: Send + Sync;

    /// The list cache this object is observed through (per region or account-wide).
    fn cache(&self, account: &Account) -> Arc<ListCache<Self::Observed>>;

    /// The name a lost create is found by, recorded before the create.
    fn create_name(&self) -> String;

    /// Whether `observed` could be what a create of this object made, named `name`.
    fn is_create_of(&self, name: &str, observed: &Self::Observed) -> bool;

    /// Resolves what the create needs; `Err(Blocked)` stops with a condition.
    fn plan(
        &self,
        account: &Arc<Account>,
        cx: &Cx<'_, Self>,
    ) -> impl Future<Output = Result<Result<Self::Plan, Blocked>, Error>> + Send;

    /// Creates the cloud object; returns its ID.
    fn create(
        &self,
        plan: Self::Plan,
        account: &Arc<Account>,
    ) -> impl Future<Output = Result<String, lunanode::Error>> + Send;

    /// After a create or an adoption: records what was applied.
    fn created(&self, _status: &mut Self::Status) {}

    /// Reports the observed object in the status (`atProvider` and friends).
    fn report(&self, status: &mut Self::Status, observed: &Self::Observed);

    /// The cloud object exists: bring it toward the spec (at most a few writes) and set Ready.
    /// The driver has set Synced true before the call; a step may set it false. After a cloud
    /// write, call [`ListCache::wrote`] so that the next reconcile observes a list made after
    /// it.
    fn sync(
        &self,
        status: &mut Self::Status,
        observed: &Self::Observed,
        account: &Arc<Account>,
        cx: &Cx<'_, Self>,
    ) -> impl Future<Output = Result<Action, Error>> + Send;

    /// Other managed objects that use this one: its deletion waits for them.
    fn holders(&self, _ctx: &Context) -> impl Future<Output = Result<Vec<String>, Error>> + Send {
        async { Ok(Vec::new()) }
    }

    /// Deletes the cloud object (or takes the step before it, such as a detach). The driver
    /// keeps the finalizer until a list no longer shows the object.
    fn delete(
        &self,
        observed: &Self::Observed,
        account: &Arc<Account>,
        cx: &Cx<'_, Self>,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Why a create cannot start yet: a condition, and when to look again.
#[derive(Debug, Clone)]
pub struct Blocked {
    /// CamelCase condition reason.
    pub reason: &'static str,
    /// The message.
    pub message: String,
    /// When to look again (`None`: when the object or a referenced one changes).
    pub retry: Option<Duration>,
}

impl Blocked {
    /// Blocked until something changes.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry: None,
        }
    }

    /// Blocked until `retry` has passed (or something changes).
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    fn apply<K: ManagedResource>(self, status: &mut K::Status, object: &K) -> Action {
        stuck(status, object, self.reason, &self.message);
        match self.retry {
            Some(retry) => Action::requeue(retry),
            None => Action::await_change(),
        }
    }
}

/// The standard apply: observe, adopt, create or sync.
pub async fn apply_external<K: External>(
    object: &K,
    status: &mut K::Status,
    account: &Arc<Account>,
    cx: &Cx<'_, K>,
) -> Result<Action, Error> {
    let uid = object.uid().unwrap_or_default();
    let cache = object.cache(account);
    if let Some(waker) = cx.ctx.registry.waker::<K>() {
        cache.set_listener_if_absent(Arc::new(move |ids| waker.wake_ids(ids)));
    }
    let timing = cx.ctx.accounts.timing();
    // A reconcile happens on a change (of the object, a referenced object, or the list): act on
    // a list at most `fast_interval` old. Concurrent reconciles share one list call.
    let snapshot = cache
        .observe(&uid, timing.fast_interval)
        .await
        .map_err(|source| cloud("list", &cx.object, source))?;

    let Some(id) = status.id().map(str::to_owned) else {
        return find_or_create(object, status, account, cx, &cache).await;
    };
    let Some(observed) = confirm(&cache, &snapshot, &id)
        .await
        .map_err(|source| cloud("list", &cx.object, source))?
    else {
        // Gone from the cloud: deleted outside the operator.
        cache.track(&uid, false);
        if object.management_policy() == ManagementPolicy::ObserveOnly {
            let message = format!("{id} no longer exists");
            set(status, object, READY, false, "NotFound", &message);
            set(status, object, SYNCED, true, "Observed", "observed");
            return Ok(Action::await_change());
        }
        cx.event(
            object,
            true,
            "ExternallyDeleted",
            "Observe",
            format!("{id} disappeared from the account; creating it again"),
        )
        .await;
        status.set_id(None);
        return Ok(Action::requeue(Duration::from_millis(100)));
    };
    object.report(status, &observed);
    if object.management_policy() == ManagementPolicy::ObserveOnly {
        set(status, object, READY, true, "Observed", "observed");
        set(status, object, SYNCED, true, "Observed", "observed");
        cache.track(&uid, false);
        return Ok(Action::await_change());
    }
    set(
        status,
        object,
        SYNCED,
        true,
        "ReconcileSuccess",
        "the last reconcile succeeded",
    );
    let action = object.sync(status, &observed, account, cx).await?;
    let ready = is_condition_true(status.conditions(), READY);
    cache.track(&uid, !ready);
    Ok(action)
}

/// The entry `id` from the snapshot or, when the snapshot lacks it (it may predate a create),
/// from a list fetched now: an object is only ever taken as gone on fresh evidence.
pub async fn confirm<T: Clone + PartialEq + Send + Sync + 'static>(
    cache: &ListCache<T>,
    snapshot: &Snapshot<T>,
    id: &str,
) -> Result<Option<T>, lunanode::Error> {
    if let Some(found) = cache.lookup(snapshot, id) {
        return Ok(Some(found));
    }
    let fresh = cache.get_after(Instant::now()).await?;
    Ok(cache.lookup(&fresh, id))
}

async fn find_or_create<K: External>(
    object: &K,
    status: &mut K::Status,
    account: &Arc<Account>,
    cx: &Cx<'_, K>,
    cache: &Arc<ListCache<K::Observed>>,
) -> Result<Action, Error> {
    let uid = object.uid().unwrap_or_default();
    let timing = cx.ctx.accounts.timing();

    // Explicit adoption.
    if let Some(import_id) = object.import_id().map(str::to_owned) {
        let snapshot = cache
            .get(timing.fast_interval)
            .await
            .map_err(|source| cloud("list", &cx.object, source))?;
        if confirm(cache, &snapshot, &import_id)
            .await
            .map_err(|source| cloud("list", &cx.object, source))?
            .is_none()
        {
            let message = format!(
                "{import_id} named by spec.import.id does not exist on the account of the credentials"
            );
            stuck(status, object, "ImportNotFound", &message);
            return Ok(Action::await_change());
        }
        let claimed = cx
            .ctx
            .registry
            .waker::<K>()
            .is_some_and(|waker| waker.claimed_by_other(&import_id, &uid));
        if claimed {
            let message = format!("{import_id} is already managed by another {}", K::KIND);
            stuck(status, object, "AlreadyManaged", &message);
            return Ok(Action::await_change());
        }
        status.set_id(Some(import_id.clone()));
        object.created(status);
        cx.event(
            object,
            false,
            "Adopted",
            "Import",
            format!("adopted existing {import_id}"),
        )
        .await;
        return Ok(Action::requeue(Duration::from_millis(100)));
    }
    if object.management_policy() == ManagementPolicy::ObserveOnly {
        stuck(
            status,
            object,
            "NothingToObserve",
            "ObserveOnly needs spec.import.id: the operator never creates in this mode",
        );
        return Ok(Action::await_change());
    }

    // The API refused a create for this very spec: wait for the spec to change or for a
    // reconcile request.
    let refused = status.conditions().iter().any(|c| {
        c.type_ == SYNCED
            && !c.is_true()
            && c.reason == "CreateFailed"
            && c.observed_generation == object.meta().generation
    });
    let requested_again = object
        .reconcile_requested_at()
        .is_some_and(|requested| status.last_reconcile_request() != Some(requested));
    if refused && !requested_again {
        return Ok(Action::await_change());
    }

    // An earlier create may have happened without its answer reaching us: look first.
    if let Some(pending) = status.pending_create().cloned() {
        let snapshot = cache
            .get_after(Instant::now())
            .await
            .map_err(|source| cloud("list", &cx.object, source))?;
        let waker = cx.ctx.registry.waker::<K>();
        let mut candidates: Vec<(&String, &K::Observed)> = snapshot
            .entries
            .iter()
            .filter(|(id, observed)| {
                object.is_create_of(&pending.name, observed)
                    && !pending.preexisting.contains(id)
                    && waker
                        .as_ref()
                        .is_none_or(|waker| !waker.claimed_by_other(id, &uid))
            })
            .collect();
        candidates.sort_by_key(|(id, _)| id.as_str());
        match candidates.as_slice() {
            [(found, _)] => {
                let found = (*found).clone();
                status.set_pending_create(None);
                status.set_id(Some(found.clone()));
                object.created(status);
                cx.event(
                    object,
                    false,
                    "CreateRecovered",
                    "Create",
                    format!("found {found} created by an earlier attempt"),
                )
                .await;
                cache.track(&uid, true);
                return Ok(Action::requeue(Duration::from_millis(100)));
            }
            [] => {}
            many => {
                let ids: Vec<&str> = many.iter().map(|(id, _)| id.as_str()).collect();
                let message = format!(
                    "failed to tell which object an interrupted create made: {} match {} ({}); set spec.import.id to the right one and delete the others",
                    ids.len(),
                    pending.name,
                    ids.join(", ")
                );
                stuck(status, object, "AmbiguousCreate", &message);
                cx.event(object, true, "AmbiguousCreate", "Create", message)
                    .await;
                return Ok(Action::await_change());
            }
        }
    }

    let plan = match object.plan(account, cx).await? {
        Ok(plan) => plan,
        Err(blocked) => return Ok(blocked.apply(status, object)),
    };
    let snapshot = cache
        .get(timing.fast_interval)
        .await
        .map_err(|source| cloud("list", &cx.object, source))?;
    let name = object.create_name();
    let mut preexisting: Vec<String> = snapshot
        .entries
        .iter()
        .filter(|(_, observed)| object.is_create_of(&name, observed))
        .map(|(id, _)| id.clone())
        .collect();
    preexisting.sort();
    // Record the intent first: if the answer is lost, the next reconcile looks the object up
    // instead of creating a second one.
    status.set_pending_create(Some(PendingCreate {
        started_at: Time(Timestamp::now()),
        name: name.clone(),
        preexisting,
    }));
    cx.save(object, status).await?;

    tracing::info!(object = %cx.object, kind = K::KIND, name = %name, "creating");
    match object.create(plan, account).await {
        Ok(id) => {
            status.set_pending_create(None);
            status.set_id(Some(id.clone()));
            object.created(status);
            set(
                status,
                object,
                READY,
                false,
                "Creating",
                &format!("{id} was created"),
            );
            set(
                status,
                object,
                SYNCED,
                true,
                "Created",
                &format!("created {id}"),
            );
            cache.track(&uid, true);
            cx.event(object, false, "Created", "Create", format!("created {id}"))
                .await;
            Ok(Action::requeue(Duration::from_millis(100)))
        }
        Err(error) if !error.may_have_taken_effect() && !error.is_retryable() => {
            // The API refused: nothing was created. Terminal until the spec changes.
            status.set_pending_create(None);
            let message = error.to_string();
            stuck(status, object, "CreateFailed", &message);
            cx.event(object, true, "CreateFailed", "Create", message)
                .await;
            Ok(Action::await_change())
        }
        // Unknown outcome: keep the pending mark; the retry looks before it creates.
        Err(error) => Err(cloud("create", &cx.object, error)),
    }
}

/// Keeps a deletion waiting while `holders` (other managed objects that name this one) exist:
/// says so in the Ready condition (reason `InUse`) and returns [`Error::InUse`], which keeps the
/// finalizer. The holders' own changes wake the object.
pub async fn wait_for_holders<K: ManagedResource>(
    object: &K,
    status: &K::Status,
    cx: &Cx<'_, K>,
    holders: Vec<String>,
) -> Result<(), Error> {
    if holders.is_empty() {
        return Ok(());
    }
    let holders = holders.join(", ");
    let mut blocked = status.clone();
    let message = format!("deletion waits: in use by {holders}");
    set(&mut blocked, object, READY, false, "InUse", &message);
    if let Err(error) = cx.save(object, &blocked).await {
        tracing::debug!(%error, "unable to report the in-use state");
    }
    Err(Error::InUse {
        object: cx.object.clone(),
        holders,
    })
}

/// The standard cleanup: delete unless the policy keeps the cloud object, wait for the objects
/// that use it, and release the finalizer only when a list no longer shows it.
pub async fn cleanup_external<K: External>(object: &K, cx: &Cx<'_, K>) -> Result<Action, Error> {
    let uid = object.uid().unwrap_or_default();
    if object.deletion_policy() == DeletionPolicy::Orphan
        || object.management_policy() == ManagementPolicy::ObserveOnly
    {
        return Ok(Action::await_change());
    }
    if object.is_paused() {
        // Paused means no writes at all: the finalizer stays until the pause ends.
        return Err(Error::Paused {
            object: cx.object.clone(),
        });
    }
    let status = object.managed_status().cloned().unwrap_or_default();
    if status.id().is_none() && status.pending_create().is_none() {
        return Ok(Action::await_change());
    }
    wait_for_holders(object, &status, cx, object.holders(cx.ctx).await?).await?;
    let namespace = object.namespace().unwrap_or_default();
    let account = cx
        .ctx
        .accounts
        .get_for_cleanup(&namespace, object.credentials_secret_name())
        .await
        .map_err(|source| Error::Credentials {
            object: cx.object.clone(),
            source,
        })?;
    let cache = object.cache(&account);
    let snapshot = cache
        .observe(&uid, cx.ctx.accounts.timing().min_interval)
        .await
        .map_err(|source| cloud("list", &cx.object, source))?;
    let id = match status.id() {
        Some(id) => Some(id.to_owned()),
        // A create that may have happened: find it so that it does not leak.
        None => status.pending_create().and_then(|pending| {
            let mut found: Vec<&String> = snapshot
                .entries
                .iter()
                .filter(|(id, observed)| {
                    object.is_create_of(&pending.name, observed)
                        && !pending.preexisting.contains(id)
                })
                .map(|(id, _)| id)
                .collect();
            found.sort();
            (found.len() == 1).then(|| found[0].clone())
        }),
    };
    let Some(observed) = id.as_ref().and_then(|id| cache.lookup(&snapshot, id)) else {
        cache.untrack(&uid);
        return Ok(Action::await_change());
    };
    let id = id.unwrap_or_default();
    object.delete(&observed, &account, cx).await?;
    cache.wrote(&uid);
    cache.track(&uid, true);
    // The finalizer goes only when a later list confirms the object is gone.
    Err(Error::DeletionInProgress {
        object: cx.object.clone(),
        id,
    })
}
