//! The list caches of one account: what each kind observes through.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use futures::FutureExt;

use super::{
    list_cache::{CacheTiming, ListCache},
    vm_cloud,
    vm_decide::ObservedVm,
};
use crate::lunanode::Client;

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
    vm_listener: AtomicBool,
}

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
        Self {
            vms: ListCache::new(
                "vm list",
                timing.clone(),
                true,
                Box::new(move || {
                    let client = vm_client.clone();
                    vm_metrics.refreshed("vm list");
                    async move { vm_cloud::list_vms(&client).await }.boxed()
                }),
            ),
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
            vm_listener: AtomicBool::new(false),
        }
    }

    /// Returns true exactly once: the first caller installs the VM change listener.
    pub fn claim_vm_listener(&self) -> bool {
        !self.vm_listener.swap(true, Ordering::SeqCst)
    }
}
