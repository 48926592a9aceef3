//! The standard steps of a kind whose cloud object is observed through a shared list cache:
//! check the account and the recorded identity, observe, confirm an absence before acting on
//! it, then report and sync. Creating and adoption are in [`super::create`], deletion in
//! [`super::cleanup`].

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use kube::{
    ResourceExt,
    runtime::{Controller, controller::Action},
};

use super::{
    cleanup::cleanup_external,
    create::find_or_create,
    driver::{CloudCx, Cx, Reconciler, cloud, mark, stuck},
    ownership::{self, AccountCheck, Identity, Presence},
};
use crate::controller::reason::{Reason, is_stalled};
use crate::{
    api::common::{
        ManagedResource, ManagedStatus, ManagementPolicy, READY, SYNCED, is_condition_true,
    },
    controller::{
        Context,
        accounts::Account,
        error::Error,
        list_cache::{CacheTiming, ListCache, Snapshot},
    },
    lunanode::{self, Client},
};

/// What a read of one cloud object found.
#[derive(Debug, Clone)]
pub enum Read<T> {
    /// It exists.
    Found(T),
    /// The API says it does not exist.
    Gone,
    /// The kind has no per-object read: only lists can tell.
    NoRead,
}

/// A kind whose cloud object is observed through a list cache and created, updated and deleted
/// by the standard steps of [`apply_external`] and [`cleanup_external`]: implementing this trait
/// is all a kind's controller is (it is then a [`Reconciler`]).
pub trait External: ManagedResource {
    /// The cloud object as listed.
    type Observed: Clone + PartialEq + Send + Sync + 'static;
    /// What a create needs once resolved (IDs of references, image IDs, ...).
    type Plan: Send + Sync;

    /// The list cache this object is observed through (per region or account-wide).
    fn cache(&self, account: &Account) -> Arc<ListCache<Self::Observed>>;

    /// Whether a reconcile acts on the kind's polled list as it is (`true`: however many
    /// objects there are, they cost one list per poll), or wants one at most a fast poll old
    /// (`false`, the default).
    const ACTS_ON_THE_POLL: bool = false;

    /// How old a list may be for a reconcile to act on it (after the object's own write, the
    /// cache insists on a list made after it anyway): see [`External::ACTS_ON_THE_POLL`].
    fn max_age(timing: &CacheTiming) -> Duration {
        if Self::ACTS_ON_THE_POLL {
            timing.slow_interval
        } else {
            timing.fast_interval
        }
    }

    /// How soon to look at a new object after its create.
    fn after_create(_timing: &CacheTiming) -> Duration {
        Duration::from_millis(100)
    }

    /// Synced=False reasons that stand, for the generation they were set at, until the
    /// manifest changes: a reconcile that merely finds nothing to do keeps them.
    const STANDING_FAILURES: &'static [Reason] = &[];

    /// The natural key: what a lost create is found by, recorded before the create, and what
    /// a new object must not silently duplicate.
    fn create_name(&self) -> String;

    /// The natural key of a create with `plan`: [`Self::create_name`] unless the key depends on
    /// what the plan resolved (a contact's address read from a Secret, recorded as a digest).
    fn create_name_for(&self, _plan: &Self::Plan) -> String {
        self.create_name()
    }

    /// Whether `observed` could be what a create of this object made, named `name`.
    fn is_create_of(&self, name: &str, observed: &Self::Observed) -> bool;

    /// Whether [`Self::create_name`] names one object (a hostname, a label). Kinds whose
    /// objects have no name (floating IPs) use it only to recover a lost create.
    fn has_natural_key(&self) -> bool {
        true
    }

    /// Resolves what the create needs; `Err(Blocked)` stops with a condition.
    fn plan(
        &self,
        cx: &CloudCx<'_, Self>,
    ) -> impl Future<Output = Result<Result<Self::Plan, Blocked>, Error>> + Send;

    /// Creates the cloud object; returns its ID.
    fn create(
        &self,
        plan: &Self::Plan,
        client: &Client,
    ) -> impl Future<Output = Result<String, lunanode::Error>> + Send;

    /// After a create (with its plan) or an adoption (without): records what was applied.
    fn created(&self, _status: &mut Self::Status, _plan: Option<&Self::Plan>, _account: &Account) {}

    /// Reads one cloud object by ID, for kinds whose API has a per-object read: the evidence
    /// that settles an absence from a list answer.
    fn read(
        &self,
        _id: &str,
        _client: &Client,
    ) -> impl Future<Output = Result<Read<Self::Observed>, lunanode::Error>> + Send {
        async { Ok(Read::NoRead) }
    }

