//! The LunaMonitorContact controller: add a contact, replace it when its address changes (Luna
//! Node cannot change one), remove it. An address from a Secret is read when it is compared or
//! sent and shown nowhere: a contact has no name, so what a lost add is found again by is a
//! digest of the address salted with the object's UID.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::cloud;
use crate::api::monitorcontact::{ContactAtProvider, LunaMonitorContact};
use crate::controller::{prelude::*, secret::read_key};
use crate::lunanode::types::MonitorContact;

/// What a contact's add needs: its address, and the digest it is found again by.
pub struct ContactPlan {
    address: SecretString,
    digest: String,
}

impl LunaMonitorContact {
    /// The digest of a contact of `contact_type` at `address`, salted with this object's UID:
    /// what the create intent records instead of the address.
    fn digest(&self, contact_type: &str, address: &str) -> String {
        let uid = self.uid().unwrap_or_default();
        let contact_type = contact_type.trim().to_ascii_lowercase();
        let digest = Sha256::digest(format!("{uid}\n{contact_type}\n{}", address.trim()));
        format!("contact:{}", hex::encode(&digest[..16]))
    }

    /// The address the spec asks for, or why it cannot be read.
    async fn address(&self, ctx: &Context) -> Result<Result<SecretString, String>, Error> {
        if let Some(address) = &self.spec.address {
            return Ok(Ok(SecretString::from(address.trim().to_owned())));
        }
        let Some(reference) = &self.spec.address_from else {
            return Ok(Err(
                "spec.address and spec.addressFrom are both empty".into()
            ));
        };
        let namespace = self.namespace().unwrap_or_default();
        let object = format!("{namespace}/{}", self.name_any());
        Ok(read_key(&ctx.kube, &namespace, reference, &object)
            .await?
            .map(|value| SecretString::from(value.value.expose_secret().trim().to_owned())))
    }
}

impl External for LunaMonitorContact {
    type Observed = MonitorContact;
    type Plan = ContactPlan;

    fn cache(&self, account: &Account) -> Arc<ListCache<MonitorContact>> {
        cloud::contacts(account)
    }

    const ACTS_ON_THE_POLL: bool = true;

    /// Contacts have no name: the key is known once the address is read (see
    /// [`External::create_name_for`]).
    fn create_name(&self) -> String {
        String::new()
    }

    fn create_name_for(&self, plan: &ContactPlan) -> String {
        plan.digest.clone()
    }

    fn is_create_of(&self, name: &str, observed: &MonitorContact) -> bool {
        !name.is_empty() && self.digest(&observed.contact_type, &observed.rel) == name
    }

    /// A new contact is always added (an existing one of the same address is someone
    /// else's); the digest only recovers a lost add.
    fn has_natural_key(&self) -> bool {
        false
    }

    async fn plan(&self, cx: &CloudCx<'_, Self>) -> Result<Result<ContactPlan, Blocked>, Error> {
        Ok(match self.address(cx.ctx).await? {
            Ok(address) => {
                let wire = self.spec.contact_type.wire();
                let digest = self.digest(wire, address.expose_secret());
                Ok(ContactPlan { address, digest })
            }
            Err(why) => {
                Err(Blocked::waiting(Reason::SecretNotFound, why).retry(Duration::from_secs(30)))
            }
        })
    }

    async fn create(&self, plan: &ContactPlan, client: &Client) -> Result<String, lunanode::Error> {
        client
            .monitor_contact_add(self.spec.contact_type.wire(), plan.address.expose_secret())
            .await
    }

    fn report(&self, status: &mut Self::Status, observed: &MonitorContact) {
        status.at_provider = Some(ContactAtProvider {
            contact_type: non_empty(&observed.contact_type),
            // An address from a Secret is not shown.
            address: self
                .spec
                .address
                .as_ref()
                .and_then(|_| non_empty(&observed.rel)),
        });
    }

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        let id = observed.id.as_str();
        let poll = cx.ctx.accounts.timing().slow_interval;
        let address = match self.address(cx.ctx).await? {
            Ok(address) => address,
            Err(why) => {
                let message = format!("{why}: contact {id} is left as it is");
                mark(status, self).not_ready(Reason::SecretNotFound, &message);
                return Ok(Action::requeue(poll));
            }
        };
        let wire = self.spec.contact_type.wire();
        let same = observed.contact_type.eq_ignore_ascii_case(wire)
            && observed.rel.trim() == address.expose_secret();
        if same {
            let message = format!("contact {id} exists");
            mark(status, self).ready(Reason::Available, &message);
            // An address from a Secret is read again at every slow poll.
            return Ok(if self.spec.address_from.is_some() {
                Action::requeue(poll)
            } else {
                Action::await_change()
            });
        }
        // Luna Node cannot change a contact: replace it. The skeleton confirms it gone before
        // it adds the new one.
        let message = format!(
            "contact {id} has another type or address than the spec; Luna Node cannot change a contact: deleting it to add the spec's"
        );
        let why = managed::Replacement::Unchangeable;
        managed::replace(self, status, observed, cx, why, message).await
    }

    async fn delete(&self, observed: &MonitorContact, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let call = cx.client().monitor_contact_remove(&observed.id);
        cx.remove(self, "remove monitoring contact", &observed.id, call)
            .await
    }
}
