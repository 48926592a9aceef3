//! The cloud reads of the LunaSSHKey controller: the shared `sshkey list` and its conversion.

use crate::controller::caches::list_cache;

list_cache! {
    /// The account's `sshkey list` cache (keys are account-wide), polled.
    pub fn keys(account) -> ObservedKey = "sshkey list",
        |client| client.sshkey_list(),
        |key| &key.id,
        |key| ObservedKey {
            id: key.id,
            label: key.name,
            public_key: key.value,
        }
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
