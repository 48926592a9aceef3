//! The cloud reads of the LunaStartupScript controller: the shared `script list`, kept as names
//! and digests (the content itself is not held).

use crate::{api::startupscript::content_sha256, controller::caches::list_cache};

list_cache! {
    /// The account's `script list` cache (scripts are account-wide), polled.
    pub fn scripts(account) -> ObservedScript = "script list",
        |client| client.script_list(),
        |script| &script.id,
        |script| ObservedScript {
            sha256: content_sha256(&script.content),
            id: script.id,
            name: script.name,
        }
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
