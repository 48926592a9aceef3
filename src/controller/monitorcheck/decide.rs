//! The pure decisions of the LunaMonitorCheck controller: the parameters a spec asks for, their
//! check against the type, whether a listed check differs from them, and the alert plan.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::monitorcheck::LunaMonitorCheckSpec;
use crate::lunanode::types::{CheckType, MonitorAlert, MonitorCheck};

/// The type parameters the spec gives, by their API names; `target` is the resolved one.
pub fn params(spec: &LunaMonitorCheckSpec, target: Option<&str>) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value.filter(|value| !value.trim().is_empty()) {
            params.insert(name.to_owned(), value.trim().to_owned());
        }
    };
    put("target", target.map(str::to_owned));
    put("port", spec.port.map(|port| port.to_string()));
    put("path", spec.path.clone());
    put("hostname", spec.hostname.clone());
    put("record_type", spec.record_type.clone());
    put("expected", spec.expected.clone());
    params
}

/// Whether `params` fit `check_type` (the type's entry of `check-types`, `None` when the
/// account has no such type): every required parameter given, none the type does not take.
pub fn validate(
    type_key: &str,
    check_type: Option<&CheckType>,
    params: &BTreeMap<String, String>,
) -> Result<(), String> {
    let Some(check_type) = check_type else {
        return Err(format!(
            "check type {type_key:?} is not one of monitor check-types"
        ));
    };
    let missing: Vec<&str> = check_type
        .params
        .iter()
        .filter(|(name, required)| **required && !params.contains_key(*name))
        .map(|(name, _)| name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "check type {type_key} needs {}",
            missing.join(", ")
        ));
    }
    let unknown: Vec<&str> = params
        .keys()
        .filter(|name| !check_type.params.contains_key(*name))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "check type {type_key} takes no {}",
            unknown.join(", ")
        ));
    }
    Ok(())
}

/// The parameters of a listed check (`data` is a JSON object as a string); `None` when `data`
/// cannot be read.
pub fn listed_params(check: &MonitorCheck) -> Option<BTreeMap<String, String>> {
    let parsed: BTreeMap<String, serde_json::Value> = serde_json::from_str(&check.data).ok()?;
    let params = parsed
        .into_iter()
        .filter_map(|(name, value)| {
            let text = crate::lunanode::decode::scalar_text(&value)?;
            (!text.trim().is_empty()).then(|| (name, text.trim().to_owned()))
        })
        .collect();
    Some(params)
}

/// What differs between the listed check and the spec with `params`, if anything: Luna Node
/// cannot change a check, so any difference replaces it. Only what the spec sets is compared:
/// a parameter the API fills in by default, an interval it does not report, or `data` it words
/// so that it cannot be read never replaces a check (a replace on every look would be a loop).
pub fn difference(
    spec: &LunaMonitorCheckSpec,
    params: &BTreeMap<String, String>,
    listed: &MonitorCheck,
) -> Option<String> {
    if listed.name != spec.name {
        return Some(format!("its name is {:?}", listed.name));
    }
    if !listed.check_type.eq_ignore_ascii_case(&spec.check_type) {
        return Some(format!("its type is {}", listed.check_type));
    }
    if let Some(listed_params) = listed_params(listed) {
        let differs = params
            .iter()
            .any(|(name, value)| listed_params.get(name) != Some(value));
        if differs {
            return Some(format!("its parameters are {}", listed.data_summary));
        }
    }
    if spec
        .check_interval_seconds
        .is_some_and(|interval| listed.check_interval != Some(interval))
    {
        return Some("its interval differs".into());
    }
    if spec
        .failures_before_alert
        .is_some_and(|delay| listed.delay != Some(delay))
    {
        return Some("its failure count differs".into());
    }
    None
}