    /// Whether the observed object is being deleted by the cloud already (after a delete the
    /// API accepted): the cleanup waits for it to go instead of sending another delete.
    fn is_being_deleted(&self, _observed: &Self::Observed) -> bool {
        false
    }

    /// The observed object, completed where the list lacks what matters (a per-object read
    /// after the operator's own write, for instance).
    fn refine(
        &self,
        observed: Self::Observed,
        _cx: &CloudCx<'_, Self>,
    ) -> impl Future<Output = Result<Self::Observed, Error>> + Send {
        async { Ok(observed) }
    }

    /// The cloud object was confirmed gone (deleted outside the operator): forget what was
    /// observed of it, so that nothing follows a stale address while a new one is made.
    fn forget_observed(&self, _status: &mut Self::Status) {}

    /// Reports the observed object in the status (`atProvider` and friends).
    fn report(&self, status: &mut Self::Status, observed: &Self::Observed);

    /// The cloud object exists: bring it toward the spec (at most a few writes) and set Ready.
    /// The driver has set Synced true before the call; a step may set it false. After a cloud
    /// write, call [`ListCache::wrote`] so that the next reconcile observes a list made after
    /// it.
    fn sync(&self, cx: SyncCx<'_, Self>) -> impl Future<Output = Result<Action, Error>> + Send;

    /// Other managed objects that use this one: its deletion waits for them.
    fn holders(&self, _ctx: &Context) -> impl Future<Output = Result<Vec<String>, Error>> + Send {
        async { Ok(Vec::new()) }
    }

    /// Deletes the cloud object (or takes the step before it, such as a detach). The driver
    /// keeps the finalizer until the object is confirmed gone.
    fn delete(
        &self,
        observed: &Self::Observed,
        cx: &CloudCx<'_, Self>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Adds watches of related kinds (references) to the controller: see
    /// [`Reconciler::configure`].
    fn configure(controller: Controller<Self>, _ctx: &Arc<Context>) -> Controller<Self> {
        controller
    }

    /// Whether the kind's list shows transitions worth a fast poll after a create or while the
    /// object is not Ready (a DNS zone exists once created, and waits on references, not on
    /// the list: no).
    const POLLS_TRANSITIONS: bool = true;

    /// The object is being deleted: forget what the kind remembers of it per account.
    fn forget(&self, _account: &Account) {}

    /// What the object's cloud object costs, in USD a month, as its status shows it.
    fn monthly_cost(&self) -> Option<f64> {
        None
    }

    /// A cleanup of the kind's own that replaces the standard one when it returns an action (a
    /// zone shared with records the operator does not own is kept, only its records removed).
    fn cleanup_instead(
        &self,
        _cx: &Cx<'_, Self>,
    ) -> impl Future<Output = Result<Option<Action>, Error>> + Send {
        async { Ok(None) }
    }
}

/// Why [`replace`] deletes a cloud object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replacement {
    /// It failed (`onError: Recreate`): a Warning Event with this reason, action `Delete`.
    Failed(Reason),
    /// Luna Node cannot change it into the spec: a Normal Event, `Replacing`, action `Update`.
    Unchangeable,
}

/// Deletes the cloud object so that the standard steps make it again, for the reason `why`
/// gives, which Ready and Synced say too. The next look waits for a list made after the
/// delete, and the standard steps confirm the object gone (a fresh read) before they create
/// the new one.
pub async fn replace<K: External>(
    object: &K,
    status: &mut K::Status,
    observed: &K::Observed,
    cx: &CloudCx<'_, K>,
    why: Replacement,
    message: String,
) -> Result<Action, Error> {
    let reason = match why {
        Replacement::Failed(reason) => {
            cx.warn(object, reason, "Delete", message.clone()).await;
            reason
        }
        Replacement::Unchangeable => {
            let reason = Reason::Replacing;
            cx.event(object, false, reason.as_str(), "Update", message.clone())
                .await;
            reason
        }
    };
    object.delete(observed, cx).await?;
    mark(status, object)
        .not_ready(reason, &message)
        .synced(reason, &message);
    let uid = object.uid().unwrap_or_default();
    let cache = object.cache(cx.account);
    cache.wrote(&uid);
    cache.track(&uid, true);
    Ok(Action::requeue(cx.ctx.accounts.timing().fast_interval))
}

/// What [`External::sync`] works with: the status it sets (written at the reconcile's end), the
/// cloud object as listed (and refined), and the reconcile's context. A kind takes it apart in
/// the signature: `SyncCx(status, observed, cx): SyncCx<'_, Self>`.
pub struct SyncCx<'a, K: External>(
    pub &'a mut K::Status,
    pub &'a K::Observed,
    pub &'a CloudCx<'a, K>,
);

