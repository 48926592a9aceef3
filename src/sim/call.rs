//! What an action handler works with: its parameters, its error, its reply, and the context
//! (the caller's account, the shared allocators and the simulated time).

use std::{collections::BTreeMap, str::FromStr};

use serde_json::{Map, Value};

use super::{
    catalog,
    clock::Millis,
    config::Timing,
    faults::{BuildFate, FaultEngine},
    state::{Account, IdKind, Shared},
    stats::Stats,
};

/// An API-level failure: answered as HTTP 200 `{"success":"no","error":...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError(String);

impl ApiError {
    /// Any message.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// `invalid <thing>`, the real service's answer to a bad reference.
    pub(crate) fn invalid(thing: &str) -> Self {
        Self(format!("invalid {thing}"))
    }

    /// `<parameter> not set`, the real service's answer to a missing parameter.
    pub(crate) fn not_set(parameter: &str) -> Self {
        Self(format!("{parameter} not set"))
    }

    /// The error text.
    pub(crate) fn message(&self) -> &str {
        &self.0
    }
}

/// The data keys of a successful answer (siblings of `"success":"yes"`).
pub(crate) type Reply = Result<Map<String, Value>, ApiError>;

/// A success with no data.
pub(crate) fn done() -> Reply {
    Ok(Map::new())
}

/// A success with these data keys.
pub(crate) fn reply<const N: usize>(fields: [(&str, Value); N]) -> Reply {
    Ok(fields
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect())
}

/// The action's parameters, every value a string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params(BTreeMap<String, String>);

impl Params {
    /// From the decoded `req` object, without `api_id` and `api_partialkey`. Numbers and
    /// booleans are coerced to strings as PHP would (`true` → `"1"`, `false` → `""`); `null`,
    /// arrays and objects are refused, as the real service has refused `null` since 2016.
    pub(crate) fn from_request(object: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut values = BTreeMap::new();
        for (name, value) in object {
            if name == "api_id" || name == "api_partialkey" {
                continue;
            }
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => if *flag { "1" } else { "" }.to_owned(),
                Value::Null => {
                    return Err(ApiError::new(format!(
                        "invalid value for {}: null is not allowed (leave the parameter out instead)",
                        printable(name)
                    )));
                }
                Value::Array(_) | Value::Object(_) => {
                    return Err(ApiError::new(format!(
                        "invalid value for {}: expected a string",
                        printable(name)
                    )));
                }
            };
            values.insert(name.clone(), text);
        }
        Ok(Self(values))
    }

    /// From plain form or query fields (the legacy API).
    pub(crate) fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(pairs.into_iter().collect())
    }

    /// A parameter's value; an empty string counts as not set (PHP's `empty`).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// Whether the parameter was sent at all, empty or not (PHP's `isset`).
    pub(crate) fn is_sent(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Whether the parameter was sent with an empty value.
    pub(crate) fn is_sent_empty(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(String::is_empty)
    }

    /// A required parameter, or `<name> not set`.
    pub(crate) fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::not_set(name))
    }

    /// A required name or label (see [`valid_text`], up to 255 characters), or `<name> not set`
    /// / `invalid <name>`.
    pub(crate) fn text(&self, name: &str) -> Result<&str, ApiError> {
        let value = self.require(name)?;
        if valid_text(value, 255) {
            Ok(value)
        } else {
            Err(ApiError::invalid(name))
        }
    }

    /// A required number, or `<name> not set` / `invalid <name>`.
    pub(crate) fn number<T: FromStr>(&self, name: &str) -> Result<T, ApiError> {
        self.require(name)?
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid(name))
    }

    /// An optional number, or `invalid <name>`.
    pub(crate) fn optional_number<T: FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|value| value.trim().parse().map_err(|_| ApiError::invalid(name)))
            .transpose()
    }

    /// Whether a flag parameter is `yes` (or `1`/`true`).
    pub(crate) fn is_yes(&self, name: &str) -> bool {
        matches!(
            self.get(name).map(str::to_ascii_lowercase).as_deref(),
            Some("yes" | "1" | "true")
        )
    }

    /// The object of `objects` whose ID the required parameter `name` holds (trimmed): `<name>
    /// not set`, or `invalid <thing>` when there is none.
    pub(crate) fn find<'m, T>(
        &self,
        objects: &'m BTreeMap<String, T>,
        name: &str,
        thing: &str,
    ) -> Result<&'m T, ApiError> {
        objects
            .get(self.require(name)?.trim())
            .ok_or_else(|| ApiError::invalid(thing))
    }

    /// Like [`Params::find`], for changing the object.
    pub(crate) fn find_mut<'m, T>(
        &self,
        objects: &'m mut BTreeMap<String, T>,
        name: &str,
        thing: &str,
    ) -> Result<&'m mut T, ApiError> {
        self.find_where(objects, name, thing, |_| true)
    }

    /// Like [`Params::find_mut`], and the object must be in `region` when one is given (else
    /// `invalid <thing>` as well).
    pub(crate) fn find_in<'m, T: Regional>(
        &self,
        objects: &'m mut BTreeMap<String, T>,
        name: &str,
        thing: &str,
        region: Option<&str>,
    ) -> Result<&'m mut T, ApiError> {
        self.find_where(objects, name, thing, |object| {
            region.is_none_or(|region| region == object.region())
        })
    }

    /// Like [`Params::find_mut`], and the object must pass `keep` (else `invalid <thing>`).
    pub(crate) fn find_where<'m, T>(
        &self,
        objects: &'m mut BTreeMap<String, T>,
        name: &str,
        thing: &str,
        keep: impl Fn(&T) -> bool,
    ) -> Result<&'m mut T, ApiError> {
        objects
            .get_mut(self.require(name)?.trim())
            .filter(|object| keep(object))
            .ok_or_else(|| ApiError::invalid(thing))
    }

    /// Takes the object found as by [`Params::find`] out of `objects`.
    pub(crate) fn remove<T>(
        &self,
        objects: &mut BTreeMap<String, T>,
        name: &str,
        thing: &str,
    ) -> Result<T, ApiError> {
        objects
            .remove(self.require(name)?.trim())
            .ok_or_else(|| ApiError::invalid(thing))
    }

    /// An optional `region`, validated; `None` when not given.
    pub(crate) fn region(&self) -> Result<Option<&'static str>, ApiError> {
        self.get("region")
            .map(|region| catalog::region(region).ok_or_else(|| ApiError::invalid("region")))
            .transpose()
    }

    /// A required `region`, validated.
    pub(crate) fn require_region(&self) -> Result<&'static str, ApiError> {
        catalog::region(self.require("region")?).ok_or_else(|| ApiError::invalid("region"))
    }
}

