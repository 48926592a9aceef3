//! The LunaEmailAlias controller: add and remove aliases. An alias cannot be changed, so once
//! it exists there is nothing to update; one adopted by its name whose target differs from the
//! manifest's is reported, never replaced.

use std::time::Duration;

use super::cloud::{self, ObservedAlias};
use crate::api::emailalias::{EmailAliasAtProvider, LunaEmailAlias};
use crate::controller::{emaildomain::cloud::cached_domain_id, prelude::*};

impl External for LunaEmailAlias {
    type Observed = ObservedAlias;
    /// The domain's ID.
    type Plan = String;

    fn cache(&self, account: &Account) -> Arc<ListCache<ObservedAlias>> {
        cloud::aliases(account, &self.spec.domain)
    }

    const ACTS_ON_THE_POLL: bool = true;

    fn create_name(&self) -> String {
        self.spec.name.clone()
    }

    /// The name, and the target (immutable): an alias of that name to another address is
    /// someone else's.
    fn is_create_of(&self, name: &str, observed: &ObservedAlias) -> bool {
        observed.name.eq_ignore_ascii_case(name)
            && observed
                .target
                .eq_ignore_ascii_case(self.spec.target.trim())
    }

    async fn plan(&self, cx: &CloudCx<'_, Self>) -> Result<Result<String, Blocked>, Error> {
        let domain = &self.spec.domain;
        Ok(
            cached_domain_id(cx.account, domain, cx.ctx.accounts.timing().slow_interval)
                .await
                .map_err(|source| cloud("list e-mail domains", &cx.object, source))?
                .ok_or_else(|| {
                    let message = format!("the account hosts no e-mail domain {domain} yet");
                    Blocked::waiting(Reason::WaitingForDomain, message)
                        .retry(Duration::from_secs(30))
                }),
        )
    }

    async fn create(&self, domain_id: &String, client: &Client) -> Result<String, lunanode::Error> {
        client
            .email_alias_add(domain_id, &self.spec.name, &self.spec.target)
            .await
    }

    fn report(&self, status: &mut Self::Status, observed: &ObservedAlias) {
        status.at_provider = Some(EmailAliasAtProvider {
            name: non_empty(&observed.name),
            target: non_empty(&observed.target),
        });
    }

    async fn sync(&self, SyncCx(status, observed, _): SyncCx<'_, Self>) -> Result<Action, Error> {
        if !observed
            .target
            .eq_ignore_ascii_case(self.spec.target.trim())
        {
            let message = format!(
                "alias {} forwards to {}, not to spec.target; Luna Node cannot change an alias: delete that one and let the operator add this one",
                observed.id, observed.target
            );
            mark(status, self).not_ready(Reason::SpecMismatch, &message);
            return Ok(Action::await_change());
        }
        let message = format!("alias {} forwards to {}", observed.id, observed.target);
        mark(status, self).ready(Reason::Available, &message);
        Ok(Action::await_change())
    }

    async fn delete(&self, observed: &ObservedAlias, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let call = cx
            .client()
            .email_alias_remove(&observed.domain_id, &observed.id);
        cx.remove(self, "remove alias", &observed.id, call).await
    }
}