/// The standard steps are an [`External`] kind's whole controller.
impl<K: External> Reconciler for K {
    async fn apply(
        object: &Self,
        status: &mut Self::Status,
        cx: &CloudCx<'_, Self>,
    ) -> Result<Action, Error> {
        let result = apply_external(object, status, cx).await;
        if !K::POLLS_TRANSITIONS {
            let uid = object.uid().unwrap_or_default();
            object.cache(cx.account).track(&uid, false);
        }
        result
    }

    async fn cleanup(object: &Self, cx: &Cx<'_, Self>) -> Result<Action, Error> {
        if let Some(account) = cx.existing_account(object) {
            object.forget(&account);
        }
        match object.cleanup_instead(cx).await? {
            Some(action) => Ok(action),
            None => cleanup_external(object, cx).await,
        }
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        <K as External>::configure(controller, ctx)
    }

    fn monthly_cost(&self) -> Option<f64> {
        <K as External>::monthly_cost(self)
    }

    async fn preview(
        object: &Self,
        status: &mut Self::Status,
        cx: &CloudCx<'_, Self>,
    ) -> Result<crate::controller::plan::Preview, Error> {
        crate::controller::plan::preview_external(object, status, cx).await
    }

    async fn preview_delete(
        object: &Self,
        cx: &CloudCx<'_, Self>,
    ) -> Result<crate::controller::plan::Preview, Error> {
        crate::controller::plan::preview_delete(object, cx).await
    }
}

/// How soon an object waiting for another one looks again if no change of that object woke it
/// (no cloud call: a waiting create stops before any).
pub const WAITING_RETRY: Duration = Duration::from_secs(30);

/// Why a create cannot start yet: a condition, and when to look again.
#[derive(Debug, Clone)]
pub struct Blocked {
    /// CamelCase condition reason.
    pub reason: Reason,
    /// The message.
    pub message: String,
    /// When to look again (`None`: when the object or a referenced one changes).
    pub retry: Option<Duration>,
    /// Waiting for something that comes by itself (a referenced object): Synced stays true.
    pub waiting: bool,
}

impl Blocked {
    /// Blocked until something changes.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry: None,
            waiting: false,
        }
    }

    /// Waiting for another object, which will come by itself: Ready is false, Synced true.
    /// The other object's change wakes this one at once; it also looks again after
    /// [`WAITING_RETRY`], since the wake can come before the other kind's cache holds the
    /// change (two watches, no order between them) and would then find it still waiting.
    pub fn waiting(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            waiting: true,
            retry: Some(WAITING_RETRY),
            ..Self::new(reason, message)
        }
    }

    /// Blocked until `retry` has passed (or something changes).
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    pub fn apply<K: ManagedResource>(self, status: &mut K::Status, object: &K) -> Action {
        if self.waiting {
            mark(status, object)
                .not_ready(self.reason, &self.message)
                .synced(self.reason, &self.message);
        } else {
            stuck(status, object, self.reason, &self.message);
        }
        match self.retry {
            Some(retry) => Action::requeue(retry),
            None => Action::await_change(),
        }
    }
}

