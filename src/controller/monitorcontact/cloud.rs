//! The cloud reads of the LunaMonitorContact controller: the account's shared
//! `monitor contact-list`.

use crate::{controller::caches::list_cache, lunanode::types::MonitorContact};

list_cache! {
    /// The account's `monitor contact-list` cache, polled; shared by every LunaMonitorContact.
    pub fn contacts(account) -> MonitorContact = "monitor contact-list",
        |client| client.monitor_contact_list(), |contact| &contact.id, |contact| contact
}
