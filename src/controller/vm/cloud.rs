//! The cloud calls of the LunaVM controller, on the typed client, and the conversion of their
//! answers into the small observed model the controller keeps (see [`ObservedVm`]).

use crate::controller::caches::list_cache;
use std::collections::BTreeMap;

use secrecy::ExposeSecret;

use super::decide::ObservedVm;
use crate::controller::{
    Context, accounts::Account, cost::Exceeded, list_cache::ListCache, managed::Reconciler,
};
use crate::{
    api::vm::{LunaVM, LunaVMSpec},
    lunanode::{
        self, Client,
        types::{VmCreate, VmListEntry},
    },
};
use kube::ResourceExt;

list_cache! {
    /// The account's `vm list` cache (all regions), polled.
    pub fn vms(account) -> ObservedVm = "vm list",
        |client| client.vm_list(),
        |entry| &entry.vm_id,
        observed
}

/// One plan of `plan list`: its ID, the code it is named by (`m.2`) and its price.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedPlan {
    /// Numeric plan ID.
    pub id: String,
    /// Its code.
    pub name: String,
    /// Its price in USD a month: `price_monthly`, else the hourly `price` for 730 hours (Luna
    /// Node bills by the hour; a month is 730 hours on average).
    pub monthly: Option<f64>,
}

/// Hours in a month, on average: what an hourly price is multiplied by for a monthly one.
pub const HOURS_PER_MONTH: f64 = 730.0;

list_cache! {
    /// The account's `plan list` cache, read on demand: plans change rarely and are read only
    /// to tell which plan ID a resize asks for and what a plan costs.
    pub fn plans(account) -> ObservedPlan = "plan list" on demand,
        |client| client.plan_list(),
        |plan| &plan.plan_id,
        |plan| ObservedPlan {
            monthly: plan
                .price_monthly
                .or(plan.price.map(|hourly| hourly * HOURS_PER_MONTH)),
            id: plan.plan_id,
            name: plan.name,
        }
}

/// The plan `plan` names (a plan ID, or a code matched without regard to case), from the
/// account's plan cache (refreshed at most hourly); `None` when the list has no such plan.
pub async fn plan(account: &Account, plan: &str) -> Result<Option<ObservedPlan>, lunanode::Error> {
    let snapshot = plans(account)
        .get(std::time::Duration::from_secs(3600))
        .await?;
    let found = snapshot.entries.get(plan).cloned().or_else(|| {
        let mut named: Vec<&ObservedPlan> = snapshot
            .entries
            .values()
            .filter(|candidate| candidate.name.eq_ignore_ascii_case(plan))
            .collect();
        named.sort_by(|a, b| a.id.cmp(&b.id));
        named.first().map(|found| (*found).clone())
    });
    Ok(found)
}

/// Whether VM `vm` may have plan `plan` under the budget (see [`crate::controller::cost`]):
/// `Some((price, refusal))` when it would go over. No budget, or a plan without a known price
/// (the API's own answer then tells), passes; a pass is remembered as the VM's share.
pub async fn over_budget(
    vm: &LunaVM,
    plan: &str,
    account: &Account,
    ctx: &Context,
) -> Result<Option<(f64, Exceeded)>, lunanode::Error> {
    if !ctx.budget.is_set() {
        return Ok(None);
    }
    let Some(price) = self::plan(account, plan)
        .await?
        .and_then(|found| found.monthly)
    else {
        return Ok(None);
    };
    let others: Vec<(String, Option<f64>)> = ctx
        .registry
        .waker::<LunaVM>()
        .map(|waker| waker.store.state())
        .unwrap_or_default()
        .iter()
        .map(|other| (other.uid().unwrap_or_default(), other.monthly_cost()))
        .collect();
    let uid = vm.uid().unwrap_or_default();
    Ok(ctx
        .budget
        .allow(&uid, price, &others)
        .err()
        .map(|exceeded| (price, exceeded)))
}

/// The numeric ID of `plan`, a plan ID or a plan code (`m.2`, matched without regard to case);
/// `None` when no plan of the account's list has that code. Reads the account's plan cache
/// (refreshed at most hourly).
pub async fn resolve_plan(
    account: &Account,
    plan: &str,
) -> Result<Option<String>, lunanode::Error> {
    let cache = plans(account);
    let named = |candidate: &ObservedPlan| candidate.name.eq_ignore_ascii_case(plan);
    resolve(&cache, 3600, plan, |found| &found.id, named).await
}

/// The ID `text` names: itself when it is numeric, else the smallest ID among the entries of
/// `cache` (read at most `max_age` seconds ago) that `named` accepts.
async fn resolve<T: Clone + PartialEq + Send + Sync + 'static>(
    cache: &ListCache<T>,
    max_age: u64,
    text: &str,
    id_of: fn(&T) -> &String,
    named: impl Fn(&T) -> bool,
) -> Result<Option<String>, lunanode::Error> {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return Ok(Some(text.to_owned()));
    }
    let snapshot = cache.get(std::time::Duration::from_secs(max_age)).await?;
    let found = snapshot
        .entries
        .values()
        .filter(|entry| named(entry))
        .map(id_of)
        .min();
    Ok(found.cloned())
}

