//! The cloud reads of the LunaStartupScript controller: the shared `script list`, kept as names
//! and digests (the content itself is not held).

use sha2::{Digest, Sha256};

use crate::controller::caches::list_cache;

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

/// The SHA-256 (hex) of a script as Luna Node keeps it: line endings count as `\n` (the
/// service stores them as `\r\n`).
pub fn content_sha256(content: &str) -> String {
    hex::encode(Sha256::digest(content.replace("\r\n", "\n").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_do_not_change_the_digest() {
        assert_eq!(
            content_sha256("#!/bin/sh\r\necho hi\r\n"),
            content_sha256("#!/bin/sh\necho hi\n")
        );
        assert_ne!(content_sha256("a"), content_sha256("b"));
    }
}
