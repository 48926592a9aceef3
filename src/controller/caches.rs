//! The list caches of one account: what each kind observes through, and the per-account state
//! a kind keeps beside them. Nothing here knows a kind: each kind names its caches (a list call
//! and its conversion, in the kind's `cloud.rs`) and its state type, and gets the one instance
//! of the account.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::future::BoxFuture;

use super::list_cache::{CacheTiming, ListCache, lock};
use crate::api::common::ListedObject;
use crate::lunanode::{self, Client};

/// The caches of one account.
pub struct ListCaches {
    client: Client,
    timing: CacheTiming,
    metrics: Arc<crate::telemetry::metrics::Metrics>,
    /// The caches, made on first use: by entry type and key (a region, or `""` for an
    /// account-wide list).
    keyed: Mutex<HashMap<(TypeId, String), Arc<dyn Any + Send + Sync>>>,
    /// The kinds' per-account state, made on first use: by type.
    state: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

/// When a cache lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// On its own pace, and when asked: what the kinds observe through.
    Polled,
    /// Only when asked (never polled): for what changes rarely, such as images.
    OnDemand,
}

/// What a keyed cache lists: the account's client and the cache's key (e.g. the region).
pub type KeyedFetch<T> =
    fn(Client, String) -> BoxFuture<'static, Result<Vec<(String, T)>, lunanode::Error>>;

impl ListCaches {
    /// The caches for the account behind `client`.
    pub fn new(
        client: &Client,
        timing: &CacheTiming,
        metrics: &Arc<crate::telemetry::metrics::Metrics>,
    ) -> Self {
        Self {
            client: client.clone(),
            timing: timing.clone(),
            metrics: metrics.clone(),
            keyed: Mutex::default(),
            state: Mutex::default(),
        }
    }

    /// The polled cache of entry type `T` under `key`: [`Self::list`] with [`Refresh::Polled`],
    /// what every kind observes through.
    pub fn keyed<T: Clone + PartialEq + Send + Sync + 'static>(
        &self,
        name: &'static str,
        key: &str,
        fetch: KeyedFetch<T>,
    ) -> Arc<ListCache<T>> {
        self.list(name, key, Refresh::Polled, fetch)
    }

    /// The cache of entry type `T` under `key` (a region, or `""` for an account-wide list),
    /// made on first use. `fetch` runs for every refresh; one cache exists per type and key,
    /// whoever asks, so every object of a kind in a region shares one list call.
    pub fn list<T: Clone + PartialEq + Send + Sync + 'static>(
        &self,
        name: &'static str,
        key: &str,
        refresh: Refresh,
        fetch: KeyedFetch<T>,
    ) -> Arc<ListCache<T>> {
        let poll = refresh == Refresh::Polled;
        let mut keyed = lock(&self.keyed);
        let slot = (TypeId::of::<T>(), key.to_owned());
        if let Some(cache) = keyed.get(&slot).and_then(|any| any.clone().downcast().ok()) {
            return cache;
        }
        let client = self.client.clone();
        let metrics = self.metrics.clone();
        let owned_key = key.to_owned();
        let cache = ListCache::new(
            name,
            self.timing.clone(),
            poll,
            Box::new(move || {
                metrics.refreshed(name);
                fetch(client.clone(), owned_key.clone())
            }),
        );
        if poll {
            let suspect_metrics = self.metrics.clone();
            cache.on_suspect(Arc::new(move |name| suspect_metrics.suspect_list(name)));
        }
        keyed.insert(slot, cache.clone());
        cache
    }

    /// The account's one instance of `T`, made with `T::default()` on first use: what a kind
    /// remembers per account between reconciles (memos, read times), without a process-wide
    /// static and without this pool knowing the kind.
    pub fn state<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut state = lock(&self.state);
        let entry = state
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()));
        match entry.clone().downcast() {
            Ok(value) => value,
            // Unreachable: the slot is keyed by the type it holds.
            Err(_) => Arc::new(T::default()),
        }
    }
}

