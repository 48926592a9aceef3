//! Compatibility with objects written against earlier CRDs.
//!
//! `tests/fixtures/compat/` holds, for every kind, a full object (spec and status, every field
//! that can be set together) as the types wrote it, and under `crds/` the CRDs of that time
//! without their descriptions. The tests check that such objects still read into the types and
//! write back unchanged, that every schema property of then is still there with the same type,
//! defaults and validations, and — against a real kube-apiserver — that objects stored under the
//! old CRDs read back unchanged once the current CRDs are installed, and that the current types
//! write them back as they were.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{path::PathBuf, time::Duration};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Resource,
    api::{DynamicObject, PostParams},
};
use lunanode_operator::api::{
    LunaDnsZone, LunaFloatingIP, LunaLoadBalancer, LunaNetwork, LunaVM, LunaVolume, crdgen,
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compat")
}

fn read_yaml(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("{} cannot be read: {error}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The fixture objects, by kind, in a stable order.
fn fixtures() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(compat_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let objects: Vec<(String, Value)> = files
        .iter()
        .map(|path| {
            let value = read_yaml(path);
            (value["kind"].as_str().unwrap().to_owned(), value)
        })
        .collect();
    let mut kinds: Vec<&str> = objects.iter().map(|(kind, _)| kind.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "LunaDnsZone",
            "LunaFloatingIP",
            "LunaLoadBalancer",
            "LunaNetwork",
            "LunaVM",
            "LunaVolume"
        ],
        "one fixture per kind"
    );
    objects
}

/// The old CRDs (descriptions left out), by name.
fn old_crds() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(compat_dir().join("crds"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let value = read_yaml(path);
            (
                value["metadata"]["name"].as_str().unwrap().to_owned(),
                value,
            )
        })
        .collect()
}

/// Reads `value` into `K` and writes it back.
fn through<K: Serialize + DeserializeOwned>(value: &Value) -> Result<Value, serde_json::Error> {
    let typed: K = serde_json::from_value(value.clone())?;
    serde_json::to_value(&typed)
}

/// `value` read into the type of its kind and written back.
fn round_trip(kind: &str, value: &Value) -> Value {
    match kind {
        "LunaVM" => through::<LunaVM>(value),
        "LunaVolume" => through::<LunaVolume>(value),
        "LunaFloatingIP" => through::<LunaFloatingIP>(value),
        "LunaNetwork" => through::<LunaNetwork>(value),
        "LunaLoadBalancer" => through::<LunaLoadBalancer>(value),
        "LunaDnsZone" => through::<LunaDnsZone>(value),
        other => panic!("no type for kind {other}"),
    }
    .unwrap_or_else(|error| panic!("{kind}: the fixture no longer reads: {error}"))
}

/// The first difference between two JSON values, as a path, for a readable failure.
fn first_difference(path: &str, old: &Value, new: &Value) -> Option<String> {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys()) {
                let here = format!("{path}.{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => {
                        if let Some(found) = first_difference(&here, x, y) {
                            return Some(found);
                        }
                    }
                    (Some(_), None) => return Some(format!("{here} is lost")),
                    (None, Some(_)) => return Some(format!("{here} is new")),
                    (None, None) => {}
                }
            }
            None
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(&format!("{path}[{i}]"), x, y)),
        _ if old == new => None,
        _ => Some(format!("{path}: {old} became {new}")),
    }
}

#[track_caller]
fn assert_same(what: &str, old: &Value, new: &Value) {
    if let Some(difference) = first_difference("", old, new) {
        panic!("{what}: {difference}");
    }
}

#[test]
fn old_objects_read_and_write_back_unchanged() {
    for (kind, value) in fixtures() {
        assert!(
            value["status"].is_object() && value["spec"].is_object(),
            "{kind}: a fixture has a spec and a status"
        );
        assert_same(kind.as_str(), &value, &round_trip(&kind, &value));
    }
}

