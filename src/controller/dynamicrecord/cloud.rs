//! The cloud reads of the LunaDynamicRecord controller: the account's shared `dns dyn-list`.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};

use crate::{
    controller::{accounts::Account, caches::by_id, list_cache::ListCache},
    lunanode::{self, Client, types::DynEntry},
};

/// The account's `dns dyn-list` cache, polled; shared by every LunaDynamicRecord.
pub fn entries(account: &Account) -> Arc<ListCache<DynEntry>> {
    account.caches.keyed("dns dyn-list", "", list)
}

fn list(
    client: Client,
    _key: String,
) -> BoxFuture<'static, Result<Vec<(String, DynEntry)>, lunanode::Error>> {
    async move {
        let entries = client.dns_dyn_list().await?;
        Ok(by_id(entries, |entry| &entry.id, |entry| entry))
    }
    .boxed()
}
