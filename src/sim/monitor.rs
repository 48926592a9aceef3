//! Server monitoring (`monitor/*`): checks of a few types, contacts, and alerts linking them.
//! Lists are maps keyed by ID, as `check-list` is on the real service.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{
    call::{ApiError, Ctx, Params, Reply, deleted, done, keyed, reply, stored, valid_text},
    state::Account,
    vm_status::Phase,
};

/// A monitoring check.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    /// Numeric ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Type, e.g. `icmp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Seconds between checks.
    pub check_interval: u32,
    /// Failures before alerting.
    pub delay: u32,
    /// Type-specific parameters.
    pub data: BTreeMap<String, String>,
}

/// A monitoring contact.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Contact {
    /// Numeric ID.
    pub id: String,
    /// `email`, `sms`, `sms_twilio` or `http`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Address, number or URL.
    pub rel: String,
}

/// An alert: notify a contact about a check.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Alert {
    /// Numeric ID.
    pub id: String,
    /// Check ID.
    pub check_id: String,
    /// Contact ID.
    pub contact_id: String,
}

/// One parameter of a check type: name, label, required, help.
type ParamSpec = (&'static str, &'static str, bool, &'static str);

/// The host a check probes.
const TARGET: ParamSpec = ("target", "Target", true, "hostname or IP address");
/// The page an HTTP(S) check fetches.
const PATH: ParamSpec = ("path", "Path", false, "defaults to /");
/// The text an HTTP(S) page must contain.
const EXPECTED_TEXT: ParamSpec = (
    "expected",
    "Expected text",
    false,
    "text the page must contain",
);

/// Check types: key, display name, parameters.
const CHECK_TYPES: &[(&str, &str, &[ParamSpec])] = &[
    ("icmp", "Ping", &[TARGET]),
    (
        "tcp",
        "TCP connect",
        &[TARGET, ("port", "Port", true, "TCP port")],
    ),
    (
        "http",
        "HTTP",
        &[
            TARGET,
            ("port", "Port", false, "defaults to 80"),
            PATH,
            EXPECTED_TEXT,
        ],
    ),
    (
        "https",
        "HTTPS",
        &[
            TARGET,
            ("port", "Port", false, "defaults to 443"),
            PATH,
            EXPECTED_TEXT,
        ],
    ),
    (
        "dns",
        "DNS",
        &[
            ("target", "Server", true, "DNS server to ask"),
            ("hostname", "Hostname", true, "name to resolve"),
            ("record_type", "Record type", true, "e.g. A"),
            (
                "expected",
                "Expected answer",
                false,
                "the answer must contain this",
            ),
        ],
    ),
];

fn type_details(key: &str) -> Option<Value> {
    let (key, name, params) = CHECK_TYPES.iter().find(|(k, _, _)| *k == key)?;
    let params: Map<String, Value> = params
        .iter()
        .map(|(param, label, required, help)| {
            (
                (*param).to_owned(),
                json!({"name": label, "help": help, "placeholder": "", "required": required,
                    "type": "string"}),
            )
        })
        .collect();
    Some(json!({"name": name, "short_name": key, "params": params}))
}

stored!(Check, Check, "check_id", checks);
stored!(Contact, Contact, "contact_id", contacts);
stored!(Alert, Alert, "alert_id", alerts);

/// `monitor/check-types`.
pub(crate) fn check_types(_: &mut Ctx<'_>, _: &Params) -> Reply {
    let types: Map<String, Value> = CHECK_TYPES
        .iter()
        .filter_map(|(key, _, _)| Some(((*key).to_owned(), type_details(key)?)))
        .collect();
    reply([("types", Value::Object(types))])
}

/// `monitor/check-remove`.
pub(crate) fn check_remove(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let id = params
        .remove(&mut ctx.account.checks, "check_id", "check")?
        .id;
    remove_alerts(ctx, &id, |alert| &alert.check_id)
}

/// Drops the alerts that `link` ties to the removed check or contact `id`, and answers success.
fn remove_alerts(ctx: &mut Ctx<'_>, id: &str, link: fn(&Alert) -> &String) -> Reply {
    ctx.account.alerts.retain(|_, alert| link(alert) != id);
    done()
}

/// `monitor/contact-list`.
pub(crate) fn contact_list(ctx: &mut Ctx<'_>, _: &Params) -> Reply {
    keyed(
        "contacts",
        &ctx.account.contacts,
        |c| json!({"id": c.id, "type": c.kind, "rel": c.rel}),
    )
}

/// `monitor/contact-remove`.
pub(crate) fn contact_remove(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let id = params
        .remove(&mut ctx.account.contacts, "contact_id", "contact")?
        .id;
    remove_alerts(ctx, &id, |alert| &alert.contact_id)
}

/// `monitor/alert-list`.
pub(crate) fn alert_list(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let check_id = &params.find(&ctx.account.checks, "check_id", "check")?.id;
    let alerts = ctx.account.alerts.iter();
    keyed(
        "alerts",
        alerts.filter(|(_, a)| a.check_id == *check_id),
        |a| {
            let contact = ctx.account.contacts.get(&a.contact_id);
            json!({
                "id": a.id, "check_id": a.check_id, "contact_id": a.contact_id,
                "type": contact.map(|c| c.kind.clone()).unwrap_or_default(),
                "rel": contact.map(|c| c.rel.clone()).unwrap_or_default(),
            })
        },
    )
}

/// `monitor/alert-remove`.
pub(crate) fn alert_remove(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    deleted::<Alert>(ctx.account, params, "alert")
}

/// What a check finds now. A check aimed at one of the account's VMs (its public or private
/// address, or its hostname) follows that VM: `online` while it runs, `offline` while it is
/// stopped, shelved, rebooting, building or failed. Anything else answers (`online`).
fn check_status(account: &Account, check: &Check) -> &'static str {
    let target = check
        .data
        .get("target")
        .map(|target| target.trim())
        .unwrap_or_default();
    let aimed = account.vms.values().find(|vm| {
        !target.is_empty()
            && (vm.visible_ip() == target
                || vm.private_ip == target
                || vm.hostname.eq_ignore_ascii_case(target))
    });
    match aimed {
        Some(vm) if !matches!(vm.phase, Phase::Active) => "offline",
        _ => "online",
    }
}

