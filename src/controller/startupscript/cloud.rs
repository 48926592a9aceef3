//! The cloud reads of the LunaStartupScript controller: the shared `script list`, kept as names
//! and digests (the content itself is not held).

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};

use crate::{
    api::startupscript::content_sha256,
    controller::{accounts::Account, caches::by_id, list_cache::ListCache},
    lunanode::{self, Client},
};

/// The account's `script list` cache (scripts are account-wide), polled.
pub fn scripts(account: &Account) -> Arc<ListCache<ObservedScript>> {
    account.caches.keyed("script list", "", list)
}

/// A script as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedScript {
    /// Script ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The SHA-256 of its content (see [`content_sha256`]).
    pub sha256: String,
}

fn list(
    client: Client,
    _key: String,
) -> BoxFuture<'static, Result<Vec<(String, ObservedScript)>, lunanode::Error>> {
    async move {
        let scripts = client.script_list().await?;
        Ok(by_id(
            scripts,
            |script| &script.id,
            |script| ObservedScript {
                sha256: content_sha256(&script.content),
                id: script.id,
                name: script.name,
            },
        ))
    }
    .boxed()
}
