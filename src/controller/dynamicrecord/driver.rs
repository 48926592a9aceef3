//! The LunaDynamicRecord controller: add a dynamic DNS name once its address is known, keep name
//! and address as the spec says (one `dns dyn-update` per change, the address of a LunaVM or
//! LunaFloatingIP followed as it moves), and remove it.

use std::net::IpAddr;

use super::cloud;
use crate::api::{
    dynamicrecord::{DynamicRecordAtProvider, LunaDynamicRecord},
    floating::LunaFloatingIP,
    vm::LunaVM,
};
use crate::controller::{
    dnszone::references::floating_address,
    prelude::*,
    vm::{VmIp, vm_ip},
};
use crate::lunanode::types::DynEntry;

/// The address the spec asks for, or why there is none yet (the reason and message to wait
/// with).
async fn address(
    record: &LunaDynamicRecord,
    ctx: &Context,
) -> Result<Result<String, Blocked>, Error> {
    let namespace = record.namespace().unwrap_or_default();
    let spec = &record.spec;
    if let Some(ip) = &spec.ip {
        return Ok(Ok(ip.trim().to_owned()));
    }
    if let Some(vm) = &spec.vm_ref {
        return Ok(vm_ip(ctx, &namespace, &vm.name, VmIp::Public)
            .map_err(|why| Blocked::waiting(Reason::WaitingForVM, why)));
    }
    let name = spec
        .floating_ip_ref
        .as_ref()
        .map(|reference| reference.name.as_str())
        .unwrap_or_default();
    Ok(floating_address(ctx, &namespace, name)
        .await?
        .map_err(|why| Blocked::waiting(Reason::WaitingForFloatingIP, why)))
}

/// When a name that follows a LunaVM or LunaFloatingIP looks again: their change wakes it at
/// once, but the wake can come before their kind's cache holds the new address; a look every
/// slow poll (no cloud call: the shared list is polled anyway) settles that. A literal address
/// waits for a change.
fn follow_again(record: &LunaDynamicRecord, cx: &CloudCx<'_, LunaDynamicRecord>) -> Action {
    if record.spec.ip.is_some() {
        Action::await_change()
    } else {
        Action::requeue(cx.ctx.accounts.timing().slow_interval)
    }
}

/// Whether two addresses are the same (`2001:db8::1` is `2001:0db8:0:0::1`).
fn same_address(a: &str, b: &str) -> bool {
    match (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim() == b.trim(),
    }
}

impl External for LunaDynamicRecord {
    type Observed = DynEntry;
    /// The address to add the name with.
    type Plan = String;

    const STANDING_FAILURES: &'static [Reason] = &[Reason::UpdateFailed];

    managed::found_by!(cloud::entries, name, name, ignore_case);

    /// The list is polled: a reconcile acts on the last one, however many names there are.
    const ACTS_ON_THE_POLL: bool = true;

    async fn plan(&self, cx: &CloudCx<'_, Self>) -> Result<Result<String, Blocked>, Error> {
        address(self, cx.ctx).await
    }

    async fn create(&self, ip: &String, client: &Client) -> Result<String, lunanode::Error> {
        client.dns_dyn_add(&self.spec.name, ip).await
    }

    fn report(&self, status: &mut Self::Status, observed: &DynEntry) {
        status.at_provider = Some(DynamicRecordAtProvider {
            name: non_empty(&observed.name),
            ip: non_empty(&observed.ip),
        });
    }

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        let id = observed.id.as_str();
        let wanted = match address(self, cx.ctx).await? {
            Ok(ip) => ip,
            // The entry keeps the address it has until the reference has one again.
            Err(blocked) => {
                let message = format!("{}; entry {id} keeps {}", blocked.message, observed.ip);
                mark(status, self).not_ready(blocked.reason, &message);
                return Ok(follow_again(self, cx));
            }
        };
        let name = &self.spec.name;
        if observed.name.eq_ignore_ascii_case(name) && same_address(&observed.ip, &wanted) {
            let message = format!("{name} points at {wanted}");
            mark(status, self).ready(Reason::Available, &message);
            return Ok(follow_again(self, cx));
        }
        // A refusal of this generation's update stands until the manifest changes.
        if managed::refused_at_generation(status, self, Reason::UpdateFailed) {
            return Ok(Action::await_change());
        }
        let note = if observed.name.eq_ignore_ascii_case(name) {
            format!(
                "entry {id}: {name} now points at {wanted} (was {})",
                observed.ip
            )
        } else {
            format!(
                "entry {id}: renamed from {} to {name}, pointing at {wanted}",
                observed.name
            )
        };
        let update = managed::Update {
            reason: "Updated",
            note,
            action: "update dynamic DNS entry",
        };
        let call = cx.client().dns_dyn_update(id, name, &wanted);
        managed::update(self, status, cx, update, call).await
    }

    async fn delete(&self, observed: &DynEntry, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let call = cx.client().dns_dyn_remove(&observed.id);
        cx.remove(self, "remove dynamic DNS entry", &observed.id, call)
            .await
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        // The VM or floating IP whose address the name follows changed.
        controller
            .follows_ref::<LunaVM>(ctx, |record| record.spec.vm_ref.as_ref())
            .follows_ref::<LunaFloatingIP>(ctx, |record| record.spec.floating_ip_ref.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_compare_by_value() {
        assert!(same_address("2001:db8::1", "2001:0db8:0:0::1"));
        assert!(same_address(" 192.0.2.1", "192.0.2.1"));
        assert!(!same_address("192.0.2.1", "192.0.2.2"));
    }
}
