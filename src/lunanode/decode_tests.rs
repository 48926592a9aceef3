//! Unit tests of the lenient decoders in `decode.rs`: every PHP quirk the reference lists.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::decode::*;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Sample {
    #[serde(deserialize_with = "number")]
    count: Option<u64>,
    #[serde(deserialize_with = "number")]
    price: Option<f64>,
    #[serde(deserialize_with = "flag")]
    enabled: bool,
    #[serde(deserialize_with = "string")]
    id: String,
    #[serde(deserialize_with = "opt_string")]
    attached: Option<String>,
    #[serde(deserialize_with = "html_string")]
    status: String,
    #[serde(deserialize_with = "string_map")]
    metadata: BTreeMap<String, String>,
    #[serde(deserialize_with = "string_list")]
    ipv6: Vec<String>,
    #[serde(deserialize_with = "opt_secret")]
    login: Option<SecretString>,
}

fn sample(value: serde_json::Value) -> Sample {
    serde_json::from_value(value).unwrap()
}

#[test]
fn numbers_as_strings_or_numbers() {
    assert_eq!(sample(json!({"count": "1"})).count, Some(1));
    assert_eq!(sample(json!({"count": 1})).count, Some(1));
    assert_eq!(sample(json!({"count": "100.0"})).count, Some(100));
    assert_eq!(sample(json!({"count": ""})).count, None);
    assert_eq!(sample(json!({"count": null})).count, None);
    assert_eq!(sample(json!({"count": "many"})).count, None);
    assert_eq!(sample(json!({"price": "1.5"})).price, Some(1.5));
    assert_eq!(sample(json!({"price": 1.5})).price, Some(1.5));
    assert_eq!(sample(json!({})).count, None);
}

#[test]
fn flags() {
    for set in [
        json!("1"),
        json!("yes"),
        json!(true),
        json!(1),
        json!("true"),
    ] {
        assert!(sample(json!({ "enabled": set })).enabled, "{set}");
    }
    for unset in [
        json!(""),
        json!("0"),
        json!("no"),
        json!(false),
        json!(0),
        json!(null),
    ] {
        assert!(!sample(json!({ "enabled": unset })).enabled, "{unset}");
    }
}

#[test]
fn strings_from_any_scalar() {
    assert_eq!(sample(json!({"id": 12102})).id, "12102");
    assert_eq!(sample(json!({"id": "abc"})).id, "abc");
    assert_eq!(sample(json!({"id": null})).id, "");
    assert_eq!(sample(json!({"attached": ""})).attached, None);
    assert_eq!(
        sample(json!({"attached": "vm1"})).attached.as_deref(),
        Some("vm1")
    );
}

#[test]
fn html_status_is_unescaped() {
    let status = "&lt;font color=&quot;green&quot;&gt;&lt;b&gt;Online&lt;/b&gt;&lt;/font&gt;";
    assert_eq!(
        sample(json!({ "status": status })).status,
        r#"<font color="green"><b>Online</b></font>"#
    );
}

#[test]
fn unescape_handles_numeric_unknown_and_double_escapes() {
    assert_eq!(html_unescape("it&#039;s &#x3C;b&#62;"), "it's <b>");
    assert_eq!(html_unescape("a & b &bogus; &"), "a & b &bogus; &");
    assert_eq!(html_unescape("&amp;lt;"), "&lt;");
    assert_eq!(html_unescape("and/or &amp; more"), "and/or & more");
    assert_eq!(html_unescape("caf\u{e9} &eacute;"), "caf\u{e9} &eacute;");
}

#[test]
fn empty_maps_in_every_shape() {
    for empty in [json!([]), json!({}), json!(""), json!(null)] {
        assert!(sample(json!({ "metadata": empty })).metadata.is_empty());
    }
    let map = sample(json!({"metadata": {"os": "linux", "n": 1}})).metadata;
    assert_eq!(map.get("os").map(String::as_str), Some("linux"));
    assert_eq!(map.get("n").map(String::as_str), Some("1"));
}

#[test]
fn string_lists() {
    assert_eq!(sample(json!({"ipv6": ["a", "b"]})).ipv6, ["a", "b"]);
    assert_eq!(sample(json!({"ipv6": ""})).ipv6, Vec::<String>::new());
    assert_eq!(sample(json!({"ipv6": "a"})).ipv6, ["a"]);
}

#[test]
fn secrets_are_hidden_from_debug() {
    let decoded = sample(json!({"login": "password: hunter2hunter2"}));
    assert!(!format!("{decoded:?}").contains("hunter2"));
    let login = decoded.login.unwrap();
    assert_eq!(login.expose_secret(), "password: hunter2hunter2");
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default, deserialize_with = "string")]
    id: String,
    #[serde(default, deserialize_with = "string")]
    name: String,
}

impl Keyed for Entry {
    fn set_key(&mut self, key: &str) {
        if self.id.is_empty() {
            self.id = key.to_owned();
        }
    }
}

#[derive(Debug, Deserialize)]
struct List {
    #[serde(default, deserialize_with = "keyed_collection")]
    items: Vec<Entry>,
    #[serde(default, deserialize_with = "collection")]
    plain: Vec<Entry>,
}

#[test]
fn collections_as_arrays_or_maps() {
    let list: List = serde_json::from_value(json!({
        "items": {"7": {"name": "a"}, "9": {"id": "9x", "name": "b"}},
        "plain": [{"id": 1, "name": "c"}]
    }))
    .unwrap();
    assert_eq!(list.items[0].id, "7");
    assert_eq!(list.items[1].id, "9x");
    assert_eq!(list.items[1].name, "b");
    assert_eq!(list.plain[0].id, "1");
    for empty in [json!([]), json!({}), json!(""), json!(null)] {
        let list: List = serde_json::from_value(json!({"items": empty, "plain": empty})).unwrap();
        assert!(list.items.is_empty() && list.plain.is_empty());
    }
}

#[test]
fn a_collection_entry_that_is_not_an_object_is_an_error() {
    let result: Result<List, _> = serde_json::from_value(json!({"items": ["x"]}));
    assert!(result.is_err());
}

#[test]
fn pick_takes_the_first_non_empty_key() {
    let map = json!({"id": "", "record_id": 42, "ttl": "300"});
    let map = map.as_object().unwrap();
    assert_eq!(pick(map, &["id", "record_id"]), "42");
    assert_eq!(pick_number::<u32>(map, &["ttl"]), Some(300));
    assert_eq!(pick(map, &["missing"]), "");
}