/// A parameter name as it may be shown in an error message.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Splits a comma-separated ID list (`securitygroups`, `scripts`, `key_id`).
pub(crate) fn id_list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An object kept in a region and listed in creation order (see [`in_region`]).
pub(crate) trait Regional {
    /// Its region slug.
    fn region(&self) -> &str;
    /// Its creation sequence number.
    fn seq(&self) -> u64;
}

/// Implements [`Regional`] for types with `region: String` and `seq: u64` fields.
///
/// ```ignore
/// regional!(Network, Volume);
/// ```
macro_rules! regional {
    ($($name:ty),*) => {$(
        impl $crate::sim::call::Regional for $name {
            fn region(&self) -> &str {
                &self.region
            }
            fn seq(&self) -> u64 {
                self.seq
            }
        }
    )*};
}
pub(crate) use regional;

/// The `objects` in `region` (all when `None`), in creation order.
pub(crate) fn in_region<'a, T: Regional>(
    objects: &'a BTreeMap<String, T>,
    region: Option<&str>,
) -> Vec<&'a T> {
    let mut listed: Vec<&T> = objects
        .values()
        .filter(|object| region.is_none_or(|region| region == object.region()))
        .collect();
    listed.sort_by_key(|object| object.seq());
    listed
}

/// Answers `{"<key>": [...]}`: `entry` of each of `objects` in the optional `region`
/// parameter (all without it), in creation order.
pub(crate) fn regional_list<T: Regional>(
    params: &Params,
    key: &str,
    objects: &BTreeMap<String, T>,
    entry: impl Fn(&T) -> Value,
) -> Reply {
    let listed = in_region(objects, params.region()?).into_iter().map(entry);
    reply([(key, listed.collect())])
}

