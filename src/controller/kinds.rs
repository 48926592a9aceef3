//! Every kind's controller, started together.

use std::{
    future::Future,
    sync::{Arc, atomic::AtomicBool},
};

use futures::{FutureExt, future::Shared};

use super::{
    Context,
    managed::{self, Readiness},
};
use crate::api::{
    dnszone::LunaDnsZone, floating::LunaFloatingIP, loadbalancer::LunaLoadBalancer,
    network::LunaNetwork, vm::LunaVM, volume::LunaVolume,
};

/// Runs the controllers of every kind, and the sweep of the credentials Secrets' finalizer,
/// until `shutdown` completes; `ready` turns true once all controllers have synced their object
/// caches.
pub async fn run_all(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    ready: Arc<AtomicBool>,
) {
    let shutdown: Shared<_> = shutdown.boxed().shared();
    let readiness = Readiness::new(6, ready);
    futures::join!(
        managed::run::<LunaVM>(ctx.clone(), shutdown.clone(), readiness.clone()),
        managed::run::<LunaNetwork>(ctx.clone(), shutdown.clone(), readiness.clone()),
        managed::run::<LunaFloatingIP>(ctx.clone(), shutdown.clone(), readiness.clone()),
        managed::run::<LunaVolume>(ctx.clone(), shutdown.clone(), readiness.clone()),
        managed::run::<LunaLoadBalancer>(ctx.clone(), shutdown.clone(), readiness.clone()),
        managed::run::<LunaDnsZone>(ctx.clone(), shutdown.clone(), readiness.clone()),
        super::credentials::sweep(ctx.clone(), shutdown.clone()),
    );
}
