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

/// The type and the key of a public key line, without its comment or extra spaces: what two
/// lines must share to be the same key.
pub fn key_material(line: &str) -> (&str, &str) {
    let mut parts = line.split_whitespace();
    (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_whatever_its_comment_and_spacing() {
        assert_eq!(
            key_material("ssh-ed25519  AAAAC3Nza  me@laptop"),
            key_material("ssh-ed25519 AAAAC3Nza other")
        );
        assert_ne!(
            key_material("ssh-ed25519 AAAAC3Nza"),
            key_material("ssh-ed25519 AAAAC3Nzb")
        );
        assert_eq!(key_material(""), ("", ""));
    }
}
