//! The LunaMonitorCheck controller: add a check once its target is known and its parameters fit
//! its type, replace it when what it probes changes (Luna Node cannot change a check), keep its
//! alerts to the spec's contacts by difference, and remove it.

use std::time::Duration;

use super::{cloud, decide};
use crate::api::{
    LunaMonitorContact,
    monitorcheck::{CheckAtProvider, LunaMonitorCheck},
    vm::LunaVM,
};
use crate::controller::{
    prelude::*,
    vm::{VmIp, vm_ip},
};
use crate::lunanode::types::{CheckAdd, MonitorCheck};

/// The LunaMonitorContacts a check alerts.
fn contact_refs(check: &LunaMonitorCheck) -> Vec<String> {
    check
        .spec
        .contact_refs
        .iter()
        .map(|reference| reference.name.clone())
        .collect()
}

impl LunaMonitorCheck {
    /// The parameters the spec asks for, its target resolved; or why the target is not known
    /// yet.
    fn wanted(&self, ctx: &Context) -> Result<std::collections::BTreeMap<String, String>, Blocked> {
        let target = match &self.spec.vm_ref {
            Some(vm) => {
                let namespace = self.namespace().unwrap_or_default();
                let ip = vm_ip(ctx, &namespace, &vm.name, VmIp::Public)
                    .map_err(|why| Blocked::waiting(Reason::WaitingForVM, why))?;
                Some(ip)
            }
            None => self.spec.target.clone(),
        };
        Ok(decide::params(&self.spec, target.as_deref()))
    }

    /// Whether `params` fit the check's type, by the account's `monitor check-types`.
    async fn validate(
        &self,
        params: &std::collections::BTreeMap<String, String>,
        cx: &CloudCx<'_, Self>,
    ) -> Result<Result<(), String>, Error> {
        let types = cloud::types(cx.account)
            .get(Duration::from_secs(3600))
            .await
            .map_err(|source| cloud("list check types", &cx.object, source))?;
        let key = self.spec.check_type.to_ascii_lowercase();
        Ok(decide::validate(&key, types.entries.get(&key), params))
    }

