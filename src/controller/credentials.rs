//! The credentials Secret's finalizer, `lunanode.com/credentials-in-use`.
//!
//! The account of an object lives in its credentials Secret, and deleting a cloud object needs
//! the account. `kubectl delete -f` of a folder holding the Secret and the objects, or the
//! deletion of their namespace, deletes the Secret as early as the objects; so while any managed
//! object names a Secret, the Secret carries this finalizer: marked for deletion, it stays (and
//! still resolves, see [`super::accounts`]) until the last object using it has let go — across
//! operator restarts, since the state is in the Secret itself.
//!
//! - [`hold`] runs on every reconcile that resolved the account, before any cloud write. The
//!   Secret's own watch tells whether the finalizer is there, so it costs an API call only when
//!   it must add it.
//! - [`release_if_unused`] runs when an object has let go of its own finalizer: if no object of
//!   any kind in the namespace still names the Secret (read from the API server, not a cache),
//!   the finalizer goes.
//! - [`sweep`] catches what those two cannot see: an object that switched to another Secret, a
//!   release that failed, a change made while the operator was down, an object deleted before it
//!   held anything in the cloud (it had no finalizer of its own yet, so no reconcile saw it go).
//!   It looks at the Secrets that carry the finalizer (once at start, on every change of a
//!   watched Secret, and every [`SWEEP_INTERVAL`]) and checks their users in the controllers'
//!   caches, which costs nothing; only a Secret the caches show unused is checked against the API
//!   server, at most once per [`CONFIRM_INTERVAL`]. Every [`SWEEP_INTERVAL`] it also prunes the
//!   account pool ([`super::accounts::Accounts::prune`]): the watches of Secrets no object has
//!   named for [`PRUNE_GRACE`], once they no longer carry the finalizer, and the accounts no
//!   watched Secret resolves to.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kube::{
    Api, ResourceExt,
    api::{ListParams, Patch, PatchParams},
};
use serde_json::json;
use tokio::sync::mpsc;

use super::{
    Context,
    error::{Error, is_conflict},
    managed::Reconciler,
    report::key,
};
use crate::api::common::{CREDENTIALS_FINALIZER, FIELD_MANAGER, ManagedResource};

/// How often the sweep looks at every watched Secret (in memory; API calls only for a Secret
/// that looks unused).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(10);
/// The least time between two checks of one Secret against the API server by the sweep.
pub const CONFIRM_INTERVAL: Duration = Duration::from_secs(60);
/// How long a credentials Secret stays watched (and its account held) after the last object
/// naming it stopped: a just-created object may not be in the caches yet.
pub const PRUNE_GRACE: Duration = Duration::from_secs(30);
/// Conditional patches retried at once after a conflict, before the error goes to the caller.
const ATTEMPTS: usize = 3;

type SecretKey = (String, String);

/// Makes sure the Secret `namespace/secret` carries the finalizer. Called with the account
/// resolved, so the Secret's watch has delivered it: when that copy shows the finalizer, there
/// is no API call. A Secret already marked for deletion cannot take a new finalizer; it is left
/// as it is.
pub async fn hold(ctx: &Context, namespace: &str, secret: &str) -> Result<(), Error> {
    if let Some(seen) = ctx.accounts.watched(namespace, secret) {
        if carries(&seen.metadata) || seen.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
    }
    set_finalizer(ctx, namespace, secret, true).await
}

/// Removes the finalizer from the Secret `namespace/secret` unless an object of one of the six
/// kinds in the namespace, other than the one with UID `except_uid`, still names it. Objects
/// being deleted count while they still carry their own finalizer. A missing Secret is fine.
pub async fn release_if_unused(
    ctx: &Context,
    namespace: &str,
    secret: &str,
    except_uid: &str,
) -> Result<(), Error> {
    if let Some(seen) = ctx.accounts.watched(namespace, secret) {
        if !carries(&seen.metadata) {
            // Its watch shows no finalizer. Were that copy stale, the watch event that brings the
            // finalizer wakes the sweep.
            return Ok(());
        }
    }
    // Another user in the controllers' caches keeps it, at no cost: a deletion of N objects
    // then reads the API server once (for the last), not N lists of up to N objects. A cache
    // that still shows a user already gone only delays the release until the sweep.
    if used_in_caches(ctx, namespace, secret, except_uid) {
        return Ok(());
    }
    if let Some(user) = user(ctx, namespace, secret, except_uid).await? {
        tracing::debug!(namespace, secret, %user, "credentials secret still in use");
        return Ok(());
    }
    set_finalizer(ctx, namespace, secret, false).await
}