/// Declares a kind's polled list cache: the function that returns it (one cache per account,
/// and per key for a keyed list), and the list call that fills it, keyed by `id` and made into
/// the cached type by `into`. Account-wide:
///
/// ```ignore
/// list_cache! {
///     /// The account's `monitor contact-list` cache, polled.
///     pub fn contacts(account) -> MonitorContact = "monitor contact-list",
///         |client| client.monitor_contact_list(), |contact| &contact.id, |contact| contact
/// }
/// ```
///
/// Keyed (by region, say): `pub fn volumes(account, region) -> Volume = "volume list",
/// |client, region| client.volume_list(region), ...`, where `region` is the key as `&str`. A
/// list read only when a reconcile asks for it (plans, check types: they change rarely) is
/// declared `= "plan list" on demand, ...`.
macro_rules! list_cache {
    (
        $(#[$doc:meta])*
        $vis:vis fn $name:ident(account) -> $entry:ty = $label:literal $(on $demand:ident)?,
        |$client:ident| $call:expr, $id:expr, $into:expr $(,)?
    ) => {
        $(#[$doc])*
        $vis fn $name(
            account: &$crate::controller::accounts::Account,
        ) -> ::std::sync::Arc<$crate::controller::list_cache::ListCache<$entry>> {
            $crate::controller::caches::list_cache!(@fetch $entry, |$client, _key| $call, $id, $into);
            let refresh = $crate::controller::caches::list_cache!(@refresh $($demand)?);
            account.caches.list($label, "", refresh, fetch)
        }
    };
    (@refresh) => {
        $crate::controller::caches::Refresh::Polled
    };
    (@refresh demand) => {
        $crate::controller::caches::Refresh::OnDemand
    };
    (
        $(#[$doc:meta])*
        $vis:vis fn $name:ident(account, $key:ident) -> $entry:ty = $label:literal,
        |$client:ident, $arg:ident| $call:expr, $id:expr, $into:expr $(,)?
    ) => {
        $(#[$doc])*
        $vis fn $name(
            account: &$crate::controller::accounts::Account,
            $key: &str,
        ) -> ::std::sync::Arc<$crate::controller::list_cache::ListCache<$entry>> {
            $crate::controller::caches::list_cache!(@fetch $entry, |$client, $arg| $call, $id, $into);
            account.caches.keyed($label, $key, fetch)
        }
    };
    // The refresh: the list call, keyed by ID and converted.
    (@fetch $entry:ty, |$client:ident, $arg:ident| $call:expr, $id:expr, $into:expr) => {
        fn fetch(
            client: $crate::lunanode::Client,
            key: String,
        ) -> ::futures::future::BoxFuture<
            'static,
            Result<Vec<(String, $entry)>, $crate::lunanode::Error>,
        > {
            ::futures::FutureExt::boxed(async move {
                let $client = &client;
                #[allow(unused_variables)]
                let $arg = key.as_str();
                let listed = $call.await?;
                Ok($crate::controller::caches::by_id(listed, $id, $into))
            })
        }
    };
}
pub(crate) use list_cache;

/// The entries of a list answer keyed by their ID (`id`), each made into what the cache holds
/// (`observe`); an entry without an ID is left out.
pub fn by_id<T, O>(
    entries: Vec<T>,
    id: impl Fn(&T) -> &str,
    observe: impl Fn(T) -> O,
) -> Vec<(String, O)> {
    entries
        .into_iter()
        .filter_map(|entry| {
            let id = id(&entry).to_owned();
            (!id.is_empty()).then(|| (id, observe(entry)))
        })
        .collect()
}

/// A text field of an answer for the status: `None` when the API left it empty.
pub fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// The name, region and state a list reports of an object, for its status.
pub fn listed(name: &str, region: &str, status: &str) -> ListedObject {
    ListedObject {
        name: non_empty(name),
        region: non_empty(region),
        status: non_empty(status),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[derive(Default)]
    struct Memo(Mutex<u32>);

    #[test]
    fn state_is_one_instance_per_type() {
        let client = Client::new(
            lunanode::Credentials::new("a".repeat(16), "b".repeat(128).into()).unwrap(),
            lunanode::ClientConfig::default(),
        )
        .unwrap();
        let caches = ListCaches::new(
            &client,
            &CacheTiming::default(),
            &Arc::new(crate::telemetry::metrics::Metrics::default()),
        );
        *caches.state::<Memo>().0.lock().unwrap() = 7;
        assert_eq!(*caches.state::<Memo>().0.lock().unwrap(), 7);
        assert!(caches.state::<Mutex<String>>().lock().unwrap().is_empty());
    }
}
