//! References between kinds: resolving a reference by name, waking the objects that name a
//! changed one, and the holders a deletion waits for.

use std::sync::Arc;

use kube::{
    Api, ResourceExt,
    runtime::{Controller, reflector::ObjectRef},
};

use super::driver::{Cx, Reconciler, mark, watches};
use crate::controller::reason::Reason;
use crate::{
    api::common::{LocalObjectReference, ManagedResource, ManagedStatus, READY, is_condition_true},
    controller::{Context, error::Error, report::key},
};

/// The name an optional reference holds, as a list: what the functions given to [`referenced`]
/// and [`holders`] return for a spec with one reference of a kind.
pub fn named(reference: Option<&LocalObjectReference>) -> Vec<String> {
    reference
        .map(|reference| reference.name.clone())
        .into_iter()
        .collect()
}

/// Whether `object` says `Ready=True`: for a reference that needs the cloud object usable, not
/// only made (an image that is active, a VM that is built).
pub fn is_ready<T: ManagedResource>(object: &T) -> bool {
    object
        .managed_status()
        .is_some_and(|status| is_condition_true(status.conditions(), READY))
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
    reference(found, ctx.registry.is_synced::<T>(), namespace, name)
}

/// What `found` (the object of that name in `T`'s cache, if any) is as a reference. While the
/// cache has not `synced`, an object it lacks is waited for, not missing: after a restart the
/// referrer can be looked at before `T`'s cache is loaded, and a `Missing` would then wait for
/// a change of `T` that may never come.
fn reference<T: Reconciler>(
    found: Option<Arc<T>>,
    synced: bool,
    namespace: &str,
    name: &str,
) -> Reference<T> {
    match found {
        None if !synced => Reference::Waiting(format!(
            "the {} cache is still loading; {namespace}/{name} not seen yet",
            T::KIND
        )),
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
        .map_err(Error::kube("list referrers", format!("{namespace}/{name}")))?;
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

/// An optional reference field of a kind's spec.
pub type Field<K> = fn(&K) -> Option<&LocalObjectReference>;

/// The watches a kind's controller adds for its references (in [`Reconciler::configure`]).
pub trait Follow<K: Reconciler>: Sized {
    /// Wakes the objects of `K` that name, by `refers`, an object of `T` that changed: a
    /// referenced network, VM or floating IP that got its ID or address.
    fn follows<T: Reconciler>(self, ctx: &Arc<Context>, refers: fn(&K) -> Vec<String>) -> Self;

    /// [`Follow::follows`] for one optional reference field (`|vm| vm.spec.image_ref.as_ref()`).
    fn follows_ref<T: Reconciler>(self, ctx: &Arc<Context>, field: Field<K>) -> Self;

    /// Wakes the objects of `K` that an object of `R` names, by `refers`, when that object
    /// changes: a holder that lets go of what it held.
    fn named_by<R: Reconciler>(self, ctx: &Arc<Context>, refers: fn(&R) -> Vec<String>) -> Self;
}

impl<K: Reconciler> Follow<K> for Controller<K> {
    fn follows<T: Reconciler>(self, ctx: &Arc<Context>, refers: fn(&K) -> Vec<String>) -> Self {
        watches(self, ctx, referrers::<K, T>(ctx, refers))
    }

    fn follows_ref<T: Reconciler>(self, ctx: &Arc<Context>, field: Field<K>) -> Self {
        watches(
            self,
            ctx,
            referrers::<K, T>(ctx, move |object| named(field(object))),
        )
    }

    fn named_by<R: Reconciler>(self, ctx: &Arc<Context>, refers: fn(&R) -> Vec<String>) -> Self {
        watches(self, ctx, referenced::<K, R>(refers))
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
    mark(&mut blocked, object).not_ready(Reason::InUse, &message);
    if let Err(error) = cx.save(object, &blocked).await {
        tracing::debug!(%error, "unable to report the in-use state");
    }
    Err(Error::InUse {
        object: cx.object.clone(),
        holders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::vm::{LunaVM, LunaVMSpec};

    #[test]
    fn an_object_a_cache_still_loading_lacks_is_waited_for_not_missing() {
        let loading = reference::<LunaVM>(None, false, "ns", "web");
        assert!(
            matches!(&loading, Reference::Waiting(message) if message.contains("still loading")),
        );
        assert!(matches!(
            reference::<LunaVM>(None, true, "ns", "web"),
            Reference::Missing(_)
        ));
        let vm = Arc::new(LunaVM::new(
            "web",
            LunaVMSpec::new("web", "m.1", "Ubuntu 22.04 64-bit (template)"),
        ));
        assert!(matches!(
            reference(Some(vm), false, "ns", "web"),
            Reference::Waiting(message) if message.contains("no cloud object yet")
        ));
    }
}
