//! What a kind's driver works with, in one import (`use crate::controller::prelude::*;`): the
//! shared context and account, the error and condition reasons, the list cache, and the steps
//! and helpers of the shared skeleton (`managed`).

pub use std::sync::Arc;

pub use kube::{
    ResourceExt,
    runtime::{Controller, controller::Action},
};

pub use super::{
    Context,
    accounts::Account,
    caches::{by_id, listed, non_empty},
    error::Error,
    list_cache::ListCache,
    managed::{
        self, Blocked, CloudCx, Cx, External, Follow, Reconciler, Reference, SyncCx, cloud, mark,
    },
    reason::Reason,
};
pub use crate::{
    api::common::ManagedResource,
    lunanode::{self, Client},
};
