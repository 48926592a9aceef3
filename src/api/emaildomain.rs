//! `LunaEmailDomain`: a hosted e-mail domain of the Luna Node account, DKIM signing on or off.
//!
//! Users (`LunaEmailUser`) and aliases (`LunaEmailAlias`) name their domain by its DNS name
//! (`spec.domain`), whether a LunaEmailDomain manages it or not: the shared list of a domain's
//! users or aliases is found by that name. DKIM private keys are read from Secrets when they are
//! sent and never written anywhere else: not to the status (which holds only the Secret's
//! version last applied), an Event or a log.

use super::common::{KeyRef, MAX_NAME_LENGTH, immutable_fields};

/// Pattern of a domain name: dot-separated labels, at least two, lowercase.
pub(super) const DOMAIN_PATTERN: &str =
    r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]*[a-z0-9])?$";

/// Pattern of a local part (the part before the `@`) as Luna Node takes it.
pub(super) const LOCAL_PART_PATTERN: &str = r"^[a-z0-9._+-]+$";

crate::managed_crd! {
    /// A hosted e-mail domain of the Luna Node account, added, DKIM-signed as its spec says, and removed.
    kube(kind = "LunaEmailDomain", plural = "lunaemaildomains", singular = "lunaemaildomain", shortname = "ledomain"),
    status = "LunaEmailDomainStatus",
    columns(id, ("Domain", "string", ".spec.name"), ("DKIM", "boolean", ".status.atProvider.dkim")),
    /// Desired state of a LunaEmailDomain.
    #[x_kube(validation = immutable_fields(&["name"], "create a new LunaEmailDomain"))]
    #[derive(Default)]
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
            ..Self::default()
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
