//! The list caches of one account: what each kind observes through.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::{FutureExt, future::BoxFuture};

use super::{
    list_cache::{CacheTiming, ListCache},
    vm::{cloud as vm_cloud, decide::ObservedVm},
};
use crate::lunanode::{self, Client};

/// An image as the controllers need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedImage {
    /// The image ID.
    pub id: String,
    /// Its exact name.
    pub name: String,
    /// Its region.
    pub region: String,
}

/// The caches of one account.
pub struct ListCaches {
    /// `vm list`, polled.
    pub vms: Arc<ListCache<ObservedVm>>,
    /// `image list`, read on demand (images change rarely; used to resolve names).
    pub images: Arc<ListCache<ObservedImage>>,
    client: Client,
    timing: CacheTiming,
    metrics: Arc<crate::telemetry::metrics::Metrics>,
    /// The caches of the other kinds, made on first use: by entry type and key (a region, or
    /// `""` for an account-wide list).
    keyed: Mutex<HashMap<(TypeId, String), Arc<dyn Any + Send + Sync>>>,
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
        let vm_client = client.clone();
        let image_client = client.clone();
        let (vm_metrics, image_metrics) = (metrics.clone(), metrics.clone());
        let vms = ListCache::new(
            "vm list",
            timing.clone(),
            true,
            Box::new(move || {
                let client = vm_client.clone();
                vm_metrics.refreshed("vm list");
                async move { vm_cloud::list_vms(&client).await }.boxed()
            }),
        );
        let suspect_metrics = metrics.clone();
        vms.on_suspect(Arc::new(move |name| suspect_metrics.suspect_list(name)));
        Self {
            vms,
            images: ListCache::new(
                "image list",
                timing.clone(),
                false,
                Box::new(move || {
                    let client = image_client.clone();
                    image_metrics.refreshed("image list");
                    async move { vm_cloud::list_images(&client).await }.boxed()
                }),
            ),
            client: client.clone(),
            timing: timing.clone(),
            metrics: metrics.clone(),
            keyed: Mutex::default(),
        }
    }

    /// The polled cache of entry type `T` under `key` (a region, or `""` for an account-wide
    /// list), made on first use. `fetch` runs for every refresh; one cache exists per type and
    /// key, whoever asks, so every object of a kind in a region shares one list call.
    pub fn keyed<T: Clone + PartialEq + Send + Sync + 'static>(
        &self,
        name: &'static str,
        key: &str,
        fetch: KeyedFetch<T>,
    ) -> Arc<ListCache<T>> {
        let mut keyed = self
            .keyed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
            true,
            Box::new(move || {
                metrics.refreshed(name);
                fetch(client.clone(), owned_key.clone())
            }),
        );
        let suspect_metrics = self.metrics.clone();
        cache.on_suspect(Arc::new(move |name| suspect_metrics.suspect_list(name)));
        keyed.insert(slot, cache.clone());
        cache
    }
}
