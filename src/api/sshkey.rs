//! `LunaSSHKey`: a public SSH key on the Luna Node account, for VMs to be built with.
//!
//! Luna Node can add and remove a key, not change one, so the label and the key are immutable
//! (CEL rules say so at `kubectl apply` time). Keys belong to the account, not to a region.

use super::common::{CLOUD_NAME_PATTERN, ManagedSpec, immutable_fields};

/// Pattern of an OpenSSH public key line: the type (`ssh-ed25519`, `ssh-rsa`,
/// `ecdsa-sha2-nistp256`, ...), the base64 key, and an optional comment.
const PUBLIC_KEY_PATTERN: &str =
    r"^(ssh-[a-z0-9-]+|ecdsa-[a-z0-9-]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+=*( [^\r\n]*)?$";

crate::managed_crd! {
    /// A public SSH key on the Luna Node account, added and removed to match its spec.
    kube(kind = "LunaSSHKey", plural = "lunasshkeys", singular = "lunasshkey", shortname = "lkey"),
    status = "LunaSSHKeyStatus",
    columns(id, ("Label", "string", ".spec.label")),
    /// Desired state of a LunaSSHKey.
    #[x_kube(validation = immutable_fields(
        &["label", "publicKey"],
        "Luna Node cannot change a key; create a new LunaSSHKey",
    ))]
    pub struct LunaSSHKeySpec {
        /// The key's label on Luna Node; also how a key whose add answer was lost is found
        /// again, so keep it unique on the account. Immutable.
        #[schemars(length(min = 1, max = 64), regex(pattern = CLOUD_NAME_PATTERN))]
        pub label: String,

        /// The public key, one OpenSSH line: `ssh-ed25519 AAAA... comment`. Immutable. A public
        /// key is not a secret; the private key never goes anywhere near the operator.
        #[schemars(length(min = 16, max = 16384), regex(pattern = PUBLIC_KEY_PATTERN))]
        pub public_key: String,
    }
}

impl LunaSSHKeySpec {
    /// A key labelled `label` with the public key line `public_key`, without the white space
    /// around it: a line read from a `.pub` file ends with a newline, which the schema's
    /// pattern refuses.
    pub fn new(label: impl Into<String>, public_key: &str) -> Self {
        Self {
            label: label.into(),
            public_key: public_key.trim().to_owned(),
            managed: ManagedSpec::default(),
        }
    }
}

crate::status_types! {
    /// A key as the API reports it.
    pub struct SshKeyAtProvider in LunaSSHKeyStatus for LunaSSHKey {
        /// Its label.
        pub label: Option<String>,
        /// Its type (`ssh-ed25519`, ...).
        pub key_type: Option<String>,
    }
}
