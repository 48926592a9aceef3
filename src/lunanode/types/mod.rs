//! Typed requests, responses and [`Client`] methods, one file per resource area.
//!
//! Every response struct ignores unknown fields and reads its known ones leniently (see
//! [`super::decode`]). Where the wire reference marks a response shape unknown, the doc comment
//! of the method says which shape is read and which alternatives are accepted. Methods that
//! create something return the new ID; a create answered with success but without an ID is a
//! [`Error::Decode`], whose [`Error::may_have_taken_effect`] tells the caller to look before
//! creating again.

/// Declares a response struct whose fields are each read by the lenient rule of their type
/// ([`Lenient`](super::decode::Lenient)): it derives `Deserialize` with `#[serde(default)]`
/// (a missing field is its default), makes every field `pub` (they are all public: a response
/// is plain data) and gives it `deserialize_with = "lenient"`, or the
/// rule named after `=>` where the type alone does not say it (HTML-escaped text). The struct
/// also becomes a [`WireStruct`](super::decode::WireStruct), so a `Vec` of it is a collection
/// field of another.
///
/// ```ignore
/// wire_struct! {
///     /// One thing of `thing/list`.
///     #[derive(Debug, Clone, Default)]
///     pub struct Thing {
///         /// Read as `"string"`.
///         id: String,
///         /// Read as `"number"`.
///         size: Option<u64>,
///         /// Serde's own field attributes still apply.
///         #[serde(rename = "type")]
///         kind: String,
///         /// A rule of its own.
///         status: String => "crate::lunanode::decode::html_string",
///     }
/// }
/// ```
///
/// It works through the fields one at a time (`@field` rules), moving each, with its
/// `deserialize_with`, into the list of finished fields, and writes the struct when
/// none is left.
macro_rules! wire_struct {
    (
        $(#[$attr:meta])*
        pub struct $name:ident { $($fields:tt)* }
    ) => {
        wire_struct!(@field [$(#[$attr])* pub struct $name] [] $($fields)*);
    };
    // A field with a rule of its own.
    (
        @field $head:tt [$($done:tt)*]
        $(#[$field_attr:meta])* $field:ident: $ty:ty => $rule:literal
        $(, $($rest:tt)*)?
    ) => {
        wire_struct!(@field $head [
            $($done)*
            $(#[$field_attr])* #[serde(deserialize_with = $rule)] pub $field: $ty,
        ] $($($rest)*)?);
    };
    // A field read by the rule of its type.
    (
        @field $head:tt [$($done:tt)*]
        $(#[$field_attr:meta])* $field:ident: $ty:ty
        $(, $($rest:tt)*)?
    ) => {
        wire_struct!(@field $head [
            $($done)*
            $(#[$field_attr])*
            #[serde(deserialize_with = "crate::lunanode::decode::lenient")]
            pub $field: $ty,
        ] $($($rest)*)?);
    };
    // No field left: the struct itself.
    (@field [$(#[$attr:meta])* pub struct $name:ident] [$($done:tt)*]) => {
        $(#[$attr])*
        #[derive(serde::Deserialize)]
        #[serde(default)]
        pub struct $name { $($done)* }

        impl crate::lunanode::decode::WireStruct for $name {}
    };
}

/// Declares a struct read from the shapes the reference does not pin down: each field names
/// the keys it may arrive under, and takes the first non-empty one
/// ([`Picked`](super::decode::Picked): text as is, numbers parsed leniently). The struct gets
/// [`PickedStruct::from_map`](super::decode::PickedStruct) and a `Deserialize` that reads an
/// object so (anything else is the default).
///
/// ```ignore
/// picked_struct! {
///     /// A thing.
///     #[derive(Debug, Clone, Default)]
///     pub struct Thing {
///         /// ID (`id` or `thing_id`).
///         id: String = ["id", "thing_id"],
///         /// Size, when sent.
///         size: Option<u64> = ["size"],
///     }
/// }
/// ```
macro_rules! picked_struct {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $($(#[$field_attr:meta])* $field:ident: $ty:ty = [$($key:literal),+]),* $(,)?
        }
    ) => {
        $(#[$attr])*
        pub struct $name {
            $($(#[$field_attr])* pub $field: $ty,)*
        }

        impl crate::lunanode::decode::PickedStruct for $name {
            fn from_map(map: &serde_json::Map<String, serde_json::Value>) -> Self {
                use crate::lunanode::decode::Picked;
                Self {
                    $($field: Picked::pick_from(map, &[$($key),+]),)*
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                use crate::lunanode::decode::PickedStruct;
                let value = serde_json::Value::deserialize(deserializer)?;
                Ok(value.as_object().map(Self::from_map).unwrap_or_default())
            }
        }
    };
}

/// Implements [`Keyed`] for entries whose ID field (`id` unless named), when empty, is filled
/// in from the key they are listed under.
///
/// ```ignore
/// keyed_by_id!(Script, DynEntry);
/// keyed_by_id!(member_id: LbMember);
/// ```
macro_rules! keyed_by_id {
    ($field:ident: $($name:ty),*) => {$(
        impl crate::lunanode::decode::Keyed for $name {
            fn set_key(&mut self, key: &str) {
                if self.$field.is_empty() {
                    self.$field = key.to_owned();
                }
            }
        }
    )*};
    ($($name:ty),*) => {
        keyed_by_id!(id: $($name),*);
    };
}

/// Declares one [`Client`] method for an action: its arguments, each sent under its own name
/// (see [`ParamValue`] for the types an argument may have), are put into `$parameters`, and
/// `$body` answers. `$client` is the `self` token the caller's body uses. The shared part of
/// `plain_actions!` and `read_actions!`.
macro_rules! action_method {
    (
        $(#[$attr:meta])*
        $method:ident($client:ident, $($parameter:ident $(: $ty:ty)?),*) -> $answer:ty,
        $parameters:ident => $body:expr
    ) => {
        $(#[$attr])*
        pub async fn $method(
            &$client,
            $($parameter: action_parameter_type!($($ty)?)),*
        ) -> Result<$answer, crate::lunanode::Error> {
            let $parameters = [$((
                stringify!($parameter),
                crate::lunanode::types::ParamValue::param_text(&$parameter),
            )),*];
            $body
        }
    };
}

/// The type of an action method's argument: `&str` unless given.
macro_rules! action_parameter_type {
    () => {
        &str
    };
    ($ty:ty) => {
        $ty
    };
}

/// Declares [`Client`] methods for actions that answer nothing but success, each named as the
/// API names it: every argument is sent under its own name.
///
/// ```ignore
/// plain_actions! {
///     /// `vm/rename`.
///     vm_rename = "vm"/"rename"(vm_id, hostname);
///     /// `dns/set`.
///     dns_set = "dns"/"set"(ip, hostname, vm_id: Option<&str>);
/// }
/// ```
///
/// declares `pub async fn vm_rename(&self, vm_id: &str, hostname: &str) -> Result<(), Error>`,
/// which calls `vm/rename` with `[("vm_id", vm_id), ("hostname", hostname)]`.
macro_rules! plain_actions {
    ($(
        $(#[$attr:meta])*
        $method:ident = $category:literal / $action:literal ($($parameter:ident $(: $ty:ty)?),*);
    )*) => {
        impl crate::lunanode::Client {
            $(action_method! {
                $(#[$attr])*
                $method(self, $($parameter $(: $ty)?),*) -> (),
                parameters => self.call($category, $action, &parameters).await
            })*
        }
    };
}

/// Declares [`Client`] methods for actions whose answer is read: by a function of the response
/// and, in brackets when it takes them, the keys its data may be under; or, for a create, by
/// [`Client::create`] with the keys the ID may be under: `create_with_id` when the new ID must
/// be in the answer (`-> String`), `create_maybe_id` when it may be (`-> Option<String>`).
///
/// ```ignore
/// read_actions! {
///     /// `volume/list`.
///     volume_list = "volume"/"list"(region) -> Vec<Volume> = decode_list["volumes"];
///     /// `sshkey/list`.
///     sshkey_list = "sshkey"/"list"() -> Vec<SshKey> = SshKey::list_from_response;
///     /// `script/create`: returns the new script's ID.
///     script_create = "script"/"create"(name, content) -> String
///         = create_with_id["script_id", "id"];
/// }
/// ```
///
/// declares `pub async fn volume_list(&self, region: &str) -> Result<Vec<Volume>, Error>`,
/// which calls `volume/list` with `[("region", region)]` and returns
/// `decode_list(&response, &["volumes"])`.
macro_rules! read_actions {
    ($(
        $(#[$attr:meta])*
        $method:ident = $category:literal / $action:literal ($($parameter:ident $(: $ty:ty)?),*)
            -> $answer:ty = $($read:ident)::+ $([$($key:literal),+])?;
    )*) => {
        impl crate::lunanode::Client {
            $(action_method! {
                $(#[$attr])*
                $method(self, $($parameter $(: $ty)?),*) -> $answer,
                parameters => action_answer!(
                    self, $category, $action, parameters, $($read)::+ $([$($key),+])?
                )
            })*
        }
    };
}

/// The body of a `read_actions!` method: see there.
macro_rules! action_answer {
    ($client:ident, $category:literal, $action:literal, $parameters:ident,
        create_with_id[$($key:literal),+]) => {
        $client.create::<String>($category, $action, &$parameters, &[$($key),+]).await
    };
    ($client:ident, $category:literal, $action:literal, $parameters:ident,
        create_maybe_id[$($key:literal),+]) => {
        $client.create::<Option<String>>($category, $action, &$parameters, &[$($key),+]).await
    };
    ($client:ident, $category:literal, $action:literal, $parameters:ident,
        $($read:ident)::+ $([$($key:literal),+])?) => {{
        let response = $client.request($category, $action, &$parameters).await?;
        $($read)::+(&response $(, &[$($key),+])?)
    }};
}

mod account;
mod catalog;
mod dns;
mod email;
mod floating;
mod lb;
mod monitor;
mod network;
mod securitygroup;
mod vm;
mod volume;
mod zones;

pub use account::{MonitorCheck, Script, SshKey, credit_from_response};
pub use catalog::{Image, ImageDetails, Plan, Region};
pub use dns::{DynEntry, RDNS_NOT_SET, RdnsEntry};
pub use email::{EmailAlias, EmailDomain, EmailUser};
pub use floating::{FloatingIp, FloatingIpAdded};
pub use lb::{LbCreate, LbInfo, LbMember, LoadBalancer};
pub use monitor::{CheckAdd, CheckType, MonitorAlert, MonitorContact};
pub use network::Network;
pub use securitygroup::{RuleInsert, SecurityGroup, SecurityGroupRule};
pub use vm::{VmAddress, VmCreate, VmDetails, VmInfo, VmIp, VmListEntry, VmVolume};
pub use volume::{Volume, VolumeCreate, VolumeSnapshot};
pub use zones::{DnsRecord, DnsRecordAdd, DnsZone, records_from_response, zones_from_response};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    Client, Error,
    decode::{Keyed, PickedStruct, entries, scalar_text},
};

/// Decodes the collection under the first of `keys` present in a response (an array, or an
/// object keyed by ID or index; `[]`, `{}`, `""` or absent for none) into `T`s.
pub fn decode_list<T: DeserializeOwned>(response: &Value, keys: &[&str]) -> Result<Vec<T>, Error> {
    entries(field(response, keys).clone())
        .into_iter()
        .map(|(_, item)| decode_entry(keys, item))
        .collect()
}

/// Like [`decode_list`], and gives each entry of an object-shaped collection its key (see
/// [`Keyed`]).
pub fn decode_keyed_list<T: DeserializeOwned + Keyed>(
    response: &Value,
    keys: &[&str],
) -> Result<Vec<T>, Error> {
    entries(field(response, keys).clone())
        .into_iter()
        .map(|(key, item)| {
            let mut entry: T = decode_entry(keys, item)?;
            if let Some(key) = key {
                entry.set_key(&key);
            }
            Ok(entry)
        })
        .collect()
}

fn decode_entry<T: DeserializeOwned>(keys: &[&str], item: Value) -> Result<T, Error> {
    serde_json::from_value(item).map_err(|error| {
        let reason = crate::lunanode::decode_reason(&error);
        Error::decode(format!(
            "unexpected {} in the response: {reason}",
            keys.first().copied().unwrap_or("the list")
        ))
    })
}

/// The entries of a collection (an array, or an object keyed by ID: the key fills in an ID the
/// entry lacks) read by [`PickedStruct::from_map`]; anything that is not an object is skipped.
pub(crate) fn picked_list<T: PickedStruct + Keyed>(collection: Value) -> Vec<T> {
    entries(collection)
        .into_iter()
        .filter_map(|(key, value)| {
            let mut entry = T::from_map(value.as_object()?);
            if let Some(key) = key {
                entry.set_key(&key);
            }
            Some(entry)
        })
        .collect()
}

/// Decodes the object under the first of `keys` that holds one (or the whole response when the
/// answer is flat) into `T`, e.g. the `volume` of `volume/info`.
pub fn decode_object<T: DeserializeOwned>(response: &Value, keys: &[&str]) -> Result<T, Error> {
    decode_entry(keys, unwrap_object(response, keys).clone())
}

/// The first non-empty scalar among `keys` at the top level of a response, e.g. the `vm_id` of
/// a create.
pub fn created_id(response: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .filter_map(|key| response.get(*key).and_then(scalar_text))
        .find(|text| !text.is_empty())
}

/// The object under the first of `keys` that holds one, or the response itself: for actions
/// whose answer may be wrapped (`{"info": {...}}`) or flat.
pub(crate) fn unwrap_object<'a>(response: &'a Value, keys: &[&str]) -> &'a Value {
    keys.iter()
        .filter_map(|key| response.get(*key))
        .find(|value| value.is_object())
        .unwrap_or(response)
}

/// The collection under the first of `keys` present in the response (`Value::Null` if none).
pub(crate) fn field<'a>(response: &'a Value, keys: &[&str]) -> &'a Value {
    keys.iter()
        .filter_map(|key| response.get(*key))
        .next()
        .unwrap_or(&Value::Null)
}

/// An argument of a method declared by `plain_actions!` or `read_actions!`, as the text sent
/// for it. Empty text is not sent at all (see
/// [`Client::request`]).
pub(crate) trait ParamValue {
    /// The text sent.
    fn param_text(&self) -> &str;
}

impl ParamValue for &str {
    fn param_text(&self) -> &str {
        self
    }
}

/// `None` is not sent.
impl ParamValue for Option<&str> {
    fn param_text(&self) -> &str {
        self.unwrap_or_default()
    }
}

/// A flag: `yes` when set, else not sent.
impl ParamValue for bool {
    fn param_text(&self) -> &str {
        if *self { "yes" } else { "" }
    }
}

impl Client {
    /// Calls an action whose answer carries nothing but success.
    pub async fn call(
        &self,
        category: &str,
        action: &str,
        parameters: &[(&str, &str)],
    ) -> Result<(), Error> {
        self.request(category, action, parameters).await.map(drop)
    }

    /// Calls a create and reads the new ID from the first of `keys` that holds one; what a
    /// missing ID is depends on the answer asked for (see [`CreatedId`]).
    pub(crate) async fn create<T: CreatedId>(
        &self,
        category: &str,
        action: &str,
        parameters: &[(&str, &str)],
        keys: &[&str],
    ) -> Result<T, Error> {
        let response = self.request(category, action, parameters).await?;
        T::from_created(created_id(&response, keys), || {
            format!(
                "{category}/{action} succeeded without {}",
                keys.first().copied().unwrap_or("an id")
            )
        })
    }
}

/// The answer of a create: `String` when the new ID must be in it (a missing one is a decode
/// error, though the create may have happened), `Option<String>` when it may not be.
pub(crate) trait CreatedId: Sized {
    /// From the ID the answer held, if any; `missing` describes the answer that held none.
    fn from_created(id: Option<String>, missing: impl FnOnce() -> String) -> Result<Self, Error>;
}

impl CreatedId for String {
    fn from_created(id: Option<String>, missing: impl FnOnce() -> String) -> Result<Self, Error> {
        id.ok_or_else(|| Error::decode(missing()))
    }
}

impl CreatedId for Option<String> {
    fn from_created(id: Option<String>, _: impl FnOnce() -> String) -> Result<Self, Error> {
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn created_ids_are_read_from_any_scalar() {
        assert_eq!(
            created_id(&json!({"vm_id": 12102}), &["vm_id"]).as_deref(),
            Some("12102")
        );
        assert_eq!(
            created_id(&json!({"id": "", "zone_id": "7"}), &["id", "zone_id"]).as_deref(),
            Some("7")
        );
        assert_eq!(created_id(&json!({"success": "yes"}), &["vm_id"]), None);
    }

    #[test]
    fn objects_are_unwrapped_when_wrapped() {
        let wrapped = json!({"info": {"name": "a"}, "success": "yes"});
        assert_eq!(unwrap_object(&wrapped, &["info"])["name"], "a");
        let flat = json!({"name": "b", "success": "yes"});
        assert_eq!(unwrap_object(&flat, &["info"])["name"], "b");
    }
}