/// The standard apply: check the account, restore a lost status from the metadata, observe,
/// then adopt, create or sync.
pub async fn apply_external<K: External>(
    object: &K,
    status: &mut K::Status,
    cx: &CloudCx<'_, K>,
) -> Result<Action, Error> {
    let uid = object.uid().unwrap_or_default();
    let cache = object.cache(cx.account);
    if let Some(waker) = cx.ctx.registry.waker::<K>() {
        cache.set_listener_if_absent(Arc::new(move |ids| waker.wake_ids(ids)));
    }
    let mut identity = Identity::of(object);
    let held = status
        .id()
        .map(str::to_owned)
        .or(identity.external_id.clone());
    match ownership::check_account(
        identity.account.as_deref(),
        &cx.account.api_id,
        object.import_id(),
        held.as_deref(),
    ) {
        AccountCheck::Fits => {}
        AccountCheck::Changed { recorded } => {
            let message = format!(
                "the credentials now point at Luna Node account {}, but the cloud object{} was made in account {recorded}: nothing is created or deleted in either; point spec.credentialsSecretRef back at the old account, or set spec.import.id to an object of the new account to adopt it",
                cx.account.api_id,
                held.as_ref().map(|id| format!(" {id}")).unwrap_or_default(),
            );
            stuck(status, object, Reason::AccountChanged, &message);
            cache.untrack(&uid);
            return Ok(Action::await_change());
        }
        AccountCheck::Reimport => {
            // The user adopts an object of the new account: the old identity goes.
            status.set_id(None);
            status.set_pending_create(None);
            identity = Identity::default();
            cx.save_identity(object, &identity, true).await?;
        }
    }

    // A status lost (a restore, a copy into another cluster): the metadata still knows. Or only
    // this copy is behind: a create writes the ID into the metadata first and into the status
    // next, and the watch may deliver the object between the two. Read the object itself before
    // taking the status as lost (one read, where acting on the stale copy cost a conflicting
    // status write, a retry and a false Event).
    if status.id().is_none() {
        if identity.external_id.is_some() && cx.behind(object).await? {
            return Ok(Action::requeue(super::driver::STALE_RETRY));
        }
        if let Some(id) = identity.external_id.clone() {
            status.set_id(Some(id.clone()));
            status.set_pending_create(None);
            object.created(status, None, cx.account);
            cx.event(
                object,
                false,
                "IdentityRestored",
                "Observe",
                format!("{id} recorded in the object's metadata is its cloud object"),
            )
            .await;
        } else if status.pending_create().is_none() {
            status.set_pending_create(identity.pending.clone());
        }
    }

    // No ID: adopt, recover or create, each with the lists it needs (a create blocked on a
    // reference or an image lists nothing).
    let Some(id) = status.id().map(str::to_owned) else {
        return find_or_create(object, status, cx, &cache).await;
    };
    let timing = cx.ctx.accounts.timing();
    // A reconcile happens on a change (of the object, a referenced object, or the list): act on
    // a list young enough. Concurrent reconciles share one list call.
    let snapshot = cache
        .observe(&uid, K::max_age(timing))
        .await
        .map_err(|source| cloud("list", &cx.object, source))?;
    // Objects from before identities were recorded, and adoptions: write it down.
    if identity.external_id.as_deref() != Some(id.as_str()) || identity.account.is_none() {
        let recorded = Identity {
            external_id: Some(id.clone()),
            account: Some(cx.account.api_id.clone()),
            pending: None,
        };
        cx.save_identity(object, &recorded, false).await?;
    }
    // Re-creating on an absence in lists alone waits out a list behind a recent create.
    let Some(observed) = find(
        object,
        &cache,
        &snapshot,
        &id,
        cx.account,
        ownership::CREATE_SETTLE,
    )
    .await
    .map_err(|source| cloud("read", &cx.object, source))?
    else {
        // Confirmed gone: deleted outside the operator.
        cache.track(&uid, false);
        if object.management_policy() == ManagementPolicy::ObserveOnly {
            let message = format!("{id} no longer exists");
            mark(status, object)
                .not_ready(Reason::NotFound, &message)
                .synced(Reason::Observed, "observed");
            return Ok(Action::await_change());
        }
        cx.ctx.metrics.recreated(K::KIND);
        cx.event(
            object,
            true,
            "Recreating",
            "Observe",
            format!("{id} is gone from the account (confirmed by a fresh read); creating it again"),
        )
        .await;
        status.set_id(None);
        object.forget_observed(status);
        let forgotten = Identity {
            external_id: None,
            account: Some(cx.account.api_id.clone()),
            pending: None,
        };
        cx.save_identity(object, &forgotten, true).await?;
        return Ok(Action::requeue(Duration::from_millis(100)));
    };
    let observed = object.refine(observed, cx).await?;
    object.report(status, &observed);
    if object.management_policy() == ManagementPolicy::ObserveOnly {
        mark(status, object)
            .ready(Reason::Observed, "observed")
            .synced(Reason::Observed, "observed");
        cache.track(&uid, false);
        return Ok(Action::await_change());
    }
    if standing_failure(status, object).is_none() {
        mark(status, object).synced(Reason::ReconcileSuccess, "the last reconcile succeeded");
    }
    let action = object.sync(SyncCx(&mut *status, &observed, cx)).await?;
    // The cloud object is not what the spec asks while a refusal stands: never Ready then. An
    // update reported as never made that shows after all (Luna Node made it late) ends it.
    if let Some((reason, message)) = standing_failure(status, object) {
        if reason == Reason::UpdateNotApplied && is_condition_true(status.conditions(), READY) {
            mark(status, object).synced(Reason::ReconcileSuccess, "the last reconcile succeeded");
        } else {
            mark(status, object).not_ready(reason, &message);
        }
    }
    // Fast polls follow an object in transition; a stalled one waits for a change that the
    // slow poll shows as well.
    let ready = is_condition_true(status.conditions(), READY);
    if ready {
        // Whatever was updated shows: a later update starts its count afresh.
        cx.ctx.repeats.clear(&uid);
    }
    cache.track(&uid, !ready && !is_stalled(status.conditions()));
    Ok(action)
}

