//! The cloud reads of the LunaEmailUser controller: the shared `email user-list` of a domain.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};

use crate::controller::{accounts::Account, emaildomain::cloud::domain_id, list_cache::ListCache};
use crate::lunanode::{self, Client};

/// A mailbox as listed, with the domain it is in (what its calls need).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedUser {
    /// User ID.
    pub id: String,
    /// The local part.
    pub username: String,
    /// The full address.
    pub email: String,
    /// The domain's ID.
    pub domain_id: String,
}

/// The account's `email user-list` cache of the domain named `domain`, polled; shared by every
/// LunaEmailUser of that domain. A refresh reads the domain list for the domain's ID, then
/// its users: two calls per domain, whatever the number of mailboxes.
pub fn users(account: &Account, domain: &str) -> Arc<ListCache<ObservedUser>> {
    account
        .caches
        .keyed("email user-list", &domain.to_ascii_lowercase(), list)
}

fn list(
    client: Client,
    domain: String,
) -> BoxFuture<'static, Result<Vec<(String, ObservedUser)>, lunanode::Error>> {
    async move {
        let Some(domain_id) = domain_id(&client, &domain).await? else {
            return Ok(Vec::new());
        };
        let users = client.email_user_list(&domain_id).await?;
        Ok(users
            .into_iter()
            .filter(|user| !user.id.is_empty())
            .map(|user| {
                let observed = ObservedUser {
                    id: user.id.clone(),
                    username: user.username,
                    email: user.email,
                    domain_id: domain_id.clone(),
                };
                (user.id, observed)
            })
            .collect())
    }
    .boxed()
}
