//! The LunaSSHKey controller: add, adopt and remove public keys. A key cannot be changed, so
//! once it exists there is nothing to update; a key adopted by its label whose key differs from
//! the manifest's is reported, never replaced.

use super::cloud::{self, ObservedKey, key_material};
use crate::api::sshkey::{LunaSSHKey, SshKeyAtProvider};
use crate::controller::prelude::*;

impl External for LunaSSHKey {
    type Observed = ObservedKey;
    type Plan = ();

    managed::found_by!(cloud::keys, label, label);

    managed::no_plan!();

    async fn create(&self, _plan: &(), client: &Client) -> Result<String, lunanode::Error> {
        client
            .sshkey_add(&self.spec.label, self.spec.public_key.trim())
            .await
    }

    fn report(&self, status: &mut Self::Status, observed: &ObservedKey) {
        status.at_provider = Some(SshKeyAtProvider {
            label: non_empty(&observed.label),
            key_type: non_empty(key_material(&observed.public_key).0),
        });
    }

    async fn sync(&self, SyncCx(status, observed, _): SyncCx<'_, Self>) -> Result<Action, Error> {
        if key_material(&observed.public_key) != key_material(&self.spec.public_key) {
            // Adopted by its label (or imported) with another key: Luna Node cannot change it.
            let message = format!(
                "key {} labelled {:?} holds another public key than spec.publicKey; Luna Node cannot change a key: import another key, or delete that one and let the operator add this one",
                observed.id, observed.label
            );
            mark(status, self).not_ready(Reason::SpecMismatch, &message);
            return Ok(Action::await_change());
        }
        let message = format!("key {} exists", observed.id);
        mark(status, self).ready(Reason::Available, &message);
        Ok(Action::await_change())
    }

    async fn delete(&self, observed: &ObservedKey, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let call = cx.client().sshkey_remove(&observed.id);
        cx.remove(self, "remove ssh key", &observed.id, call).await
    }
}