/// Adds (`hold`) or removes the credentials finalizer of the Secret `namespace/secret`, from a
/// fresh read of its metadata; a conflict (the Secret changed since the read) reads again, up to
/// [`ATTEMPTS`] times. A Secret gone, or being deleted when the finalizer would be added, is
/// left as it is.
async fn set_finalizer(
    ctx: &Context,
    namespace: &str,
    secret: &str,
    hold: bool,
) -> Result<(), Error> {
    let api: Api<Secret> = Api::namespaced(ctx.kube.clone(), namespace);
    let (action, done) = if hold {
        (
            "add the credentials finalizer",
            "credentials secret in use: finalizer added",
        )
    } else {
        (
            "remove the credentials finalizer",
            "credentials secret no longer in use: finalizer removed",
        )
    };
    let failed = Error::kube(action, format!("{namespace}/{secret}"));
    for attempt in 1..=ATTEMPTS {
        let Some(current) = api.get_metadata_opt(secret).await.map_err(&failed)? else {
            return Ok(());
        };
        let held = carries(&current.metadata);
        if held == hold || (hold && current.metadata.deletion_timestamp.is_some()) {
            return Ok(());
        }
        let mut finalizers: Vec<String> = current
            .finalizers()
            .iter()
            .filter(|finalizer| *finalizer != CREDENTIALS_FINALIZER)
            .cloned()
            .collect();
        if hold {
            finalizers.push(CREDENTIALS_FINALIZER.to_owned());
        }
        match patch_finalizers(&api, secret, &current.metadata, finalizers).await {
            Ok(()) => {
                tracing::info!(namespace, secret, "{done}");
                return Ok(());
            }
            // Changed since the read: read again.
            Err(error) if is_conflict(&error) && attempt < ATTEMPTS => {}
            Err(error) if is_not_found(&error) => return Ok(()),
            Err(error) => return Err(failed(error)),
        }
    }
    Ok(())
}

/// Runs the sweep until `shutdown` completes (see the module documentation).
pub async fn sweep(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send) {
    let (changed, mut changes) = mpsc::unbounded_channel::<SecretKey>();
    ctx.accounts
        .on_secret_change(Arc::new(move |namespace, secret| {
            let _ = changed.send((namespace.to_owned(), secret.to_owned()));
        }));
    let work = async move {
        wait_for_caches(&ctx).await;
        let mut pending = held_secrets(&ctx).await;
        let mut confirmed: HashMap<SecretKey, Instant> = HashMap::new();
        let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            confirmed.retain(|_, at| at.elapsed() < CONFIRM_INTERVAL);
            check(&ctx, std::mem::take(&mut pending), &mut confirmed).await;
            tokio::select! {
                changed = changes.recv() => match changed {
                    Some(key) => {
                        pending.insert(key);
                    }
                    None => return,
                },
                _ = ticks.tick() => {
                    pending.extend(ctx.accounts.watched_keys());
                    ctx.accounts.prune(&cached_users(&ctx), PRUNE_GRACE, |secret| {
                        carries(&secret.metadata)
                    });
                }
            }
            // A burst of changes (a folder applied at once) is looked at together.
            tokio::time::sleep(Duration::from_millis(200)).await;
            while let Ok(key) = changes.try_recv() {
                pending.insert(key);
            }
        }
    };
    tokio::select! {
        () = work => {}
        () = shutdown => {}
    }
}

