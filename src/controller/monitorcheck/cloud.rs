//! The cloud reads of the LunaMonitorCheck controller: the account's shared
//! `monitor check-list`, and its `monitor check-types` (read on demand: types change rarely).

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};

use crate::{
    controller::{
        accounts::Account,
        caches::{Refresh, by_id, list_cache},
        list_cache::ListCache,
    },
    lunanode::{
        self, Client,
        types::{CheckType, MonitorCheck},
    },
};

list_cache! {
    /// The account's `monitor check-list` cache, polled; shared by every LunaMonitorCheck.
    pub fn checks(account) -> MonitorCheck = "monitor check-list",
        |client| client.monitor_check_list(),
        |check| &check.id,
        |check| check
}

/// The account's `monitor check-types`, by key, read when asked only.
pub fn types(account: &Account) -> Arc<ListCache<CheckType>> {
    account
        .caches
        .list("monitor check-types", "", Refresh::OnDemand, list_types)
}

fn list_types(
    client: Client,
    _key: String,
) -> BoxFuture<'static, Result<Vec<(String, CheckType)>, lunanode::Error>> {
    async move {
        let types = client.monitor_check_types().await?;
        Ok(by_id(
            types,
            |check_type| &check_type.key,
            |check_type| check_type,
        ))
    }
    .boxed()
}