/// Answers `{"<key>": {...}}`: `objects` as a JSON object keyed by their IDs, each written by
/// `entry` (the PHP server's shape for lists read from an associative array).
pub(crate) fn keyed<'a, T: 'a>(
    key: &str,
    objects: impl IntoIterator<Item = (&'a String, &'a T)>,
    entry: impl Fn(&'a T) -> Value,
) -> Reply {
    let objects = objects
        .into_iter()
        .map(|(id, object)| (id.clone(), entry(object)));
    reply([(key, Value::Object(objects.collect()))])
}

/// An object the simulator stores under a numeric ID it issues, made by a create that answers
/// that ID (see [`Shared::create`]).
pub(crate) trait Stored: Sized {
    /// The kind of its ID.
    const ID: IdKind;
    /// The key its create answers the new ID under.
    const KEY: &'static str;
    /// Where `account` keeps it: for one kept inside another object, in the object `params`
    /// name (the error when there is none).
    fn objects<'a>(
        account: &'a mut Account,
        params: &Params,
    ) -> Result<&'a mut BTreeMap<String, Self>, ApiError>;
}

/// Implements [`Stored`] for a type: its [`IdKind`], its key, and where an account keeps it,
/// either a field of the account or a field of the object a finder (`fn(&mut Account,
/// &Params) -> Result<&mut Parent, ApiError>`) takes from the parameters.
///
/// ```ignore
/// stored!(Zone, Zone, "zone_id", zones);
/// stored!(Record, Record, "record_id", find_zone, records);
/// ```
macro_rules! stored {
    (@objects $name:ty, $kind:ident, $key:literal, |$account:ident, $params:ident| $objects:expr) => {
        impl $crate::sim::call::Stored for $name {
            const ID: $crate::sim::state::IdKind = $crate::sim::state::IdKind::$kind;
            const KEY: &'static str = $key;
            fn objects<'a>(
                $account: &'a mut $crate::sim::state::Account,
                $params: &$crate::sim::call::Params,
            ) -> Result<
                &'a mut std::collections::BTreeMap<String, Self>,
                $crate::sim::call::ApiError,
            > {
                $objects
            }
        }
    };
    ($name:ty, $kind:ident, $key:literal, $field:ident) => {
        $crate::sim::call::stored!(@objects $name, $kind, $key, |account, _params| {
            Ok(&mut account.$field)
        });
    };
    ($name:ty, $kind:ident, $key:literal, $parent:path, $field:ident) => {
        $crate::sim::call::stored!(@objects $name, $kind, $key, |account, params| {
            Ok(&mut $parent(account, params)?.$field)
        });
    };
}
pub(crate) use stored;

/// Stores the new object `make(id)` under `id` and answers `{"<key>": id}` with `T`'s key, as
/// every create does.
pub(crate) fn created<T: Stored>(
    objects: &mut BTreeMap<String, T>,
    id: String,
    make: impl FnOnce(String) -> T,
) -> Reply {
    objects.insert(id.clone(), make(id.clone()));
    reply([(T::KEY, Value::String(id))])
}

/// Replaces the object found as by [`Params::find_mut`] with `make(id)`, `id` being the ID it is
/// stored under, and answers success, as every update that rewrites the whole object does.
pub(crate) fn updated<T>(
    objects: &mut BTreeMap<String, T>,
    params: &Params,
    name: &str,
    thing: &str,
    make: impl FnOnce(String) -> T,
) -> Reply {
    let id = params.require(name)?.trim().to_owned();
    let object = params.find_mut(objects, name, thing)?;
    *object = make(id);
    done()
}

/// Removes the `T` the parameters name (its key being the parameter, `invalid <thing>` when
/// there is none) from where `account` keeps it and answers success, as every delete does.
pub(crate) fn deleted<T: Stored>(account: &mut Account, params: &Params, thing: &str) -> Reply {
    params.remove(T::objects(account, params)?, T::KEY, thing)?;
    done()
}

