//! The cloud reads of the LunaSSHKey controller: the shared `sshkey list` and its conversion.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};

use crate::{
    controller::{accounts::Account, caches::by_id, list_cache::ListCache},
    lunanode::{self, Client},
};

/// The account's `sshkey list` cache (keys are account-wide), polled.
pub fn keys(account: &Account) -> Arc<ListCache<ObservedKey>> {
    account.caches.keyed("sshkey list", "", list)
}

/// A key as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedKey {
    /// Key ID.
    pub id: String,
    /// Its label.
    pub label: String,
    /// The public key line.
    pub public_key: String,
}

fn list(
    client: Client,
    _key: String,
) -> BoxFuture<'static, Result<Vec<(String, ObservedKey)>, lunanode::Error>> {
    async move {
        let keys = client.sshkey_list().await?;
        Ok(by_id(
            keys,
            |key| &key.id,
            |key| ObservedKey {
                id: key.id,
                label: key.name,
                public_key: key.value,
            },
        ))
    }
    .boxed()
}
