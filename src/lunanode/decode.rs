//! Lenient decoding of the PHP server's JSON quirks, as `deserialize_with` helpers.
//!
//! The API is a PHP `json_encode` of associative arrays, so the same field may arrive in several
//! shapes: numbers as strings (`"1"`, `1`, `1.5`, `""`), flags as `"1"`/`""`/`"yes"`/`true`,
//! collections as arrays or as objects keyed by ID (an empty one as `[]`, `{}` or `""`), and
//! some strings HTML-escaped. Every helper here accepts all of them and never fails on an odd
//! scalar: an unreadable number becomes `None`, a missing or null field its default. Only a
//! collection entry that is not an object at all is an error, because silently dropping an entry
//! (a VM, a volume) could make a caller believe it is gone.

use std::{collections::BTreeMap, str::FromStr};

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::{Map, Value};

/// A JSON scalar as text, the way PHP would print it: strings as they are, numbers written out,
/// `true` as `"1"` and `false` as `""`. Arrays, objects and `null` have no text.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(true) => Some("1".to_owned()),
        Value::Bool(false) => Some(String::new()),
        _ => None,
    }
}

/// The first non-empty scalar among `keys` in `map`, as text; `""` when none has one. Used for
/// the response shapes the reference does not pin down (`id` or `record_id`, `name` or `origin`).
pub fn pick(map: &Map<String, Value>, keys: &[&str]) -> String {
    keys.iter()
        .filter_map(|key| map.get(*key).and_then(scalar_text))
        .find(|text| !text.is_empty())
        .unwrap_or_default()
}

/// Like [`pick`], parsed as a number; `None` when absent or unreadable.
pub fn pick_number<T: FromStr>(map: &Map<String, Value>, keys: &[&str]) -> Option<T> {
    parse_number(&pick(map, keys))
}

/// A field read from the first of several keys: `String` as [`pick`], `Option<number>` as
/// [`pick_number`].
pub trait Picked {
    /// Reads the field from `map`.
    fn pick_from(map: &Map<String, Value>, keys: &[&str]) -> Self;
}

impl Picked for String {
    fn pick_from(map: &Map<String, Value>, keys: &[&str]) -> Self {
        pick(map, keys)
    }
}

impl<T: FromStr> Picked for Option<T> {
    fn pick_from(map: &Map<String, Value>, keys: &[&str]) -> Self {
        pick_number(map, keys)
    }
}

/// A struct read field by field with [`Picked`] (declared by `picked_struct!` in `types`).
pub trait PickedStruct: Sized {
    /// Reads it from a JSON object.
    fn from_map(map: &Map<String, Value>) -> Self;
}

/// A field type with one lenient reading of the wire, so that a response struct states only its
/// fields and each is read by the rule of its type (see [`lenient`]):
///
/// | type | rule |
/// | --- | --- |
/// | `String` | any scalar as text ([`string`]) |
/// | `Option<String>` | the same, `""` and `null` as `None` ([`opt_string`]) |
/// | `Option<SecretString>` | the same, hidden from `Debug` ([`opt_secret`]) |
/// | `Option<u16>`, `Option<u32>`, `Option<u64>`, `Option<i64>`, `Option<f64>` | a number, written or quoted ([`number`]) |
/// | `bool` | a flag ([`flag`]) |
/// | `Vec<String>` | a list of strings ([`string_list`]) |
/// | `BTreeMap<String, String>` | a map of strings ([`string_map`]) |
/// | `Vec<T>` of a [`WireStruct`] | a collection ([`collection`]) |
pub trait Lenient: Sized {
    /// Reads the field from its decoded JSON value (`Value::Null` when the field is null).
    fn from_wire<E: serde::de::Error>(value: Value) -> Result<Self, E>;
}

/// A response struct read as a whole by serde, so that a list of them is a [`collection`]
/// field. Implemented by `wire_struct!` (in `types`).
pub trait WireStruct: DeserializeOwned {}