/// The Synced failure that stands for the object's current generation (one of
/// [`External::STANDING_FAILURES`]): its reason and message.
pub(crate) fn standing_failure<K: External>(
    status: &K::Status,
    object: &K,
) -> Option<(Reason, String)> {
    let synced = crate::api::common::find_condition(status.conditions(), SYNCED)?;
    if synced.is_true() || synced.observed_generation != object.meta().generation {
        return None;
    }
    let reason = K::STANDING_FAILURES
        .iter()
        .chain([&Reason::UpdateNotApplied])
        .find(|reason| synced.reason == **reason)?;
    Some((*reason, synced.message.clone()))
}

/// The cloud object `id`: from the snapshot or, when the snapshot lacks it, on firm evidence
/// only — a per-object read where the kind has one, else several fresh lists in a row, the
/// last at least `span` after the first. A list answer that leaves an entry out (eventual
/// consistency, truncation, a decoding slip) or has not caught up with a create must never make
/// the operator re-create, or give up on, an object that still exists.
pub async fn find<K: External>(
    object: &K,
    cache: &ListCache<K::Observed>,
    snapshot: &Snapshot<K::Observed>,
    id: &str,
    account: &Arc<Account>,
    span: Duration,
) -> Result<Option<K::Observed>, lunanode::Error> {
    if let Some(found) = cache.lookup(snapshot, id) {
        return Ok(Some(found));
    }
    let read_at = Instant::now();
    let presence = match object.read(id, &account.client).await? {
        Read::Found(found) => {
            cache.record(id, found.clone(), read_at);
            return Ok(Some(found));
        }
        Read::Gone => Presence::Absent,
        Read::NoRead => Presence::Unknown,
    };
    let started = Instant::now();
    let mut lacking = 0;
    while !ownership::confirmed_gone(presence, lacking, started.elapsed() >= span) {
        if lacking >= ownership::LISTS_TO_CONFIRM_ABSENCE {
            // Enough lists, too close together: one more once the span has passed.
            tokio::time::sleep(span.saturating_sub(started.elapsed())).await;
        }
        let fresh = cache.get_after(Instant::now()).await?;
        if let Some(found) = cache.lookup(&fresh, id) {
            return Ok(Some(found));
        }
        lacking += 1;
    }
    Ok(None)
}

