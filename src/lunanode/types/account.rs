//! Account-wide things: SSH keys, startup scripts, monitoring checks and the credit balance.

use serde_json::Value;

use super::{created_id, decode_keyed_list, field};
use crate::lunanode::{
    Client, Error,
    decode::{entries, parse_number, scalar_text},
};

wire_struct! {
    /// An SSH key of `sshkey/list`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct SshKey {
        /// Key ID (for `vm/create key_id=`).
        id: String,
        /// Label.
        name: String,
        /// The public key.
        value: String,
    }
}

impl SshKey {
    /// Reads `sshkey/list`, whose entries sit at the top level under index keys (`"0"`, `"1"`,
    /// ...) next to `success`; a `keys` array or map is read as well.
    pub fn list_from_response(response: &Value) -> Result<Vec<Self>, Error> {
        let decode = |value: &Value| {
            serde_json::from_value::<SshKey>(value.clone())
                .map_err(|error| Error::decode(format!("unexpected sshkey/list entry: {error}")))
        };
        if let Some(keys) = response.get("keys").filter(|keys| !keys.is_string()) {
            return entries(keys.clone())
                .iter()
                .map(|(_, value)| decode(value))
                .collect();
        }
        let Some(map) = response.as_object() else {
            return Ok(Vec::new());
        };
        map.iter()
            .filter(|(key, value)| key.as_str() != "success" && value.is_object())
            .map(|(_, value)| decode(value))
            .collect()
    }
}

wire_struct! {
    /// A startup script (`script/list` entry, or the answer of `script/get`).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Script {
        /// Script ID (for `vm/create scripts=`).
        id: String,
        /// Name.
        name: String,
        /// Content (CRLF line endings as stored).
        content: String,
    }
}

wire_struct! {
    /// A monitoring check of `monitor/check-list` (an object keyed by check ID on the wire).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct MonitorCheck {
        /// Check ID.
        id: String,
        /// Name.
        name: String,
        /// Check type, e.g. `icmp`.
        #[serde(rename = "type")]
        check_type: String,
        /// Status, e.g. `online`.
        status: String,
        /// Whether the check runs.
        enabled: bool,
        /// Seconds between checks.
        check_interval: Option<u32>,
        /// Delay setting.
        delay: Option<u32>,
        /// The type's parameters as a JSON string, e.g. `{"target":"1.2.3.4"}`.
        data: String,
        /// A readable summary of `data`.
        data_summary: String,
    }
}

keyed_by_id!(MonitorCheck, Script);

impl Client {
    /// `script/get` (the script's fields sit at the top level of the answer).
    pub async fn script_get(&self, script_id: &str) -> Result<Script, Error> {
        self.request_as("script", "get", &[("script_id", script_id)])
            .await
    }
}

read_actions! {
    /// `sshkey/list`.
    sshkey_list = "sshkey"/"list"() -> Vec<SshKey> = SshKey::list_from_response;

    /// `script/list`.
    script_list = "script"/"list"() -> Vec<Script> = decode_keyed_list["scripts"];

    /// `monitor/check-list`.
    monitor_check_list = "monitor"/"check-list"() -> Vec<MonitorCheck>
        = decode_keyed_list["checks"];

    /// `billing/credit`: the account's credit in USD.
    billing_credit = "billing"/"credit"() -> f64 = credit_from_response;

    /// `sshkey/add`: returns the new key's ID. `sshkey` is the public key line.
    sshkey_add = "sshkey"/"add"(label, sshkey) -> String = create_with_id["key_id", "id"];

    /// `script/create`: returns the new script's ID.
    script_create = "script"/"create"(name, content) -> String
        = create_with_id["script_id", "id"];
}

plain_actions! {
    /// `sshkey/remove`.
    sshkey_remove = "sshkey"/"remove"(key_id);

    /// `script/update`.
    script_update = "script"/"update"(script_id, name, content);

    /// `script/delete`.
    script_delete = "script"/"delete"(script_id);
}

/// Reads the `credit` of a `billing/credit` answer (a string such as `"4.81033438"`).
pub fn credit_from_response(response: &Value) -> Result<f64, Error> {
    let text =
        created_id(response, &["credit"]).or_else(|| scalar_text(field(response, &["balance"])));
    text.and_then(|text| parse_number(&text))
        .ok_or_else(|| Error::decode("billing/credit answered without a readable credit"))
}
