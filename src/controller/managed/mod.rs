//! The controller skeleton every kind runs on.
//!
//! - [`driver`]: one kind's controller — the watch, the finalizer, the pause annotation,
//!   credentials, the conditional status write at the end of each reconcile, the Synced
//!   condition on failure, why a deletion waits, per-object backoff, metrics and wake-ups. A
//!   kind supplies [`Reconciler::apply`] and [`Reconciler::cleanup`].
//! - [`external`]: the standard steps of a kind observed through a list cache ([`External`]):
//!   identity and account checks, observe, confirm before re-creating, sync.
//! - [`create`]: adopt (`import.id`, or the adoption policy), recover an interrupted create,
//!   or create crash-safely.
//! - [`cleanup`]: delete only what the object holds, and release the finalizer on evidence.
//! - [`ownership`]: the identity in metadata, the claims of other objects, and the pure
//!   decisions all of the above rest on.
//! - [`references`]: references between kinds and the holders a deletion waits for.
//! - [`scope`]: the namespaces the operator serves, and the watches and lists over them.

pub mod cleanup;
pub mod create;
pub mod driver;
pub mod external;
pub mod ownership;
pub mod references;
pub mod scope;

pub use cleanup::cleanup_external;
pub use driver::{
    CloudCx, Cx, Mark, Readiness, Reconciler, Registry, Superseded, Waker, cloud, mark,
    refused_at_generation, run, set, stuck, stuck_anew, watches,
};
pub(crate) use driver::{found_by, no_plan};
pub use external::{
    Blocked, External, Repeats, Replacement, SyncCx, UPDATE_REPEATS, Update, apply_external,
    replace, update, updated,
};
pub use references::{
    Follow, Reference, holders, is_ready, named, referenced, referrers, resolve, wait_for_holders,
};
