//! Server monitoring: `monitor/check-types`, `check-add`, `check-remove`, `contact-*` and
//! `alert-*` (`monitor/check-list` is with the account's other lists).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{decode_keyed_list, field};
use crate::lunanode::{
    Client, Error,
    decode::{entries, scalar_text},
};

wire_struct! {
    /// A monitoring contact of `monitor/contact-list` (an object keyed by ID on the wire).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct MonitorContact {
        /// Contact ID.
        id: String,
        /// `email`, `sms`, `sms_twilio` or `http`.
        #[serde(rename = "type")]
        contact_type: String,
        /// The address, number or URL.
        rel: String,
    }
}

wire_struct! {
    /// An alert of `monitor/alert-list`: a contact told about a check.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct MonitorAlert {
        /// Alert ID.
        id: String,
        /// The check.
        check_id: String,
        /// The contact.
        contact_id: String,
    }
}

keyed_by_id!(MonitorContact, MonitorAlert);

/// A check type of `monitor/check-types`: its key and parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckType {
    /// The key `check-add` takes as `type` (`icmp`, `http`, ...).
    pub key: String,
    /// Its display name.
    pub name: String,
    /// Its parameters: name, and whether it is required.
    pub params: BTreeMap<String, bool>,
}

impl CheckType {
    /// Reads `monitor/check-types`: `types` is an object from key to `{name, params: {param:
    /// {required, ...}}}` (an array of such objects with `short_name` is read as well).
    pub fn list_from_response(response: &Value) -> Vec<Self> {
        let mut types: Vec<Self> = entries(field(response, &["types"]).clone())
            .into_iter()
            .filter_map(|(key, value)| {
                let key = key.or_else(|| value.get("short_name").and_then(scalar_text))?;
                let params = entries(value.get("params").cloned().unwrap_or(Value::Null))
                    .into_iter()
                    .filter_map(|(param, spec)| {
                        let required = match spec.get("required") {
                            Some(Value::Bool(required)) => *required,
                            Some(other) => scalar_text(other)
                                .is_some_and(|text| matches!(text.as_str(), "1" | "true" | "yes")),
                            None => false,
                        };
                        Some((param?, required))
                    })
                    .collect();
                Some(Self {
                    name: value.get("name").and_then(scalar_text).unwrap_or_default(),
                    key,
                    params,
                })
            })
            .collect();
        types.sort_by(|a, b| a.key.cmp(&b.key));
        types
    }
}

/// What `monitor/check-add` creates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckAdd {
    /// The check's name.
    pub name: String,
    /// Its type's key.
    pub check_type: String,
    /// Seconds between two probes.
    pub check_interval: Option<u32>,
    /// Failures in a row before an alert.
    pub delay: Option<u32>,
    /// The type's parameters (`target`, `port`, ...).
    pub params: BTreeMap<String, String>,
}

impl Client {
    /// `monitor/check-types`, sorted by key.
    pub async fn monitor_check_types(&self) -> Result<Vec<CheckType>, Error> {
        let response = self.request("monitor", "check-types", &[]).await?;
        Ok(CheckType::list_from_response(&response))
    }

    /// `monitor/contact-add`: `contact_type` is `email`, `sms`, `sms_twilio` or `http`, `rel`
    /// the address, number or URL; returns the new contact's ID.
    pub async fn monitor_contact_add(
        &self,
        contact_type: &str,
        rel: &str,
    ) -> Result<String, Error> {
        let parameters = [("type", contact_type), ("rel", rel)];
        self.create("monitor", "contact-add", &parameters, &["contact_id", "id"])
            .await
    }

    /// `monitor/check-add`: returns the new check's ID.
    pub async fn monitor_check_add(&self, check: &CheckAdd) -> Result<String, Error> {
        let interval = check.check_interval.map(|value| value.to_string());
        let delay = check.delay.map(|value| value.to_string());
        let mut parameters: Vec<(&str, &str)> = vec![
            ("name", check.name.as_str()),
            ("type", check.check_type.as_str()),
        ];
        if let Some(interval) = &interval {
            parameters.push(("check_interval", interval));
        }
        if let Some(delay) = &delay {
            parameters.push(("delay", delay));
        }
        parameters.extend(
            check
                .params
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        self.create("monitor", "check-add", &parameters, &["check_id", "id"])
            .await
    }
}

read_actions! {
    /// `monitor/contact-list` (an object keyed by contact ID on the wire).
    monitor_contact_list = "monitor"/"contact-list"() -> Vec<MonitorContact>
        = decode_keyed_list["contacts"];

    /// `monitor/alert-list` of a check (an object keyed by alert ID on the wire).
    monitor_alert_list = "monitor"/"alert-list"(check_id) -> Vec<MonitorAlert>
        = decode_keyed_list["alerts"];

    /// `monitor/alert-add`: tells `contact_id` about `check_id`; returns the alert's ID.
    monitor_alert_add = "monitor"/"alert-add"(check_id, contact_id) -> String
        = create_with_id["alert_id", "id"];
}

plain_actions! {
    /// `monitor/check-remove` (its alerts go with it).
    monitor_check_remove = "monitor"/"check-remove"(check_id);

    /// `monitor/contact-remove` (its alerts go with it).
    monitor_contact_remove = "monitor"/"contact-remove"(contact_id);

    /// `monitor/alert-remove`.
    monitor_alert_remove = "monitor"/"alert-remove"(alert_id);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn check_types_read_from_a_map_or_a_list() {
        let map = json!({"types": {"tcp": {"name": "TCP", "params": {
            "target": {"required": true}, "port": {"required": "1"}, "note": {}}}}});
        let types = CheckType::list_from_response(&map);
        assert_eq!(types.len(), 1);
        assert_eq!(types[0].key, "tcp");
        assert_eq!(
            types[0].params,
            BTreeMap::from([
                ("note".to_owned(), false),
                ("port".to_owned(), true),
                ("target".to_owned(), true)
            ])
        );
        let list = json!({"types": [{"short_name": "icmp", "name": "Ping", "params": {}}]});
        assert_eq!(CheckType::list_from_response(&list)[0].key, "icmp");
        assert!(CheckType::list_from_response(&json!({})).is_empty());
    }
}