/// Everything a handler may touch.
pub(crate) struct Ctx<'a> {
    /// The caller's objects.
    pub account: &'a mut Account,
    /// Allocators shared by all accounts (IDs, public IPs, randomness).
    pub shared: &'a mut Shared,
    /// Simulated now.
    pub now: Millis,
    /// Lifecycle durations.
    pub timing: &'a Timing,
    /// The fault settings, for the faults of the cloud itself (how a VM build ends).
    pub faults: &'a std::sync::Mutex<FaultEngine>,
    /// The counters, where those faults are counted.
    pub stats: &'a std::sync::Mutex<Stats>,
}

impl Ctx<'_> {
    /// How long a VM deleted now stays listed, being deleted (`vm_delete_seconds`).
    pub(crate) fn vm_delete_time(&self) -> std::time::Duration {
        super::state::lock(self.faults).vm_delete_time()
    }

    /// How long a volume attach or detach takes (`volume_attach_seconds`).
    pub(crate) fn volume_attach_time(&self) -> std::time::Duration {
        super::state::lock(self.faults).volume_attach_time()
    }

    /// Whether volume/attach checks the VM's state (`vm_attach_rules`).
    pub(crate) fn attach_rules(&self) -> bool {
        super::state::lock(self.faults).attach_rules()
    }

    /// How a VM build starting now ends (see [`FaultEngine::build_fate`]); a failing one is
    /// counted in the `faults` of `/_sim/stats`.
    pub(crate) fn build_fate(&self) -> BuildFate {
        let fate = super::state::lock(self.faults).build_fate();
        let counted = match fate {
            BuildFate::Online => None,
            BuildFate::Error => Some("vm_build_error"),
            BuildFate::Stuck => Some("vm_build_stuck"),
        };
        if let Some(kind) = counted {
            super::state::lock(self.stats).add_fault(kind, 1);
        }
        fate
    }

    /// Whether the own image made now ends in `error` (the `image_error` faults, counted).
    pub(crate) fn image_fails(&self) -> bool {
        self.cloud_fault("image_error", FaultEngine::image_fails)
    }

    /// Whether the volume created now ends in `error` (the `volume_error` faults, counted).
    pub(crate) fn volume_fails(&self) -> bool {
        self.cloud_fault("volume_error", FaultEngine::volume_fails)
    }

    fn cloud_fault(&self, name: &'static str, roll: fn(&mut FaultEngine) -> bool) -> bool {
        let fires = roll(&mut super::state::lock(self.faults));
        if fires {
            super::state::lock(self.stats).add_fault(name, 1);
        }
        fires
    }

    /// A fresh numeric ID of that kind.
    pub(crate) fn id(&mut self, kind: IdKind) -> String {
        self.shared.issue(kind)
    }

    /// A creation sequence number, to list objects in creation order.
    pub(crate) fn seq(&mut self) -> u64 {
        self.shared.ids.next_seq()
    }
}

/// A short, printable text check for names and labels: 1..=max characters, no control
/// characters.
pub(crate) fn valid_text(value: &str, max: usize) -> bool {
    !value.trim().is_empty() && value.chars().count() <= max && !value.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn coerces_python_style_values() {
        let object = json!({"hostname": "web1", "plan_id": 86, "virtio": true, "x": false,
            "api_id": "id", "api_partialkey": "k"});
        let params =
            Params::from_request(object.as_object().unwrap_or(&Map::new())).unwrap_or_default();
        assert_eq!(params.get("plan_id"), Some("86"));
        assert_eq!(params.get("virtio"), Some("1"));
        assert_eq!(params.get("x"), None);
        assert_eq!(params.get("api_id"), None);
        assert_eq!(params.require("missing"), Err(ApiError::not_set("missing")));
    }

    #[test]
    fn refuses_null_and_arrays() {
        for bad in [json!({"a": null}), json!({"a": [1]}), json!({"a": {}})] {
            let result = Params::from_request(bad.as_object().unwrap_or(&Map::new()));
            assert!(result.is_err(), "{bad}");
        }
    }

    #[test]
    fn splits_id_lists() {
        assert_eq!(id_list(Some("123, 999,,")), vec!["123", "999"]);
        assert!(id_list(None).is_empty());
    }
}
