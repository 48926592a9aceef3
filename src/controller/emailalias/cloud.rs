//! The cloud reads of the LunaEmailAlias controller: the shared `email alias-list` of a domain.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};

use crate::controller::{accounts::Account, emaildomain::cloud::domain_id, list_cache::ListCache};
use crate::lunanode::{self, Client};

/// An alias as listed, with the domain it is in (what its calls need).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedAlias {
    /// Alias ID.
    pub id: String,
    /// The local part.
    pub name: String,
    /// Where its mail goes.
    pub target: String,
    /// The domain's ID.
    pub domain_id: String,
}

/// The account's `email alias-list` cache of the domain named `domain`, polled; shared by every
/// LunaEmailAlias of that domain (two calls per refresh: the domain's ID, then its aliases).
pub fn aliases(account: &Account, domain: &str) -> Arc<ListCache<ObservedAlias>> {
    account
        .caches
        .keyed("email alias-list", &domain.to_ascii_lowercase(), list)
}

fn list(
    client: Client,
    domain: String,
) -> BoxFuture<'static, Result<Vec<(String, ObservedAlias)>, lunanode::Error>> {
    async move {
        let Some(domain_id) = domain_id(&client, &domain).await? else {
            return Ok(Vec::new());
        };
        let aliases = client.email_alias_list(&domain_id).await?;
        Ok(aliases
            .into_iter()
            .filter(|alias| !alias.id.is_empty())
            .map(|alias| {
                let observed = ObservedAlias {
                    id: alias.id.clone(),
                    name: alias.name,
                    target: alias.target,
                    domain_id: domain_id.clone(),
                };
                (alias.id, observed)
            })
            .collect())
    }
    .boxed()
}
