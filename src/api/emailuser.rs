//! `LunaEmailUser`: a mailbox of a hosted e-mail domain, its password from a key of a Secret.
//!
//! The password is read from the Secret when it is sent and never written anywhere else: the
//! status holds only the Secret's version last applied.

use super::common::{KeyRef, MAX_NAME_LENGTH, ManagedSpec, immutable_fields};
use super::emaildomain::{DOMAIN_PATTERN, LOCAL_PART_PATTERN};

crate::managed_crd! {
    /// A mailbox of a hosted e-mail domain, its password from a key of a Secret.
    kube(kind = "LunaEmailUser", plural = "lunaemailusers", singular = "lunaemailuser", shortname = "leuser"),
    status = "LunaEmailUserStatus",
    columns(id, ("Address", "string", ".status.atProvider.email")),
    /// Desired state of a LunaEmailUser.
    #[x_kube(validation = immutable_fields(&["domain", "username"], "create a new LunaEmailUser"))]
    pub struct LunaEmailUserSpec {
        /// The domain's name, e.g. `example.com` (hosted on the account, by a LunaEmailDomain or
        /// not). Immutable.
        #[schemars(length(min = 3, max = MAX_NAME_LENGTH), regex(pattern = DOMAIN_PATTERN))]
        pub domain: String,

        /// The local part, e.g. `alice` for `alice@example.com`. Immutable; also how a mailbox
        /// whose add answer was lost is found again.
        #[schemars(length(min = 1, max = 64), regex(pattern = LOCAL_PART_PATTERN))]
        pub username: String,

        /// A key of a Secret of the namespace holding the password (8 characters at least). A
        /// change of the Secret, or another reference, sets the new password.
        pub password_secret_ref: KeyRef,
    }
}

impl LunaEmailUserSpec {
    /// The mailbox `username@domain` with the password at `key` of Secret `secret`.
    pub fn new(domain: &str, username: &str, secret: &str, key: &str) -> Self {
        Self {
            domain: domain.into(),
            username: username.into(),
            password_secret_ref: KeyRef::new(secret, key),
            managed: ManagedSpec::default(),
        }
    }
}

crate::status_types! {
    /// Observed state of a LunaEmailUser.
    pub struct LunaEmailUserStatus for LunaEmailUser(EmailUserAtProvider) {
        /// The version (`<name>/<uid>/<resourceVersion>`) of the Secret whose password was last
        /// set, never the password: a change of the Secret sets it again.
        pub applied_password: Option<String>,
    }

    /// A mailbox as the API reports it.
    pub struct EmailUserAtProvider {
        /// Its full address.
        pub email: Option<String>,
    }
}