/// Checks `keys`: a Secret that carries the finalizer and that no cached object uses is checked
/// against the API server (at most once per [`CONFIRM_INTERVAL`]).
async fn check(
    ctx: &Context,
    keys: BTreeSet<SecretKey>,
    confirmed: &mut HashMap<SecretKey, Instant>,
) {
    if keys.is_empty() {
        return;
    }
    let users = cached_users(ctx);
    let watched: HashSet<SecretKey> = ctx.accounts.watched_keys().into_iter().collect();
    for key in keys {
        if users.contains(&key) || confirmed.contains_key(&key) {
            continue;
        }
        if watched.contains(&key) {
            // Its watch tells whether it exists and carries the finalizer.
            match ctx.accounts.watched(&key.0, &key.1) {
                Some(secret) if carries(&secret.metadata) => {}
                _ => continue,
            }
        }
        confirmed.insert(key.clone(), Instant::now());
        if let Err(error) = release_if_unused(ctx, &key.0, &key.1, "").await {
            tracing::debug!(namespace = %key.0, secret = %key.1, %error, "unable to check the users of a credentials secret");
        }
    }
}

/// The Secrets that cached objects name, as (namespace, name).
fn cached_users(ctx: &Context) -> HashSet<SecretKey> {
    let mut users = HashSet::new();
    macro_rules! each {
        ($($kind:ty),* $(,)?) => {
            $(cached::<$kind>(ctx, &mut users);)*
        };
    }
    crate::for_each_kind!(each);
    users
}

fn cached<K: Reconciler>(ctx: &Context, users: &mut HashSet<SecretKey>) {
    let Some(waker) = ctx.registry.waker::<K>() else {
        return;
    };
    for object in waker.store.state() {
        if !released(&*object) {
            users.insert((
                object.namespace().unwrap_or_default(),
                object.credentials_secret_name().to_owned(),
            ));
        }
    }
}

/// Whether an object of the controllers' caches, other than the one with UID `except_uid`,
/// uses the Secret `namespace/secret`.
fn used_in_caches(ctx: &Context, namespace: &str, secret: &str, except_uid: &str) -> bool {
    macro_rules! any {
        ($($kind:ty),* $(,)?) => {
            false $(|| ctx.registry.waker::<$kind>().is_some_and(|waker| {
                waker
                    .store
                    .find(|object| {
                        object.namespace().as_deref() == Some(namespace)
                            && uses(object, secret, except_uid)
                    })
                    .is_some()
            }))*
        };
    }
    crate::for_each_kind!(any)
}

/// Waits until every kind's object cache has synced, so that the sweep does not take an empty
/// cache for unused Secrets.
async fn wait_for_caches(ctx: &Context) {
    loop {
        macro_rules! all_synced {
            ($($kind:ty),* $(,)?) => {
                true $(&& synced::<$kind>(ctx).await)*
            };
        }
        if crate::for_each_kind!(all_synced) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn synced<K: Reconciler>(ctx: &Context) -> bool {
    let Some(waker) = ctx.registry.waker::<K>() else {
        return false;
    };
    // The store's readiness future wakes only its most recent poller: poll briefly, often.
    matches!(
        tokio::time::timeout(Duration::from_millis(100), waker.store.wait_until_ready()).await,
        Ok(Ok(()))
    )
}

/// The Secrets that carry the finalizer, from one paginated metadata-only list (no Secret data)
/// at start: a Secret that lost its last user while the operator was down is not watched, and
/// would otherwise keep the finalizer for good.
async fn held_secrets(ctx: &Context) -> BTreeSet<SecretKey> {
    let mut held = BTreeSet::new();
    for api in ctx.config.scope.apis::<Secret>(&ctx.kube) {
        let mut params = ListParams::default().limit(500);
        loop {
            let page = match api.list_metadata(&params).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "unable to list the credentials secrets that carry the finalizer; the sweep covers the watched ones only");
                    break;
                }
            };
            held.extend(
                page.items
                    .iter()
                    .filter(|secret| carries(&secret.metadata))
                    .map(|secret| (secret.namespace().unwrap_or_default(), secret.name_any())),
            );
            match page.metadata.continue_.filter(|token| !token.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
    }
    held
}

/// The first object (`Kind namespace/name`) of the namespace that still uses the Secret, read
/// from the API server: a cache may not have seen an object that was just created.
async fn user(
    ctx: &Context,
    namespace: &str,
    secret: &str,
    except_uid: &str,
) -> Result<Option<String>, Error> {
    macro_rules! first {
        ($($kind:ty),* $(,)?) => {
            $(if let Some(found) = listed::<$kind>(ctx, namespace, secret, except_uid).await? {
                return Ok(Some(found));
            })*
        };
    }
    crate::for_each_kind!(first);
    Ok(None)
}

async fn listed<K: Reconciler>(
    ctx: &Context,
    namespace: &str,
    secret: &str,
    except_uid: &str,
) -> Result<Option<String>, Error> {
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), namespace);
    let listed = api.list(&ListParams::default()).await.map_err(Error::kube(
        "list the users of a credentials secret",
        format!("{namespace}/{secret}"),
    ))?;
    Ok(listed
        .items
        .iter()
        .find(|object| uses(*object, secret, except_uid))
        .map(|object| format!("{} {}", K::KIND, key(object))))
}

