//! The cloud reads of the e-mail kinds: the account's shared `email domain-list`, and a domain's
//! ID by its name.

use crate::{
    controller::{accounts::Account, caches::list_cache},
    lunanode::{self, Client, types::EmailDomain},
};

list_cache! {
    /// The account's `email domain-list` cache, polled; shared by every LunaEmailDomain.
    pub fn domains(account) -> EmailDomain = "email domain-list",
        |client| client.email_domain_list(), |domain| &domain.id, |domain| domain
}

/// The ID of the domain named `name` (`example.com`, any case, with or without the final dot),
/// from a fresh `email domain-list`: `None` when the account has no such domain.
pub async fn domain_id(client: &Client, name: &str) -> Result<Option<String>, lunanode::Error> {
    let domains = client.email_domain_list().await?;
    Ok(domains
        .into_iter()
        .find(|domain| same_domain(&domain.name, name))
        .map(|domain| domain.id))
}

/// The ID of the domain named `name` from the account's shared domain list, at most `max_age`
/// old: what a mailbox or alias waiting for its domain reads, so that any number of them cost
/// one list per `max_age`.
pub async fn cached_domain_id(
    account: &Account,
    name: &str,
    max_age: std::time::Duration,
) -> Result<Option<String>, lunanode::Error> {
    let snapshot = domains(account).get(max_age).await?;
    Ok(snapshot
        .entries
        .values()
        .find(|domain| same_domain(&domain.name, name))
        .map(|domain| domain.id.clone()))
}

/// Whether two domain names are the same name.
pub fn same_domain(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}
