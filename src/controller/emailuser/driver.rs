//! The LunaEmailUser controller: add a mailbox with the password of its Secret, set the
//! password again when the Secret changes (the Secret's version is what the status remembers;
//! the password is sent to the API and nowhere else), remove the mailbox.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::cloud::{self, ObservedUser};
use crate::api::emailuser::{EmailUserAtProvider, LunaEmailUser};
use crate::controller::{emaildomain::cloud::cached_domain_id, prelude::*, secret::read_key};

/// How soon a mailbox waiting for its domain or its Secret looks again.
const WAIT_RETRY: Duration = Duration::from_secs(30);

/// What a mailbox's add needs: the domain's ID and the password, with the Secret's version.
pub struct UserPlan {
    domain_id: String,
    password: SecretString,
    version: String,
}

impl LunaEmailUser {
    /// The object's `namespace/name`, for errors.
    fn object(&self) -> String {
        format!(
            "{}/{}",
            self.namespace().unwrap_or_default(),
            self.name_any()
        )
    }
}

impl External for LunaEmailUser {
    type Observed = ObservedUser;
    type Plan = UserPlan;

    const STANDING_FAILURES: &'static [Reason] = &[Reason::UpdateFailed];

    managed::found_by!(cloud::users[domain], username, username, ignore_case);

    const ACTS_ON_THE_POLL: bool = true;

    async fn plan(&self, cx: &CloudCx<'_, Self>) -> Result<Result<UserPlan, Blocked>, Error> {
        let domain = &self.spec.domain;
        let Some(domain_id) =
            cached_domain_id(cx.account, domain, cx.ctx.accounts.timing().slow_interval)
                .await
                .map_err(|source| cloud("list e-mail domains", &cx.object, source))?
        else {
            let message = format!("the account hosts no e-mail domain {domain} yet");
            return Ok(Err(
                Blocked::waiting(Reason::WaitingForDomain, message).retry(WAIT_RETRY)
            ));
        };
        let namespace = self.namespace().unwrap_or_default();
        let reference = &self.spec.password_secret_ref;
        match read_key(&cx.ctx.kube, &namespace, reference, &self.object()).await? {
            Ok(password) => Ok(Ok(UserPlan {
                domain_id,
                password: password.value,
                version: password.version,
            })),
            Err(why) => Ok(Err(
                Blocked::waiting(Reason::SecretNotFound, why).retry(WAIT_RETRY)
            )),
        }
    }

    async fn create(&self, plan: &UserPlan, client: &Client) -> Result<String, lunanode::Error> {
        client
            .email_user_add(
                &plan.domain_id,
                &self.spec.username,
                plan.password.expose_secret(),
            )
            .await
    }

    /// After an add, the password applied; after an adoption, none: the next look sets the
    /// Secret's.
    fn created(&self, status: &mut Self::Status, plan: Option<&UserPlan>, _account: &Account) {
        status.applied_password = plan.map(|plan| plan.version.clone());
    }

    fn report(&self, status: &mut Self::Status, observed: &ObservedUser) {
        status.at_provider = Some(EmailUserAtProvider {
            email: non_empty(&observed.email),
        });
    }

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        let id = observed.id.as_str();
        let poll = cx.ctx.accounts.timing().slow_interval;
        // The Secret is read on every look (after a change, and every slow poll).
        let namespace = self.namespace().unwrap_or_default();
        let reference = &self.spec.password_secret_ref;
        let password = match read_key(&cx.ctx.kube, &namespace, reference, &self.object()).await? {
            Ok(password) => password,
            Err(why) => {
                let message = format!("{why}: the password of mailbox {id} is left as it is");
                mark(status, self).not_ready(Reason::SecretNotFound, &message);
                return Ok(Action::requeue(poll));
            }
        };
        if status.applied_password.as_deref() == Some(password.version.as_str()) {
            let message = format!("mailbox {} exists", observed.email);
            mark(status, self).ready(Reason::Available, &message);
            return Ok(Action::requeue(poll));
        }
        if managed::refused_at_generation(status, self, Reason::UpdateFailed) {
            return Ok(Action::requeue(poll));
        }
        let result = cx
            .client()
            .email_user_set_password(&observed.domain_id, id, password.value.expose_secret())
            .await;
        if result.is_ok() {
            status.applied_password = Some(password.version);
        }
        let update = managed::Update {
            reason: "PasswordSet",
            note: format!(
                "set the password of mailbox {id} from Secret {}",
                reference.name
            ),
            action: "set the password",
        };
        managed::updated(self, status, cx, result, update).await
    }

    async fn delete(&self, observed: &ObservedUser, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let call = cx
            .client()
            .email_user_remove(&observed.domain_id, &observed.id);
        cx.remove(self, "remove mailbox", &observed.id, call).await
    }
}
