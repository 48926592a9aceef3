//! The cloud reads of the LunaDynamicRecord controller: the account's shared `dns dyn-list`.

use crate::{controller::caches::list_cache, lunanode::types::DynEntry};

list_cache! {
    /// The account's `dns dyn-list` cache, polled; shared by every LunaDynamicRecord.
    pub fn entries(account) -> DynEntry = "dns dyn-list",
        |client| client.dns_dyn_list(), |entry| &entry.id, |entry| entry
}