/// Rules of earlier CRDs replaced by a looser one that every object they let through also
/// passes (a new field offered as another choice), or dropped (an immutable field that can now
/// change): (kind's CRD, old rule, new rule or `""`). The objects stored under the old CRDs are
/// checked against the new rules by `objects_stored_under_the_old_crds_survive_the_new_ones`.
const RELAXED: &[(&str, &str, &str)] = &[
    (
        "lunavms.lunanode.com",
        "has(self.image) != has(self.bootVolumeId)",
        "[has(self.image), has(self.imageRef), has(self.bootVolumeId)].filter(x, x).size() == 1",
    ),
    // A volume's label can change: `volume rename`.
    (
        "lunavolumes.lunanode.com",
        "self.label == oldSelf.label",
        "",
    ),
];

/// Whether `rule` (an old rule object) is kept in `new_rules` as it was, or replaced by its
/// looser form of [`RELAXED`].
fn rule_kept(path: &str, rule: &Value, new_rules: &[Value]) -> bool {
    if new_rules.contains(rule) {
        return true;
    }
    let text = rule["rule"].as_str().unwrap_or_default();
    RELAXED.iter().any(|(crd, old, new)| {
        path.starts_with(crd)
            && *old == text
            && (new.is_empty()
                || new_rules
                    .iter()
                    .any(|candidate| candidate["rule"].as_str() == Some(new)))
    })
}

/// Checks that the node `new` of the current schema keeps what `old` said at `path`: every
/// keyword but the description the same, and every property and item schema again kept.
fn assert_schema_kept(path: &str, old: &Value, new: &Value) {
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        assert_eq!(old, new, "{path}");
        return;
    };
    for (key, old_value) in old {
        let here = format!("{path}/{key}");
        let Some(new_value) = new.get(key) else {
            panic!("{here} is gone from the schema");
        };
        match key.as_str() {
            "properties" => {
                let (Value::Object(old_properties), Value::Object(new_properties)) =
                    (old_value, new_value)
                else {
                    panic!("{here}: properties are not a map");
                };
                for (name, old_property) in old_properties {
                    let Some(new_property) = new_properties.get(name) else {
                        panic!("{here}/{name}: the property is gone");
                    };
                    assert_schema_kept(&format!("{here}/{name}"), old_property, new_property);
                }
            }
            "items" | "additionalProperties" => assert_schema_kept(&here, old_value, new_value),
            // Rules may be added (a new field's own rules); every old one stays as it was. That
            // stored objects still pass the new rules is what the next test shows.
            "x-kubernetes-validations" => {
                let (Value::Array(old_rules), Value::Array(new_rules)) = (old_value, new_value)
                else {
                    panic!("{here}: rules are not a list");
                };
                for rule in old_rules {
                    assert!(
                        rule_kept(&here, rule, new_rules),
                        "{here}: the rule {rule} is gone or changed"
                    );
                }
            }
            _ => assert_eq!(old_value, new_value, "{here} changed"),
        }
    }
}

fn without_descriptions(columns: &Value) -> Value {
    let mut columns = columns.clone();
    if let Value::Array(items) = &mut columns {
        for column in items {
            if let Value::Object(map) = column {
                map.remove("description");
            }
        }
    }
    columns
}

#[test]
fn old_schemas_are_kept() {
    let current: Vec<CustomResourceDefinition> = crdgen::all();
    for (name, old) in old_crds() {
        let new = current
            .iter()
            .find(|crd| crd.metadata.name.as_deref() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name}: no current CRD"));
        let new = serde_json::to_value(new).unwrap();
        assert_eq!(old["spec"]["names"], new["spec"]["names"], "{name}: names");
        assert_eq!(old["spec"]["scope"], new["spec"]["scope"], "{name}: scope");
        let (old_version, new_version) = (&old["spec"]["versions"][0], &new["spec"]["versions"][0]);
        assert_eq!(old_version["name"], new_version["name"], "{name}: version");
        assert_eq!(
            old_version["subresources"], new_version["subresources"],
            "{name}: subresources"
        );
        // Every column of then is still there, in the same order; a new one may come between.
        let old_columns = without_descriptions(&old_version["additionalPrinterColumns"]);
        let new_columns = without_descriptions(&new_version["additionalPrinterColumns"]);
        let mut current = new_columns.as_array().into_iter().flatten();
        for column in old_columns.as_array().into_iter().flatten() {
            assert!(
                current.any(|new| new == column),
                "{name}: printer column {column} is gone or moved: {new_columns}"
            );
        }
        assert_schema_kept(
            &name,
            &old_version["schema"]["openAPIV3Schema"],
            &new_version["schema"]["openAPIV3Schema"],
        );
    }
}