/// The alerts to add (contact IDs) and remove (alert IDs) for the check to alert exactly
/// `wanted`; a contact alerted twice loses its extra alerts.
pub fn alert_plan(wanted: &[String], listed: &[MonitorAlert]) -> (Vec<String>, Vec<String>) {
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    let mut remove = Vec::new();
    for alert in listed {
        if wanted.contains(&alert.contact_id) && kept.insert(alert.contact_id.as_str()) {
            continue;
        }
        remove.push(alert.id.clone());
    }
    let add = wanted
        .iter()
        .filter(|contact| !kept.contains(contact.as_str()))
        .cloned()
        .collect();
    (add, remove)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn spec() -> LunaMonitorCheckSpec {
        let mut spec = LunaMonitorCheckSpec::new("web", "tcp");
        spec.target = Some("192.0.2.1".into());
        spec.port = Some(443);
        spec
    }

    fn tcp() -> CheckType {
        CheckType {
            key: "tcp".into(),
            name: "TCP".into(),
            params: BTreeMap::from([("target".into(), true), ("port".into(), true)]),
        }
    }

    #[test]
    fn parameters_are_checked_against_the_type() {
        let spec = spec();
        let mut without_port = LunaMonitorCheckSpec::new("web", "tcp");
        without_port.target = Some("h".into());
        let without_port = params(&without_port, Some("h"));
        let params = params(&spec, spec.target.as_deref());
        assert_eq!(validate("tcp", Some(&tcp()), &params), Ok(()));
        assert!(
            validate("tcp", Some(&tcp()), &without_port)
                .unwrap_err()
                .contains("port")
        );
        let mut extra = params.clone();
        extra.insert("path".into(), "/".into());
        assert!(
            validate("tcp", Some(&tcp()), &extra)
                .unwrap_err()
                .contains("path")
        );
        assert!(
            validate("smtp", None, &params)
                .unwrap_err()
                .contains("smtp")
        );
    }

    #[test]
    fn a_listed_check_differs_by_what_it_probes() {
        let spec = spec();
        let params = params(&spec, Some("192.0.2.1"));
        let listed = MonitorCheck {
            id: "1".into(),
            name: "web".into(),
            check_type: "tcp".into(),
            data: r#"{"target":"192.0.2.1","port":"443"}"#.into(),
            check_interval: Some(60),
            ..MonitorCheck::default()
        };
        assert_eq!(difference(&spec, &params, &listed), None);
        let moved = params_with(&params, "target", "192.0.2.2");
        assert!(difference(&spec, &moved, &listed).is_some());
        // A parameter the API adds by default, or data it words otherwise, replaces nothing.
        let defaulted = MonitorCheck {
            data: r#"{"target":"192.0.2.1","port":"443","timeout":"10"}"#.into(),
            ..listed.clone()
        };
        assert_eq!(difference(&spec, &params, &defaulted), None);
        let unreadable = MonitorCheck {
            data: "target=192.0.2.1".into(),
            ..listed.clone()
        };
        assert_eq!(difference(&spec, &params, &unreadable), None);
        let mut slower = spec.clone();
        slower.check_interval_seconds = Some(300);
        assert!(difference(&slower, &params, &listed).is_some());
    }

    fn params_with(
        params: &BTreeMap<String, String>,
        name: &str,
        value: &str,
    ) -> BTreeMap<String, String> {
        let mut params = params.clone();
        params.insert(name.into(), value.into());
        params
    }

    #[test]
    fn alerts_by_difference() {
        let alert = |id: &str, contact: &str| MonitorAlert {
            id: id.into(),
            check_id: "1".into(),
            contact_id: contact.into(),
        };
        let wanted = vec!["c1".to_owned(), "c2".to_owned()];
        let listed = [alert("a1", "c1"), alert("a2", "c3"), alert("a3", "c1")];
        assert_eq!(
            alert_plan(&wanted, &listed),
            (
                vec!["c2".to_owned()],
                vec!["a2".to_owned(), "a3".to_owned()]
            )
        );
        assert_eq!(alert_plan(&[], &[]), (Vec::new(), Vec::new()));
    }
}