fn observed(entry: VmListEntry) -> ObservedVm {
    // The list carries only the OpenStack state; `vm info` adds the friendly text.
    let status = if entry.status_nohtml.is_empty() {
        entry.os_status
    } else {
        entry.status_nohtml
    };
    ObservedVm {
        hostname: if entry.hostname.is_empty() {
            entry.name
        } else {
            entry.hostname
        },
        id: entry.vm_id,
        plan_id: entry.plan_id,
        region: entry.region,
        ip: entry.primaryip,
        private_ip: entry.privateip,
        status,
        task: String::new(),
        ram: entry.ram,
        vcpu: entry.vcpu.map(u64::from),
        storage: entry.storage,
    }
}

/// The status a LunaVM reports (`status.atProvider.status`, the STATUS column), in one
/// vocabulary whichever call observed it: the lowercase OpenStack state of `vm list`
/// (`active`, `stopped`, `building`, `shelved_offloaded`, `rescued`). The friendly text of
/// `vm info` (read only after the operator's own write) maps to the same words; a transition
/// only `vm info` shows (`Powering off`, `Resizing`, ...) is reported in lowercase.
pub fn status_word(status: &str) -> String {
    let status = status.trim();
    let word = match status.to_ascii_lowercase().as_str() {
        "online" | "running" => "active",
        "offline" | "shutoff" => "stopped",
        "build" => "building",
        "shelved" => "shelved_offloaded",
        "rescue" => "rescued",
        other => return other.to_owned(),
    };
    word.to_owned()
}

/// `vm list`, keyed by VM ID.
/// `vm info` of one VM, as an observation: the list's fields plus the friendly status and the
/// task in progress, which the list lacks. Used only for VMs in transition.
pub async fn info(client: &Client, id: &str) -> Result<ObservedVm, lunanode::Error> {
    let info = client.vm_info(id).await?;
    let mut vm = observed(info.extra);
    vm.id = id.to_owned();
    if !info.info.status_nohtml.is_empty() {
        vm.status = info.info.status_nohtml;
    }
    vm.task = info.info.task_state;
    if vm.ip.is_empty() {
        vm.ip = info.info.ip;
    }
    Ok(vm)
}

/// `vm create`; returns the new VM's ID.
pub async fn create(
    client: &Client,
    spec: &LunaVMSpec,
    image_id: Option<&str>,
) -> Result<String, lunanode::Error> {
    client
        .vm_create(&VmCreate {
            hostname: spec.hostname.clone(),
            plan_id: spec.plan.clone(),
            image_id: image_id.map(str::to_owned),
            volume_id: spec.boot_volume_id.clone(),
            region: Some(spec.region.to_string()),
            ip: spec.placement.floating_ip.clone(),
            net_id: spec.placement.net_id.clone(),
            securitygroups: spec.security_groups.clone(),
            scripts: spec.startup_scripts.clone(),
            key_id: spec.ssh_key_id.iter().cloned().collect(),
            affinity_group: spec.affinity_group.clone(),
            ..VmCreate::default()
        })
        .await
}

/// The name of the security group each region of an account starts with, where a VM created
/// without groups lands.
pub const DEFAULT_GROUP: &str = "default";

/// The ID of `region`'s default security group (the oldest group of that name, by ID order of
/// issue), from the account's `securitygroup list` cache at most ten minutes old; `None` where
/// the region lists none.
pub async fn default_group(
    account: &Account,
    region: &str,
) -> Result<Option<String>, lunanode::Error> {
    let snapshot = crate::controller::securitygroup::cloud::groups(account)
        .get(std::time::Duration::from_secs(600))
        .await?;
    Ok(snapshot
        .entries
        .values()
        .filter(|group| group.name == DEFAULT_GROUP && group.region == region)
        .map(|group| group.id.clone())
        .min_by_key(|id| (id.len(), id.clone())))
}

/// `vm info`, reduced to what a connection Secret holds: addresses and login details.
pub async fn connection_details(
    client: &Client,
    id: &str,
) -> Result<BTreeMap<String, String>, lunanode::Error> {
    let info = client.vm_info(id).await?.info;
    let mut data = BTreeMap::new();
    data.insert("vm_id".to_owned(), id.to_owned());
    for (key, value) in [
        ("ip", info.ip),
        ("private_ip", info.privateip),
        ("hostname", info.hostname),
    ] {
        if !value.is_empty() {
            data.insert(key.to_owned(), value);
        }
    }
    // "username: ubuntu; password: XXXX" or just "password: XXXX".
    if let Some(login) = &info.login_details {
        for part in login.expose_secret().split(';') {
            if let Some((name, value)) = part.split_once(':') {
                let name = name.trim();
                if matches!(name, "username" | "password") {
                    data.insert(name.to_owned(), value.trim().to_owned());
                }
            }
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_calls_report_one_vocabulary() {
        for (info, list) in [
            ("Online", "active"),
            ("Offline", "stopped"),
            ("BUILD", "building"),
            ("Shelved", "shelved_offloaded"),
            ("Rescue", "rescued"),
        ] {
            assert_eq!(status_word(info), list);
            assert_eq!(status_word(list), list);
        }
        assert_eq!(status_word("Powering off"), "powering off");
        assert_eq!(status_word("Resizing"), "resizing");
    }
}