/// The IDs that any of [`ownership::LISTS_TO_CONFIRM_ABSENCE`] fresh lists shows as what a
/// create of `object` named `name` could have made: a list may leave entries out, and a
/// candidate missed would make another one look like the only one.
pub async fn matching_in_lists<K: External>(
    object: &K,
    cache: &ListCache<K::Observed>,
    name: &str,
) -> Result<Vec<String>, lunanode::Error> {
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..ownership::LISTS_TO_CONFIRM_ABSENCE {
        let snapshot = cache.get_after(Instant::now()).await?;
        for id in matching(object, &snapshot, name) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids.sort();
    Ok(ids)
}

/// The IDs of the listed objects a create of `object` named `name` could have made.
pub fn matching<K: External>(
    object: &K,
    snapshot: &Snapshot<K::Observed>,
    name: &str,
) -> Vec<String> {
    let mut ids: Vec<String> = snapshot
        .entries
        .iter()
        .filter(|(_, observed)| object.is_create_of(name, observed))
        .map(|(id, _)| id.clone())
        .collect();
    ids.sort();
    ids
}

/// One in-place update of an existing cloud object: its Event, conditions and next look.
pub struct Update {
    /// The Event's reason on success (`Renamed`, `Updated`, ...).
    pub reason: &'static str,
    /// What was done, for the Event and the `Updating` condition.
    pub note: String,
    /// The action named in a cloud error (`rename image`, ...).
    pub action: &'static str,
}

/// How many times one update (the same call, with the same effect, for the same generation) is
/// made in a row while the list does not show it made, before the operator stops making it.
/// Luna Node answers success for some changes it does not make (a resize, by its own docs): a
/// controller that took every answer at its word would repeat such a call every second for ever.
pub const UPDATE_REPEATS: u32 = 3;

/// Consecutive repeats of an update per object, in memory (a restart allows
/// [`UPDATE_REPEATS`] more, no more): see [`update`].
#[derive(Default)]
pub struct Repeats {
    seen: std::sync::Mutex<std::collections::HashMap<String, (String, u32)>>,
}

impl Repeats {
    /// How many times in a row object `uid` made `update` and was answered success.
    fn made(&self, uid: &str, update: &str) -> u32 {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(uid)
            .filter(|(last, _)| last == update)
            .map_or(0, |(_, count)| *count)
    }

    /// Counts one more `update` by object `uid` answered success, and returns how many in a row.
    fn answered(&self, uid: &str, update: &str) -> u32 {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Bounded: objects deleted while counting leave an entry each.
        if seen.len() > 10_000 {
            seen.clear();
        }
        let entry = seen
            .entry(uid.to_owned())
            .or_insert_with(|| (update.to_owned(), 0));
        if entry.0 != update {
            *entry = (update.to_owned(), 0);
        }
        entry.1 += 1;
        entry.1
    }

    /// Forgets `uid`'s count: its cloud object is as the spec asks.
    pub fn clear(&self, uid: &str) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(uid);
    }
}

/// Makes one in-place update (`call`, not started until it is allowed) and ends it as
/// [`updated`] does, unless the very same update was made [`UPDATE_REPEATS`] times in a row for
/// this generation and the list still does not show it: then no call is made, and Ready and
/// Synced say `UpdateNotApplied` (Stalled, one Warning Event) until the spec changes.
pub async fn update<K: External>(
    object: &K,
    status: &mut K::Status,
    cx: &CloudCx<'_, K>,
    update: Update,
    call: impl std::future::Future<Output = Result<(), lunanode::Error>>,
) -> Result<Action, Error> {
    let uid = object.uid().unwrap_or_default();
    let generation = object.meta().generation.unwrap_or_default();
    let signature = format!("{generation}\n{}\n{}", update.action, update.note);
    // Only answers of success count: a timeout or a refusal is the error path's business.
    if cx.ctx.repeats.made(&uid, &signature) >= UPDATE_REPEATS {
        let message = format!(
            "{} was answered success {UPDATE_REPEATS} times and Luna Node still does not show it ({}); not sent again until the spec changes",
            update.action, update.note
        );
        if super::driver::stuck_anew(status, object, Reason::UpdateNotApplied, &message) {
            cx.warn(object, Reason::UpdateNotApplied, "Update", message)
                .await;
        }
        return Ok(Action::await_change());
    }
    let result = call.await;
    if result.is_ok() {
        cx.ctx.repeats.answered(&uid, &signature);
    }
    updated(object, status, cx, result, update).await
}

/// The end of an update call. Success: the next look waits for a list made after the write,
/// the Event says what was done and Ready is `Updating` until that list confirms it. A refusal
/// is `UpdateFailed` on Ready and Synced, with a Warning Event (a kind that lists it in
/// [`External::STANDING_FAILURES`] keeps it until the manifest changes). Anything else is the
/// cloud error, retried with backoff.
pub async fn updated<K: External>(
    object: &K,
    status: &mut K::Status,
    cx: &CloudCx<'_, K>,
    result: Result<(), lunanode::Error>,
    update: Update,
) -> Result<Action, Error> {
    match result {
        Ok(()) => {
            let uid = object.uid().unwrap_or_default();
            object.cache(cx.account).wrote(&uid);
            cx.event(object, false, update.reason, "Update", update.note.clone())
                .await;
            mark(status, object).not_ready(Reason::Updating, &update.note);
            Ok(Action::requeue(Duration::from_secs(1)))
        }
        Err(error) if error.is_refused() => {
            let message = format!("{} refused: {error}", update.action);
            mark(status, object)
                .not_ready(Reason::UpdateFailed, &message)
                .not_synced(Reason::UpdateFailed, &message);
            cx.warn(object, Reason::UpdateFailed, "Update", message)
                .await;
            Ok(Action::await_change())
        }
        Err(error) => Err(cloud(update.action, &cx.object, error)),
    }
}
