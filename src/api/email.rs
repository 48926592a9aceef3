//! E-mail hosting as code: `LunaEmailDomain` (a hosted domain, with DKIM signing on or off),
//! `LunaEmailUser` (a mailbox whose password comes from a key of a Secret) and
//! `LunaEmailAlias` (a local part that forwards to an address).
//!
//! Users and aliases name their domain by its DNS name (`spec.domain`), whether a
//! LunaEmailDomain manages it or not: the shared list of a domain's users or aliases is found by
//! that name. Passwords and DKIM private keys are read from Secrets when they are sent and never
//! written anywhere else: not to the status (which holds only the Secret's version last
//! applied), an Event or a log.

use super::common::{MAX_NAME_LENGTH, ManagedSpec, immutable_fields};
use super::startupscript::KeyRef;

/// Pattern of a domain name: dot-separated labels, at least two, lowercase.
const DOMAIN_PATTERN: &str = r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]*[a-z0-9])?$";

/// Pattern of a local part (the part before the `@`) as Luna Node takes it.
const LOCAL_PART_PATTERN: &str = r"^[a-z0-9._+-]+$";

crate::managed_crd! {
    /// A hosted e-mail domain of the Luna Node account, added, DKIM-signed as its spec says, and removed.
    kube(kind = "LunaEmailDomain", plural = "lunaemaildomains", singular = "lunaemaildomain", shortname = "ledomain"),
    status = "LunaEmailDomainStatus",
    columns(id, ("Domain", "string", ".spec.name"), ("DKIM", "boolean", ".status.atProvider.dkim")),
    /// Desired state of a LunaEmailDomain.
    #[x_kube(validation = immutable_fields(&["name"], "create a new LunaEmailDomain"))]
    pub struct LunaEmailDomainSpec {
        /// The domain name, e.g. `example.com`. Immutable; also how a domain whose add answer
        /// was lost is found again.
        #[schemars(length(min = 3, max = MAX_NAME_LENGTH), regex(pattern = DOMAIN_PATTERN))]
        pub name: String,

        /// DKIM signing: on with this selector and private key, off when left out. A new
        /// selector, or a change of the Secret, sets it again.
        pub dkim: Option<Dkim>,
    }
}

/// DKIM signing of a domain's mail.
#[derive(
    Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct Dkim {
    /// The selector (the `<selector>._domainkey` DNS name publishes the public key).
    #[schemars(length(min = 1, max = 63), regex(pattern = LOCAL_PART_PATTERN))]
    pub selector: String,
    /// A key of a Secret of the namespace holding the PEM private key.
    pub private_key_secret_ref: KeyRef,
}

impl LunaEmailDomainSpec {
    /// The domain `name`, without DKIM.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            dkim: None,
            managed: ManagedSpec::default(),
        }
    }
}

crate::status_types! {
    /// Observed state of a LunaEmailDomain.
    pub struct LunaEmailDomainStatus for LunaEmailDomain(EmailDomainAtProvider) {
        /// The DKIM selector and the version (`<uid>/<resourceVersion>`) of the Secret whose key
        /// was last set, never the key: a change of either sets it again.
        pub applied_dkim: Option<String>,
    }

    /// A domain as the API reports it.
    pub struct EmailDomainAtProvider {
        /// Its name.
        pub name: Option<String>,
        /// Whether DKIM signing is on.
        pub dkim: Option<bool>,
        /// The DKIM selector.
        pub dkim_selector: Option<String>,
    }
}

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

crate::managed_crd! {
    /// An alias of a hosted e-mail domain: mail to it goes to the target address.
    kube(kind = "LunaEmailAlias", plural = "lunaemailaliases", singular = "lunaemailalias", shortname = "lealias"),
    status = "LunaEmailAliasStatus",
    columns(id, ("Alias", "string", ".spec.name"), ("Target", "string", ".spec.target")),
    /// Desired state of a LunaEmailAlias.
    #[x_kube(validation = immutable_fields(
        &["domain", "name", "target"],
        "Luna Node cannot change an alias; create a new LunaEmailAlias",
    ))]
    pub struct LunaEmailAliasSpec {
        /// The domain's name, e.g. `example.com`. Immutable.
        #[schemars(length(min = 3, max = MAX_NAME_LENGTH), regex(pattern = DOMAIN_PATTERN))]
        pub domain: String,

        /// The local part of the alias, e.g. `sales`. Immutable; also how an alias whose add
        /// answer was lost is found again.
        #[schemars(length(min = 1, max = 64), regex(pattern = LOCAL_PART_PATTERN))]
        pub name: String,

        /// The address its mail goes to. Immutable.
        #[schemars(length(min = 3, max = 254), regex(pattern = r"^[^@\s]+@[^@\s]+$"))]
        pub target: String,
    }
}

impl LunaEmailAliasSpec {
    /// The alias `name@domain` forwarding to `target`.
    pub fn new(domain: &str, name: &str, target: &str) -> Self {
        Self {
            domain: domain.into(),
            name: name.into(),
            target: target.into(),
            managed: ManagedSpec::default(),
        }
    }
}

crate::status_types! {
    /// An alias as the API reports it.
    pub struct EmailAliasAtProvider in LunaEmailAliasStatus for LunaEmailAlias {
        /// Its local part.
        pub name: Option<String>,
        /// Where its mail goes.
        pub target: Option<String>,
    }
}
