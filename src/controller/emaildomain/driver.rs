//! The LunaEmailDomain controller: add a hosted e-mail domain, keep DKIM signing as the spec
//! says (the private key read from its Secret when it is set, never kept), remove the domain.

use secrecy::ExposeSecret;

use super::cloud::{self, same_domain};
use crate::api::{
    LunaEmailAlias, LunaEmailUser,
    emaildomain::{EmailDomainAtProvider, LunaEmailDomain},
};
use crate::controller::{prelude::*, secret::read_key};
use crate::lunanode::types::EmailDomain;

impl External for LunaEmailDomain {
    type Observed = EmailDomain;
    type Plan = ();

    const STANDING_FAILURES: &'static [Reason] = &[Reason::UpdateFailed];

    fn cache(&self, account: &Account) -> Arc<ListCache<EmailDomain>> {
        cloud::domains(account)
    }

    const ACTS_ON_THE_POLL: bool = true;

    fn create_name(&self) -> String {
        self.spec.name.clone()
    }

    fn is_create_of(&self, name: &str, observed: &EmailDomain) -> bool {
        same_domain(&observed.name, name)
    }

    managed::no_plan!();

    async fn create(&self, _plan: &(), client: &Client) -> Result<String, lunanode::Error> {
        client.email_domain_add(&self.spec.name).await
    }

    fn report(&self, status: &mut Self::Status, observed: &EmailDomain) {
        status.at_provider = Some(EmailDomainAtProvider {
            name: non_empty(&observed.name),
            dkim: Some(observed.dkim),
            dkim_selector: non_empty(&observed.dkim_selector),
        });
    }

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        let id = observed.id.as_str();
        let poll = cx.ctx.accounts.timing().slow_interval;
        let Some(dkim) = &self.spec.dkim else {
            if !observed.dkim {
                status.applied_dkim = None;
                let message = format!("domain {id} exists, without DKIM");
                mark(status, self).ready(Reason::Available, &message);
                return Ok(Action::await_change());
            }
            let update = managed::Update {
                reason: "Updated",
                note: format!("DKIM unset on domain {id}"),
                action: "unset DKIM",
            };
            let call = cx.client().email_domain_dkim_unset(id);
            return managed::update(self, status, cx, update, call).await;
        };
        // The key is read on every look (after a change, and every slow poll): a rotated
        // Secret is set again.
        let namespace = self.namespace().unwrap_or_default();
        let object = format!("{namespace}/{}", self.name_any());
        let key = match read_key(
            &cx.ctx.kube,
            &namespace,
            &dkim.private_key_secret_ref,
            &object,
        )
        .await?
        {
            Ok(key) => key,
            Err(why) => {
                let message = format!("{why}: DKIM of domain {id} is left as it is");
                mark(status, self).not_ready(Reason::SecretNotFound, &message);
                return Ok(Action::requeue(poll));
            }
        };
        let applied = format!("{}/{}", dkim.selector, key.version);
        if observed.dkim
            && observed.dkim_selector == dkim.selector
            && status.applied_dkim.as_deref() == Some(applied.as_str())
        {
            let message = format!("domain {id} exists, signed with selector {}", dkim.selector);
            mark(status, self).ready(Reason::Available, &message);
            return Ok(Action::requeue(poll));
        }
        if managed::refused_at_generation(status, self, Reason::UpdateFailed) {
            return Ok(Action::requeue(poll));
        }
        let result = cx
            .client()
            .email_domain_dkim_set(id, &dkim.selector, key.value.expose_secret())
            .await;
        if result.is_ok() {
            status.applied_dkim = Some(applied);
        }
        let update = managed::Update {
            reason: "Updated",
            note: format!("DKIM set on domain {id} with selector {}", dkim.selector),
            action: "set DKIM",
        };
        managed::updated(self, status, cx, result, update).await
    }

    async fn holders(&self, ctx: &Context) -> Result<Vec<String>, Error> {
        let namespace = self.namespace().unwrap_or_default();
        let name = self.spec.name.to_ascii_lowercase();
        let mut holders = managed::holders::<LunaEmailUser>(ctx, &namespace, &name, |user| {
            vec![user.spec.domain.to_ascii_lowercase()]
        })
        .await?;
        let aliases = managed::holders::<LunaEmailAlias>(ctx, &namespace, &name, |alias| {
            vec![alias.spec.domain.to_ascii_lowercase()]
        });
        holders.extend(aliases.await?);
        Ok(holders)
    }

    async fn delete(&self, observed: &EmailDomain, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let call = cx.client().email_domain_remove(&observed.id);
        cx.remove(self, "remove e-mail domain", &observed.id, call)
            .await
    }
}
