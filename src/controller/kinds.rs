//! Every kind's controller, started together: one per entry of the registry
//! ([`crate::for_each_kind`], in `src/api/kinds.rs`), counted from the same list for readiness.

use std::{
    future::Future,
    sync::{Arc, atomic::AtomicBool},
};

use futures::{FutureExt, future::Shared};

use super::{
    Context,
    managed::{self, Readiness},
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
    macro_rules! controllers {
        ($($kind:ty),* $(,)?) => {{
            let kinds = [$(stringify!($kind)),*].len();
            ctx.registry.expect_kinds(kinds);
            let readiness = Readiness::new(kinds, ready);
            futures::join!(
                $(managed::run::<$kind>(ctx.clone(), shutdown.clone(), readiness.clone()),)*
                super::credentials::sweep(ctx.clone(), shutdown.clone()),
            );
        }};
    }
    crate::for_each_kind!(controllers);
}