/// Whether `object` needs the credentials Secret `secret` (of its namespace).
fn uses<K: ManagedResource>(object: &K, secret: &str, except_uid: &str) -> bool {
    object.credentials_secret_name() == secret
        && object.meta().uid.as_deref() != Some(except_uid)
        && !released(object)
}

/// An object being deleted that no longer carries its own finalizer needs no credentials: it
/// only waits for other finalizers.
fn released<K: ManagedResource>(object: &K) -> bool {
    object.meta().deletion_timestamp.is_some()
        && !object
            .finalizers()
            .iter()
            .any(|finalizer| *finalizer == K::finalizer())
}

fn carries(metadata: &ObjectMeta) -> bool {
    metadata
        .finalizers
        .iter()
        .flatten()
        .any(|finalizer| finalizer == CREDENTIALS_FINALIZER)
}

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// Replaces the finalizers with `finalizers`, on the condition that the Secret is still at the
/// `resourceVersion` of `current` (a merge patch that names it conflicts otherwise): exactly the
/// one finalizer is added or removed, never someone else's.
async fn patch_finalizers(
    api: &Api<Secret>,
    name: &str,
    current: &ObjectMeta,
    finalizers: Vec<String>,
) -> Result<(), kube::Error> {
    let patch = json!({
        "metadata": {
            "resourceVersion": current.resource_version,
            "finalizers": finalizers,
        }
    });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    api.patch_metadata(name, &params, &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

    use super::*;
    use crate::api::{
        vm::{LunaVM, LunaVMSpec},
        volume::{LunaVolume, LunaVolumeSpec},
    };

    fn vm(name: &str, uid: &str, secret: Option<&str>) -> LunaVM {
        let mut spec = LunaVMSpec::new(name, "m.1", "image");
        spec.managed.credentials_secret_ref = secret.map(|name| crate::api::common::SecretRef {
            name: name.to_owned(),
        });
        let mut vm = LunaVM::new(name, spec);
        vm.metadata.uid = Some(uid.to_owned());
        vm
    }

    #[test]
    fn an_object_uses_the_secret_it_names_until_it_lets_go() {
        let web = vm("web", "u1", None);
        assert!(uses(&web, "lunanode-credentials", ""));
        assert!(!uses(&web, "other", ""), "another Secret");
        assert!(
            !uses(&web, "lunanode-credentials", "u1"),
            "the excepted one"
        );

        let mut named = vm("db", "u2", Some("team"));
        assert!(uses(&named, "team", "u1"));

        // Being deleted, it still needs the credentials while it carries its finalizer...
        named.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        named.metadata.finalizers = Some(vec![LunaVM::finalizer()]);
        assert!(uses(&named, "team", ""));
        // ... and no more once it has let go (other finalizers may keep it a while).
        named.metadata.finalizers = Some(vec!["example.com/other".into()]);
        assert!(!uses(&named, "team", ""));

        // The kind's own finalizer, not another kind's.
        let mut volume = LunaVolume::new("data", LunaVolumeSpec::new("data", 5));
        volume.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        volume.metadata.finalizers = Some(vec![LunaVM::finalizer()]);
        assert!(released(&volume));
        volume.metadata.finalizers = Some(vec![LunaVolume::finalizer()]);
        assert!(!released(&volume));
    }

    #[test]
    fn the_finalizer_is_recognised_among_others() {
        let mut meta = ObjectMeta::default();
        assert!(!carries(&meta));
        meta.finalizers = Some(vec!["example.com/keep".into()]);
        assert!(!carries(&meta));
        meta.finalizers = Some(vec![
            "example.com/keep".into(),
            CREDENTIALS_FINALIZER.to_owned(),
        ]);
        assert!(carries(&meta));
    }
}
