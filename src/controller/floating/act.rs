//! LunaFloatingIP: carrying out one step of [`super::decide`] (one cloud write, its Event, the
//! Ready condition), and the condition of a converged address.

use std::time::Duration;

use kube::{ResourceExt, runtime::controller::Action};

use super::decide::Step;
use crate::{
    api::floating::{LunaFloatingIP, LunaFloatingIPStatus},
    controller::{
        error::Error,
        list_cache::ListCache,
        managed::{CloudCx, cloud, mark},
        reason::Reason,
    },
    lunanode::types::FloatingIp,
};

/// Carries out `step` on the address `observed`; `cache` is told about the write.
pub(super) async fn act(
    ip: &LunaFloatingIP,
    status: &mut LunaFloatingIPStatus,
    observed: &FloatingIp,
    step: Step,
    cache: &ListCache<FloatingIp>,
    cx: &CloudCx<'_, LunaFloatingIP>,
) -> Result<Action, Error> {
    let uid = ip.uid().unwrap_or_default();
    let not_ready = |status: &mut LunaFloatingIPStatus, reason: Reason, message: &str| {
        mark(status, ip).not_ready(reason, message);
    };
    match step {
        Step::Detach { from } => {
            cx.client()
                .vm_floatingip_delete(&from, Some(&observed.ip), true)
                .await
                .map_err(|source| cloud("detach floating ip", &cx.object, source))?;
            cache.wrote(&uid);
            let note = format!("detached {} from vm {from}", observed.ip);
            cx.event(ip, false, "Detached", "Detach", note).await;
            not_ready(status, Reason::Attaching, "moving to another vm");
            Ok(Action::requeue(Duration::from_secs(1)))
        }
        Step::Attach { to } => {
            let attached = cx
                .client()
                .vm_floatingip_add(
                    &to,
                    Some(&observed.ip),
                    ip.spec
                        .attach_to
                        .as_ref()
                        .and_then(|attach| attach.private_ip.as_deref()),
                )
                .await;
            match attached {
                Ok(_) => {
                    cache.wrote(&uid);
                    let note = format!("attached {} to vm {to}", observed.ip);
                    cx.event(ip, false, "Attached", "Attach", note).await;
                    not_ready(status, Reason::Attaching, "attached; confirming");
                    Ok(Action::requeue(Duration::from_secs(1)))
                }
                Err(error) if error.is_refused() => {
                    let message = format!("unable to attach to vm {to}: {error}");
                    not_ready(status, Reason::AttachFailed, &message);
                    mark(status, ip).not_synced(Reason::AttachFailed, &message);
                    Ok(Action::requeue(Duration::from_secs(300)))
                }
                Err(error) => {
                    cache.wrote(&uid);
                    Err(cloud("attach floating ip", &cx.object, error))
                }
            }
        }
        Step::SetReverseDns { name } => {
            let attached = super::decide::attached(observed);
            cx.client()
                .dns_set(&observed.ip, &name, attached.as_deref())
                .await
                .map_err(|source| cloud("set reverse dns", &cx.object, source))?;
            cache.wrote(&uid);
            let note = format!("reverse dns of {} set to {name}", observed.ip);
            status.applied_reverse_dns = Some(name);
            cx.event(ip, false, "ReverseDNSSet", "Update", note).await;
            not_ready(status, Reason::Updating, "reverse dns set; confirming");
            Ok(Action::requeue(Duration::from_secs(1)))
        }
        Step::Converged => {
            let message = match super::decide::attached(observed) {
                Some(vm) => format!("{} is attached to vm {vm}", observed.ip),
                None => format!("{} is allocated", observed.ip),
            };
            mark(status, ip).ready(Reason::Available, &message);
            Ok(Action::await_change())
        }
    }
}
