//! `LunaEmailAlias`: a local part of a hosted e-mail domain that forwards to an address.

use super::common::{MAX_NAME_LENGTH, ManagedSpec, immutable_fields};
use super::emaildomain::{DOMAIN_PATTERN, LOCAL_PART_PATTERN};

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
