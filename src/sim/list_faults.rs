//! The list faults' side of the answers: which actions answer a list of the account's objects,
//! where the entries sit in the answer, and how they are taken out.
//!
//! A real cloud's list can lag behind its writes (eventual consistency) or come back cut short
//! (a truncated page); an operator that trusts one list answer re-creates what is missing. The
//! faults only thin the answer: the objects stay in the state, and `info`-style calls still see
//! them. The seeded catalog (plans, regions, public images) is never thinned.

use serde_json::{Map, Value};

use super::catalog;

/// Where the entries of a list answer are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// An array under this key.
    Array(&'static str),
    /// An object keyed by ID under this key (empty, it is written `[]`, as PHP does).
    Keyed(&'static str),
    /// The top-level keys `"0"`, `"1"`, ... (`sshkey/list`): renumbered after thinning, as
    /// PHP numbers a list built by appending.
    Indexed,
}

/// Every list action the faults apply to, with the place of its entries. `plan/list` and
/// `region/list` are the seeded catalog; `vm/iplist` describes one VM, like `vm/info`.
const LISTS: &[(&str, Shape)] = &[
    ("vm/list", Shape::Array("vms")),
    ("volume/list", Shape::Array("volumes")),
    ("volume/snapshot-list", Shape::Array("snapshots")),
    ("image/list", Shape::Array("images")),
    ("floating/list", Shape::Array("ips")),
    ("network/list", Shape::Array("networks")),
    ("lb/list", Shape::Array("lb")),
    ("dns/list", Shape::Array("dns")),
    ("dns/zone-list", Shape::Keyed("zones")),
    ("dns2/zone-list", Shape::Array("zones")),
    ("dns/record-list", Shape::Array("records")),
    ("dns2/record-list", Shape::Array("records")),
    ("dns/dyn-list", Shape::Keyed("dyns")),
    ("monitor/check-list", Shape::Keyed("checks")),
    ("monitor/contact-list", Shape::Keyed("contacts")),
    ("monitor/alert-list", Shape::Keyed("alerts")),
    ("securitygroup/list", Shape::Array("securitygroups")),
    ("securitygroup/rule-list", Shape::Array("rules")),
    ("script/list", Shape::Array("scripts")),
    ("sshkey/list", Shape::Indexed),
    ("email/domain-list", Shape::Array("domains")),
    ("email/user-list", Shape::Array("users")),
    ("email/alias-list", Shape::Array("aliases")),
];

/// The shape of a list action's answer; `None` for every other action.
pub(crate) fn shape(path: &str) -> Option<Shape> {
    LISTS
        .iter()
        .find(|(list, _)| *list == path)
        .map(|(_, shape)| *shape)
}

/// What the list faults took out of one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Hidden {
    /// Entries left out one by one (`list_omit_rate`).
    pub omitted: u64,
    /// Whether `list_empty_rate` emptied an answer that had entries.
    pub emptied: bool,
}

/// Entries no fault hides: the public images in `image/list` (a catalog, not the account's
/// objects).
fn pinned(path: &str, entry: &Value) -> bool {
    path == "image/list"
        && entry["image_id"]
            .as_str()
            .is_some_and(|id| catalog::public_image(id).is_some())
}

/// The object's own ID in an entry of the list `path`: the key of a keyed answer, else the
/// field that names it (`vm_id`, `image_id`, `net_id`, or `id`).
pub(crate) fn own_id<'a>(path: &str, key: Option<&'a str>, entry: &'a Value) -> Option<&'a str> {
    if key.is_some() {
        return key;
    }
    let field = match path {
        "vm/list" => "vm_id",
        "image/list" => "image_id",
        "network/list" => "net_id",
        _ => "id",
    };
    entry.get(field)?.as_str()
}