// --- Against a real kube-apiserver -------------------------------------------------------------

/// Creates `object` (its spec) and writes its status through the status subresource.
async fn store(api: &Api<DynamicObject>, kind: &str, object: &Value) {
    let mut body = object.clone();
    body.as_object_mut().unwrap().remove("status");
    let created = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(body).unwrap(),
        )
        .await
        .unwrap_or_else(|error| panic!("{kind}: the apiserver refused the object: {error}"));
    let mut with_status = serde_json::to_value(&created).unwrap();
    with_status["status"] = object["status"].clone();
    api.replace_status(
        created.meta().name.as_deref().unwrap(),
        &PostParams::default(),
        &serde_json::from_value(with_status).unwrap(),
    )
    .await
    .unwrap_or_else(|error| panic!("{kind}: the apiserver refused the status: {error}"));
}

/// The spec and status of the stored object `name`.
async fn stored(api: &Api<DynamicObject>, name: &str) -> Value {
    let object = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
    serde_json::json!({"spec": object["spec"], "status": object["status"]})
}

fn spec_and_status(object: &Value) -> Value {
    serde_json::json!({"spec": object["spec"], "status": object["status"]})
}

#[tokio::test]
async fn objects_stored_under_the_old_crds_survive_the_new_ones() {
    let client = support::client().await;
    let ns = support::namespace(&client, "crd-compat").await;

    // Stored under the old CRDs, applied exactly as the files hold them.
    for (_, crd) in old_crds() {
        support::apply_crd(&client, &crd, "crd-compat").await;
    }
    for (kind, object) in fixtures() {
        store(&support::dynamic(&client, &ns, &kind), &kind, &object).await;
        let name = object["metadata"]["name"].as_str().unwrap();
        let back = stored(&support::dynamic(&client, &ns, &kind), name).await;
        assert_same(
            &format!("{kind} under the old CRD"),
            &spec_and_status(&object),
            &back,
        );
    }

    // Read under the new ones. The apiserver rebuilds a kind's handler shortly after the CRD
    // changes; give it that moment.
    for crd in crdgen::all() {
        support::apply_crd(&client, &crd, "crd-compat").await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (kind, object) in fixtures() {
        let api = support::dynamic(&client, &ns, &kind);
        let name = object["metadata"]["name"].as_str().unwrap();
        let expected = spec_and_status(&object);
        let back = stored(&api, name).await;
        assert_same(&format!("{kind} read under the new CRD"), &expected, &back);

        // Written back by the current types (what the operator does), it stays the same.
        let current = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
        let typed = round_trip(&kind, &current);
        api.replace_status(
            name,
            &PostParams::default(),
            &serde_json::from_value(typed.clone()).unwrap(),
        )
        .await
        .unwrap_or_else(|error| panic!("{kind}: the current types' status is refused: {error}"));
        let mut current = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
        current["spec"] = typed["spec"].clone();
        api.replace(
            name,
            &PostParams::default(),
            &serde_json::from_value(current).unwrap(),
        )
        .await
        .unwrap_or_else(|error| panic!("{kind}: the current types' spec is refused: {error}"));
        assert_same(
            &format!("{kind} written back by the current types"),
            &expected,
            &stored(&api, name).await,
        );

        // And a new object like it is accepted by the new CRD as it stands.
        let mut fresh = object.clone();
        fresh["metadata"]["name"] = Value::String(format!("{name}-new"));
        store(&api, &kind, &fresh).await;
        assert_same(
            &format!("{kind} stored under the new CRD"),
            &expected,
            &stored(&api, &format!("{name}-new")).await,
        );
    }
}