pub(crate) fn check_list(ctx: &mut Ctx<'_>, _: &Params) -> Reply {
    let account = &*ctx.account;
    keyed("checks", &account.checks, |check| {
        let data_json = serde_json::to_string(&check.data).unwrap_or_default();
        let summary: Vec<String> = check.data.iter().map(|(k, v)| format!("{k}={v}")).collect();
        json!({
                "id": check.id,
                "name": check.name,
                "type": check.kind,
                "check_interval": check.check_interval,
                "delay": check.delay,
                "enabled": "1",
                "status": check_status(account, check),
                "data": data_json,
                "data_nice": check.data,
                "data_summary": summary.join(", "),
                "type_details": type_details(&check.kind).unwrap_or_default(),
        })
    })
}

pub(crate) fn check_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let name = params.require("name")?;
    let kind = params.require("type")?.trim().to_ascii_lowercase();
    if !valid_text(name, 255) {
        return Err(ApiError::invalid("name"));
    }
    let Some((_, _, specs)) = CHECK_TYPES.iter().find(|(k, _, _)| *k == kind) else {
        return Err(ApiError::invalid("check type"));
    };
    let mut data = BTreeMap::new();
    for (param, _, required, _) in specs.iter() {
        match params.get(param) {
            Some(value) => {
                data.insert((*param).to_owned(), value.trim().to_owned());
            }
            None if *required => return Err(ApiError::not_set(param)),
            None => {}
        }
    }
    if data
        .get("port")
        .is_some_and(|port| port.parse::<u16>().map_or(true, |p| p == 0))
    {
        return Err(ApiError::invalid("port"));
    }
    let check_interval = params
        .optional_number::<u32>("check_interval")?
        .unwrap_or(60);
    let delay = params.optional_number::<u32>("delay")?.unwrap_or(1);
    if check_interval == 0 {
        return Err(ApiError::invalid("check_interval"));
    }
    ctx.shared.create(ctx.account, params, |id| Check {
        id,
        name: name.trim().to_owned(),
        kind,
        check_interval,
        delay,
        data,
    })
}

pub(crate) fn contact_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let kind = params.require("type")?.trim().to_ascii_lowercase();
    let rel = params.require("rel")?.trim().to_owned();
    if !matches!(kind.as_str(), "email" | "sms" | "sms_twilio" | "http") {
        return Err(ApiError::invalid("contact type"));
    }
    let rel_ok = match kind.as_str() {
        "email" => rel.contains('@'),
        "http" => rel.starts_with("http://") || rel.starts_with("https://"),
        _ => rel.chars().filter(char::is_ascii_digit).count() >= 7,
    };
    if !rel_ok || !valid_text(&rel, 255) {
        return Err(ApiError::invalid("rel"));
    }
    ctx.shared
        .create(ctx.account, params, |id| Contact { id, kind, rel })
}

pub(crate) fn alert_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let check_id = params.require("check_id")?.trim().to_owned();
    let contact_id = params.require("contact_id")?.trim().to_owned();
    if !ctx.account.checks.contains_key(&check_id) {
        return Err(ApiError::invalid("check"));
    }
    if !ctx.account.contacts.contains_key(&contact_id) {
        return Err(ApiError::invalid("contact"));
    }
    ctx.shared.create(ctx.account, params, |id| Alert {
        id,
        check_id,
        contact_id,
    })
}