/// Takes out of `data` every entry (catalog entries aside) for which `leave_out`, given the
/// entry's own ID (see [`own_id`]), says so; `emptying` says which fault is at work, for the
/// count.
pub(crate) fn thin(
    path: &str,
    shape: Shape,
    data: &mut Map<String, Value>,
    emptying: bool,
    mut leave_out: impl FnMut(Option<&str>) -> bool,
) -> Hidden {
    let mut removed = 0u64;
    let mut keep = |key: Option<&str>, entry: &Value| {
        if pinned(path, entry) || !leave_out(own_id(path, key, entry)) {
            true
        } else {
            removed += 1;
            false
        }
    };
    match shape {
        Shape::Array(key) => {
            if let Some(Value::Array(items)) = data.get_mut(key) {
                items.retain(|entry| keep(None, entry));
            }
        }
        Shape::Keyed(key) => {
            if let Some(Value::Object(entries)) = data.get_mut(key) {
                entries.retain(|id, entry| keep(Some(id), entry));
            }
        }
        Shape::Indexed => {
            let mut numbered: Vec<(usize, Value)> = std::mem::take(data)
                .into_iter()
                .filter_map(|(key, entry)| Some((key.parse().ok()?, entry)))
                .collect();
            numbered.sort_by_key(|(index, _)| *index);
            *data = numbered
                .into_iter()
                .map(|(_, entry)| entry)
                .filter(|entry| keep(None, entry))
                .enumerate()
                .map(|(index, entry)| (index.to_string(), entry))
                .collect();
        }
    }
    if emptying {
        Hidden {
            omitted: 0,
            emptied: removed > 0,
        }
    } else {
        Hidden {
            omitted: removed,
            emptied: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::lunanode::actions::ACTIONS;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// Empties the list (as the emptying fault does).
    fn thin_all(path: &str, shape: Shape, data: &mut Map<String, Value>) -> Hidden {
        thin(path, shape, data, true, |_| true)
    }

    #[test]
    fn every_list_action_is_covered_or_left_out_on_purpose() {
        let left_out = ["plan/list", "region/list", "vm/iplist"];
        for spec in ACTIONS.iter().filter(|spec| spec.action.ends_with("list")) {
            let path = spec.path();
            assert!(
                shape(&path).is_some() != left_out.contains(&path.as_str()),
                "{path}: add it to LISTS or to the actions left out"
            );
        }
        for (path, _) in LISTS {
            let known = path
                .split_once('/')
                .and_then(|(category, action)| crate::lunanode::actions::find(category, action));
            assert!(known.is_some(), "{path} is not in the catalog");
        }
    }

    #[test]
    fn arrays_and_keyed_objects_lose_the_entries_rolled_out() {
        let mut data = object(json!({"vms": [{"vm_id": "a"}, {"vm_id": "b"}, {"vm_id": "c"}]}));
        let mut rolls = [false, true, false].into_iter();
        let hidden = thin("vm/list", Shape::Array("vms"), &mut data, false, |_| {
            rolls.next().unwrap_or(false)
        });
        assert_eq!(hidden.omitted, 1);
        assert!(!hidden.emptied);
        assert_eq!(data["vms"], json!([{"vm_id": "a"}, {"vm_id": "c"}]));

        let mut data = object(json!({"zones": {"1301": {"id": "1301"}, "1302": {"id": "1302"}}}));
        let hidden = thin_all("dns/zone-list", Shape::Keyed("zones"), &mut data);
        assert_eq!(
            hidden,
            Hidden {
                omitted: 0,
                emptied: true
            }
        );
        assert_eq!(data["zones"], json!({}));
    }

    #[test]
    fn an_empty_answer_is_not_counted_as_emptied() {
        let mut data = object(json!({"vms": []}));
        let hidden = thin_all("vm/list", Shape::Array("vms"), &mut data);
        assert_eq!(hidden, Hidden::default());
    }

    #[test]
    fn indexed_answers_are_renumbered() {
        let mut data = object(json!({
            "0": {"id": "a"}, "1": {"id": "b"}, "2": {"id": "c"}, "10": {"id": "k"}
        }));
        let mut rolls = [true, false, false, true].into_iter();
        let hidden = thin("sshkey/list", Shape::Indexed, &mut data, false, |_| {
            rolls.next().unwrap_or(false)
        });
        assert_eq!(hidden.omitted, 2);
        assert_eq!(
            Value::Object(data),
            json!({"0": {"id": "b"}, "1": {"id": "c"}})
        );
    }

    #[test]
    fn public_images_are_never_hidden() {
        let mut data = object(json!({"images": [
            {"image_id": "1001", "name": "Ubuntu"},
            {"image_id": "700001", "name": "mine"},
        ]}));
        let hidden = thin_all("image/list", Shape::Array("images"), &mut data);
        assert!(hidden.emptied);
        assert_eq!(
            data["images"],
            json!([{"image_id": "1001", "name": "Ubuntu"}])
        );
    }
}
