//! `LunaMonitorContact`: where monitoring alerts go (an e-mail address, a phone number or a
//! webhook), inline or from a key of a Secret.
//!
//! Luna Node cannot change a contact: a new address replaces the cloud object (deleted, then
//! made again).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::KeyRef;

crate::managed_crd! {
    /// A monitoring contact of the Luna Node account: where alerts about checks go.
    kube(kind = "LunaMonitorContact", plural = "lunamonitorcontacts", singular = "lunamonitorcontact", shortname = "lcontact"),
    status = "LunaMonitorContactStatus",
    columns(id, ("Type", "string", ".spec.type")),
    /// Desired state of a LunaMonitorContact.
    #[x_kube(validation = super::common::exactly_one("address", "addressFrom"))]
    #[derive(Default)]
    pub struct LunaMonitorContactSpec {
        /// How the contact is reached: `Email`, `SMS`, `SMSTwilio` or `Webhook` (an HTTP URL
        /// called with the alert).
        #[serde(rename = "type")]
        pub contact_type: ContactType,

        /// The e-mail address, phone number or URL. Exactly one of `address` and
        /// `addressFrom`.
        #[schemars(length(min = 3, max = 255))]
        pub address: Option<String>,

        /// A key of a Secret of the namespace holding the address (a phone number or a webhook
        /// URL with a token): read when it is sent, shown nowhere else.
        pub address_from: Option<KeyRef>,
    }
}

/// How a contact is reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ContactType {
    /// An e-mail address.
    #[default]
    Email,
    /// A phone number, by Luna Node's SMS service.
    #[serde(rename = "SMS")]
    Sms,
    /// A phone number, by Twilio.
    #[serde(rename = "SMSTwilio")]
    SmsTwilio,
    /// An HTTP(S) URL.
    Webhook,
}

impl ContactType {
    /// The word `monitor contact-add` takes.
    pub fn wire(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::SmsTwilio => "sms_twilio",
            Self::Webhook => "http",
        }
    }
}

impl LunaMonitorContactSpec {
    /// A contact of `contact_type` at the literal `address`.
    pub fn new(contact_type: ContactType, address: impl Into<String>) -> Self {
        Self {
            contact_type,
            address: Some(address.into()),
            ..Self::default()
        }
    }
}

crate::status_types! {
    /// A contact as the API reports it.
    pub struct ContactAtProvider in LunaMonitorContactStatus for LunaMonitorContact {
        /// How it is reached, as the API words it (`email`, `sms`, `sms_twilio`, `http`).
        pub contact_type: Option<String>,
        /// The address, when the spec gives it inline (one from a Secret is not shown).
        pub address: Option<String>,
    }
}