    /// The contact IDs the check is to alert (sorted), or why one is not known yet.
    fn contacts(&self, ctx: &Context) -> Result<Vec<String>, (Reason, String)> {
        let namespace = self.namespace().unwrap_or_default();
        let mut ids = Vec::new();
        for reference in &self.spec.contact_refs {
            match managed::resolve::<LunaMonitorContact>(ctx, &namespace, &reference.name) {
                Reference::Ready { id, .. } => ids.push(id),
                Reference::Waiting(why) => return Err((Reason::WaitingForContact, why)),
                Reference::Missing(why) => return Err((Reason::ContactNotFound, why)),
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

impl External for LunaMonitorCheck {
    type Observed = MonitorCheck;
    type Plan = CheckAdd;

    const STANDING_FAILURES: &'static [Reason] = &[Reason::InvalidCheck];

    managed::found_by!(cloud::checks, name, name);

    const ACTS_ON_THE_POLL: bool = true;

    async fn plan(&self, cx: &CloudCx<'_, Self>) -> Result<Result<CheckAdd, Blocked>, Error> {
        let params = match self.wanted(cx.ctx) {
            Ok(params) => params,
            Err(blocked) => return Ok(Err(blocked)),
        };
        if let Err(why) = self.validate(&params, cx).await? {
            return Ok(Err(Blocked::new(Reason::InvalidCheck, why)));
        }
        Ok(Ok(CheckAdd {
            name: self.spec.name.clone(),
            check_type: self.spec.check_type.to_ascii_lowercase(),
            check_interval: self.spec.check_interval_seconds,
            delay: self.spec.failures_before_alert,
            params,
        }))
    }

    async fn create(&self, plan: &CheckAdd, client: &Client) -> Result<String, lunanode::Error> {
        client.monitor_check_add(plan).await
    }

    /// A new check has no alerts yet.
    fn created(&self, status: &mut Self::Status, _plan: Option<&CheckAdd>, _account: &Account) {
        status.alerted_contacts = None;
    }

    fn forget_observed(&self, status: &mut Self::Status) {
        status.alerted_contacts = None;
    }

    fn report(&self, status: &mut Self::Status, observed: &MonitorCheck) {
        status.at_provider = Some(CheckAtProvider {
            name: non_empty(&observed.name),
            check_type: non_empty(&observed.check_type),
            status: non_empty(&observed.status),
            summary: non_empty(&observed.data_summary),
        });
    }

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        let id = observed.id.as_str();
        let params = match self.wanted(cx.ctx) {
            Ok(params) => params,
            // The check keeps probing what it does until the target is known again.
            Err(blocked) => {
                let message = format!("{}; check {id} is left as it is", blocked.message);
                mark(status, self).not_ready(blocked.reason, &message);
                return Ok(Action::requeue(managed::external::WAITING_RETRY));
            }
        };
        if let Some(what) = decide::difference(&self.spec, &params, observed) {
            if let Err(why) = self.validate(&params, cx).await? {
                let message = format!("{why}; check {id} is left as it is");
                managed::stuck(status, self, Reason::InvalidCheck, &message);
                return Ok(Action::await_change());
            }
            return replace(self, status, observed, &what, cx).await;
        }
        let wanted = match self.contacts(cx.ctx) {
            Ok(wanted) => wanted,
            Err((reason, why)) => {
                mark(status, self).not_ready(reason, &why);
                return Ok(Action::requeue(managed::external::WAITING_RETRY));
            }
        };
        // The alerts are listed only when the contacts asked for differ from those last made
        // to match: steady state costs nothing per check.
        if status.alerted_contacts.as_ref() != Some(&wanted) {
            let client = cx.client();
            let listed = client
                .monitor_alert_list(id)
                .await
                .map_err(|source| cloud("list alerts", &cx.object, source))?;
            let (add, remove) = decide::alert_plan(&wanted, &listed);
            for alert in &remove {
                client
                    .monitor_alert_remove(alert)
                    .await
                    .map_err(|source| cloud("remove an alert", &cx.object, source))?;
            }
            for contact in &add {
                client
                    .monitor_alert_add(id, contact)
                    .await
                    .map_err(|source| cloud("add an alert", &cx.object, source))?;
            }
            if !add.is_empty() || !remove.is_empty() {
                let note = format!(
                    "alerts of check {id}: added {}, removed {}",
                    add.len(),
                    remove.len()
                );
                cx.event(self, false, "AlertsUpdated", "Update", note).await;
            }
            status.alerted_contacts = Some(wanted.clone());
        }
        let message = format!("check {id} alerts {} contact(s)", wanted.len());
        mark(status, self).ready(Reason::Available, &message);
        // A check that follows a VM looks again every slow poll (no cloud call): the VM's change
        // wakes it at once, but can come before the VM's cache holds the new address.
        Ok(if self.spec.vm_ref.is_some() {
            Action::requeue(cx.ctx.accounts.timing().slow_interval)
        } else {
            Action::await_change()
        })
    }

    async fn delete(&self, observed: &MonitorCheck, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let call = cx.client().monitor_check_remove(&observed.id);
        cx.remove(self, "remove monitoring check", &observed.id, call)
            .await
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        // The VM whose address is the target, or a contact to alert, changed.
        controller
            .follows_ref::<LunaVM>(ctx, |check| check.spec.vm_ref.as_ref())
            .follows::<LunaMonitorContact>(ctx, contact_refs)
    }
}

/// Luna Node cannot change a check: delete it; the skeleton confirms it gone and adds the
/// spec's.
async fn replace(
    check: &LunaMonitorCheck,
    status: &mut <LunaMonitorCheck as ManagedResource>::Status,
    observed: &MonitorCheck,
    what: &str,
    cx: &CloudCx<'_, LunaMonitorCheck>,
) -> Result<Action, Error> {
    let message = format!(
        "check {} differs from the spec ({what}); Luna Node cannot change a check: deleting it to add the spec's",
        observed.id
    );
    let why = managed::Replacement::Unchangeable;
    let action = managed::replace(check, status, observed, cx, why, message).await?;
    status.alerted_contacts = None;
    Ok(action)
}