/// Reads any [`Lenient`] field, by the rule of its type: `#[serde(deserialize_with =
/// "lenient")]` on a `String` field is the same as `"string"`, on an `Option<u32>` the same as
/// `"number"`, and so on.
pub fn lenient<'de, D: Deserializer<'de>, T: Lenient>(deserializer: D) -> Result<T, D::Error> {
    T::from_wire(Value::deserialize(deserializer)?)
}

impl Lenient for String {
    fn from_wire<E: serde::de::Error>(value: Value) -> Result<Self, E> {
        Ok(scalar_text(&value).unwrap_or_default())
    }
}

impl Lenient for Option<String> {
    fn from_wire<E: serde::de::Error>(value: Value) -> Result<Self, E> {
        let text = String::from_wire::<E>(value)?;
        Ok((!text.is_empty()).then_some(text))
    }
}

impl Lenient for Option<SecretString> {
    fn from_wire<E: serde::de::Error>(value: Value) -> Result<Self, E> {
        Ok(Option::<String>::from_wire::<E>(value)?.map(SecretString::from))
    }
}

impl Lenient for bool {
    fn from_wire<E: serde::de::Error>(value: Value) -> Result<Self, E> {
        Ok(flag_value(&value))
    }
}

/// Implements [`Lenient`] for `Option<$number>` of each number type named, read as [`number`]
/// reads it.
///
/// ```ignore
/// lenient_numbers!(u16, u32);
/// ```
macro_rules! lenient_numbers {
    ($($number:ty),*) => {$(
        impl Lenient for Option<$number> {
            fn from_wire<E: serde::de::Error>(value: Value) -> Result<Self, E> {
                Ok(scalar_text(&value).and_then(|text| parse_number(&text)))
            }
        }
    )*};
}

lenient_numbers!(u16, u32, u64, i64, f64);

impl Lenient for Vec<String> {
    fn from_wire<E: serde::de::Error>(value: Value) -> Result<Self, E> {
        Ok(match &value {
            Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
            Value::Object(map) => map.values().filter_map(scalar_text).collect(),
            Value::String(text) if !text.is_empty() => vec![text.clone()],
            _ => Vec::new(),
        })
    }
}

impl Lenient for BTreeMap<String, String> {
    fn from_wire<E: serde::de::Error>(value: Value) -> Result<Self, E> {
        Ok(match value {
            Value::Object(map) => map
                .into_iter()
                .filter_map(|(key, value)| scalar_text(&value).map(|text| (key, text)))
                .collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .filter_map(|(index, value)| {
                    scalar_text(value).map(|text| (index.to_string(), text))
                })
                .collect(),
            _ => BTreeMap::new(),
        })
    }
}

impl<T: WireStruct> Lenient for Vec<T> {
    fn from_wire<E: serde::de::Error>(value: Value) -> Result<Self, E> {
        decode_entries(value, |_: &mut T, _| {})
    }
}

/// Any scalar as a string (`null`, arrays and objects become `""`).
pub fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    lenient(deserializer)
}

/// Any scalar as a string; `""` and `null` become `None`.
pub fn opt_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    lenient(deserializer)
}

/// A string with its HTML entities decoded (`&lt;b&gt;` becomes `<b>`), as `info.status` and
/// error texts arrive.
pub fn html_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(html_unescape(&string(deserializer)?))
}

/// A secret string (e.g. `login_details`, which holds a password): `""` and `null` become
/// `None`, and the value never shows in `Debug`.
pub fn opt_secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SecretString>, D::Error> {
    lenient(deserializer)
}

/// A number sent as a string or a number: `"1"`, `1`, `"1.5"`, `1.5`. `""`, `null` and anything
/// unreadable become `None`.
pub fn number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
{
    let value = Value::deserialize(deserializer)?;
    Ok(scalar_text(&value).and_then(|text| parse_number(&text)))
}

