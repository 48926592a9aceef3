//! The cloud reads of the LunaMonitorContact controller: the account's shared
//! `monitor contact-list`.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};

use crate::{
    controller::{accounts::Account, caches::by_id, list_cache::ListCache},
    lunanode::{self, Client, types::MonitorContact},
};

/// The account's `monitor contact-list` cache, polled; shared by every LunaMonitorContact.
pub fn contacts(account: &Account) -> Arc<ListCache<MonitorContact>> {
    account.caches.keyed("monitor contact-list", "", list)
}

fn list(
    client: Client,
    _key: String,
) -> BoxFuture<'static, Result<Vec<(String, MonitorContact)>, lunanode::Error>> {
    async move {
        let contacts = client.monitor_contact_list().await?;
        Ok(by_id(contacts, |contact| &contact.id, |contact| contact))
    }
    .boxed()
}
