//! LunaSecurityGroup: the rule writes of a [`super::decide::RulePlan`], the memo of the rules
//! this process inserted moments ago (a rule list may not show them yet), and the memo of when
//! each group was last found in order.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{
    api::securitygroup::{LunaSecurityGroup, WireRule},
    controller::{
        accounts::Account,
        error::Error,
        managed::{CloudCx, cloud},
    },
    lunanode::types::RuleInsert,
};

use super::decide::RulePlan;

/// How long a rule inserted by this process is taken as present though no list shows it.
const INSERT_SETTLE: Duration = crate::controller::managed::ownership::CREATE_SETTLE;

/// The rules each group (by object uid) had inserted, and when: per-account state
/// ([`Account::state`]). Losing it (a restart) costs nothing unless a list lags at that moment.
#[derive(Debug, Default)]
struct Recent(Mutex<HashMap<String, Vec<(WireRule, Instant)>>>);

/// The rules `uid` inserted less than [`INSERT_SETTLE`] ago.
pub(super) fn recent(account: &Account, uid: &str) -> Vec<WireRule> {
    let state = account.state::<Recent>();
    let mut recent = state
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(rules) = recent.get_mut(uid) else {
        return Vec::new();
    };
    rules.retain(|(_, at)| at.elapsed() < INSERT_SETTLE);
    let rules: Vec<WireRule> = rules.iter().map(|(rule, _)| rule.clone()).collect();
    if rules.is_empty() {
        recent.remove(uid);
    }
    rules
}

fn inserted(account: &Account, uid: &str, rule: &WireRule) {
    let state = account.state::<Recent>();
    let mut recent = state
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    recent
        .entry(uid.to_owned())
        .or_default()
        .push((rule.clone(), Instant::now()));
}

/// Forgets the group `uid` (deleted).
pub(super) fn forget(account: &Account, uid: &str) {
    let state = account.state::<Recent>();
    let mut recent = state
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    recent.remove(uid);
    checked(account, uid, None);
}

/// When each group (by object uid) was last found to hold exactly its manifest's rules, and at
/// which generation: per-account state. A reconcile woken by something else than a change of
/// the group (a LunaVM that names it changing its status, say) within a poll of that finding
/// does not list the rules again, so waking a group costs no call; the poll still does.
#[derive(Debug, Default)]
struct Checked(Mutex<HashMap<String, (Option<i64>, Instant)>>);

/// Records that group `uid` held its rules at `generation` now; `None` forgets it (after a
/// write, so that the next look confirms it).
pub(super) fn checked(account: &Account, uid: &str, generation: Option<Option<i64>>) {
    let state = account.state::<Checked>();
    let mut checked = state
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match generation {
        Some(generation) => {
            checked.insert(uid.to_owned(), (generation, Instant::now()));
        }
        None => {
            checked.remove(uid);
        }
    }
}

/// How long until group `uid`, found in order at `generation`, is due to be looked at again
/// (`poll` after that finding); `None` when it is due now, or its generation changed since.
pub(super) fn not_due(
    account: &Account,
    uid: &str,
    generation: Option<i64>,
    poll: Duration,
) -> Option<Duration> {
    let state = account.state::<Checked>();
    let checked = state
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (at_generation, at) = checked.get(uid)?;
    // A second's slack: the poll's own wake-up comes a little after `poll`.
    let left = poll.checked_sub(at.elapsed() + Duration::from_secs(1))?;
    (*at_generation == generation).then_some(left)
}

/// What the writes of a plan came to: a refusal stops the batch.
pub(super) enum Outcome {
    /// Every write was answered.
    Done,
    /// The API refused a write: its message.
    Refused(String),
}

/// Deletes, then inserts, the rules of `plan` on group `id`.
pub(super) async fn apply(
    group: &LunaSecurityGroup,
    uid: &str,
    id: &str,
    plan: &RulePlan,
    cx: &CloudCx<'_, LunaSecurityGroup>,
) -> Result<Outcome, Error> {
    let client = cx.client();
    let region: &str = &group.spec.region;
    for (rule_id, rule) in &plan.delete {
        match client.securitygroup_rule_delete(region, id, rule_id).await {
            Ok(()) => {}
            Err(error) if error.is_not_found() => {}
            Err(error) if error.is_refused() => {
                return Ok(Outcome::Refused(format!(
                    "rule-delete of rule {rule_id} ({}) refused: {error}",
                    describe(rule)
                )));
            }
            Err(error) => return Err(cloud("delete rule", &cx.object, error)),
        }
    }
    for rule in &plan.insert {
        let insert = RuleInsert {
            direction: &rule.direction,
            ip_version: &rule.ip_version,
            protocol: &rule.protocol,
            remote_type: &rule.remote_type,
            remote_value: &rule.remote_value,
            port_min: non_empty(&rule.port_min),
            port_max: non_empty(&rule.port_max),
            label: non_empty(&rule.label),
        };
        match client.securitygroup_rule_insert(region, id, &insert).await {
            Ok(_) => inserted(cx.account, uid, rule),
            Err(error) if error.is_refused() => {
                return Ok(Outcome::Refused(format!(
                    "rule-insert of {} refused: {error}",
                    describe(rule)
                )));
            }
            Err(error) => {
                // The insert may have happened without its answer: the next list tells.
                inserted(cx.account, uid, rule);
                return Err(cloud("insert rule", &cx.object, error));
            }
        }
    }
    Ok(Outcome::Done)
}

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// A rule in a line: `ingress tcp 22-22 from 10.0.0.0/8`.
pub(super) fn describe(rule: &WireRule) -> String {
    let ports = match (rule.port_min.as_str(), rule.port_max.as_str()) {
        ("", "") => String::new(),
        (min, max) if min == max || max.is_empty() => format!(" port {min}"),
        (min, max) => format!(" ports {min}-{max}"),
    };
    let from = if rule.remote_type == "group" {
        format!("group {}", rule.remote_value)
    } else {
        rule.remote_value.clone()
    };
    let direction = if rule.direction == "egress" {
        "to"
    } else {
        "from"
    };
    format!(
        "{} {} {}{ports} {direction} {from}",
        rule.direction, rule.ip_version, rule.protocol
    )
}