/// Parses a number leniently: surrounding blanks are ignored, and an integral float such as
/// `"100.0"` still reads as an integer.
pub fn parse_number<T: FromStr>(text: &str) -> Option<T> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(number) = text.parse() {
        return Some(number);
    }
    // `"100.0"` for an integer field: accept it when the fraction is zero.
    let float: f64 = text.parse().ok()?;
    if float.is_finite() && float.fract() == 0.0 {
        format!("{float:.0}").parse().ok()
    } else {
        None
    }
}

/// A flag: `"1"`, `"yes"`, `"true"`, `true` and non-zero numbers are set; `""`, `"0"`, `"no"`,
/// `"false"`, `false`, `0` and `null` are not.
pub fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    lenient(deserializer)
}

/// The rule of [`flag`] on an already decoded value.
pub fn flag_value(value: &Value) -> bool {
    match value {
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !matches!(
            text.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "no" | "false" | "off"
        ),
        _ => false,
    }
}

/// A list of strings: an array of scalars, an object (its values), a single non-empty string,
/// or `""`/`null` for none.
pub fn string_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    lenient(deserializer)
}

/// A map of strings (e.g. `regions`: slug to display name, image `metadata`): an object, or
/// `[]`/`""`/`null` for an empty one (PHP writes an empty map as `[]`). A non-empty array is
/// keyed by index.
pub fn string_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    lenient(deserializer)
}

/// A collection sent as an array or as an object keyed by ID or index (its values, in the
/// server's order); `[]`, `{}`, `""` and `null` are empty.
pub fn collection<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    decode_entries(Value::deserialize(deserializer)?, |_: &mut T, _| {})
}

/// An entry of a collection that may be keyed by its ID: when the server sends an object keyed
/// by ID, the key fills in an ID the entry itself lacks.
pub trait Keyed {
    /// Called with the entry's key in the collection (never for array entries).
    fn set_key(&mut self, key: &str);
}

/// Like [`collection`], and gives each entry its key (see [`Keyed`]).
pub fn keyed_collection<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Keyed,
{
    decode_entries(Value::deserialize(deserializer)?, T::set_key)
}

/// Decodes the [`entries`] of a collection, handing each entry of an object its key.
fn decode_entries<T: DeserializeOwned, E: serde::de::Error>(
    value: Value,
    set_key: impl Fn(&mut T, &str),
) -> Result<Vec<T>, E> {
    entries(value)
        .into_iter()
        .map(|(key, item)| {
            let mut entry: T = serde_json::from_value(item).map_err(E::custom)?;
            if let Some(key) = key {
                set_key(&mut entry, &key);
            }
            Ok(entry)
        })
        .collect()
}

/// The entries of an array or of an object (with their keys); empty for anything else.
pub fn entries(value: Value) -> Vec<(Option<String>, Value)> {
    match value {
        Value::Array(items) => items.into_iter().map(|item| (None, item)).collect(),
        Value::Object(map) => map
            .into_iter()
            .map(|(key, item)| (Some(key), item))
            .collect(),
        _ => Vec::new(),
    }
}

/// Decodes HTML entities once: the named ones PHP's `htmlspecialchars` writes (`&amp;`, `&lt;`,
/// `&gt;`, `&quot;`, `&#039;`/`&apos;`), `&nbsp;`, and numeric ones (`&#60;`, `&#x3c;`). Anything
/// that is not a known entity is kept as it is, so `"a & b"` survives.
pub fn html_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let candidate = &rest[start..];
        // Entities are short; look for the `;` within a few characters only.
        let decoded = candidate
            .char_indices()
            .take(12)
            .find(|(_, ch)| *ch == ';')
            .and_then(|(end, _)| entity(&candidate[1..end]).map(|ch| (ch, end)));
        match decoded {
            Some((ch, end)) => {
                out.push(ch);
                rest = &candidate[end + 1..];
            }
            None => {
                out.push('&');
                rest = &candidate[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        _ => {
            let digits = name.strip_prefix('#')?;
            let code = match digits.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => digits.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}
