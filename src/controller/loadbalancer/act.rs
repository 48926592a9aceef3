//! LunaLoadBalancer: carrying out the writes of one reconcile (member adds and removes, the
//! floating IP association), with their Events and conditions.

use std::time::Duration;

use kube::runtime::controller::Action;

use super::decide::MemberPlan;
use crate::api::loadbalancer::{LunaLoadBalancer, LunaLoadBalancerStatus};
use crate::controller::reason::Reason;
use crate::controller::{
    error::Error,
    managed::{CloudCx, cloud, mark},
};

impl LunaLoadBalancer {
    /// Adds and removes members, then associates the floating IP: the writes of one reconcile.
    pub(super) async fn write(
        &self,
        status: &mut LunaLoadBalancerStatus,
        lb_id: &str,
        plan: &MemberPlan,
        associate: Option<&str>,
        cx: &CloudCx<'_, Self>,
    ) -> Result<Action, Error> {
        let region: &str = &self.spec.region;
        let client = cx.client();
        let mut done = Vec::new();
        let mut failure = None;
        // Adds first: a member that moves to a new address keeps serving meanwhile.
        for backend in &plan.add {
            tracing::info!(lb = lb_id, member = %backend, "adding member");
            match client
                .lb_member_add(region, lb_id, &backend.ip, backend.port)
                .await
            {
                Ok(_) => done.push(format!("added {backend}")),
                Err(error) => {
                    failure = Some(("add a member", error));
                    break;
                }
            }
        }
        if failure.is_none() {
            for member in &plan.remove {
                let port = member.port.map(|port| port.to_string()).unwrap_or_default();
                tracing::info!(lb = lb_id, member = %member.member_id, "removing member");
                match client
                    .lb_member_remove(region, lb_id, &member.member_id)
                    .await
                {
                    Ok(()) => done.push(format!(
                        "removed {}:{port} (member {})",
                        member.ip, member.member_id
                    )),
                    Err(error) if error.is_not_found() => {}
                    Err(error) => {
                        failure = Some(("remove a member", error));
                        break;
                    }
                }
            }
        }
        if !done.is_empty() {
            let note = format!("load balancer {lb_id}: {}", done.join(", "));
            cx.event(self, false, "MembersUpdated", "Update", note)
                .await;
        }
        if let (None, Some(address)) = (&failure, associate) {
            tracing::info!(lb = lb_id, "associating the floating IP");
            match client.lb_associate(region, lb_id, address).await {
                Ok(()) => {
                    status.applied_floating_ip = Some(address.to_owned());
                    let note = format!("associated {address} with load balancer {lb_id}");
                    cx.event(self, false, "FloatingIPAssociated", "Update", note)
                        .await;
                }
                Err(error) => failure = Some(("associate the floating IP", error)),
            }
        }
        match failure {
            None => {
                let message = format!("updating load balancer {lb_id}");
                mark(status, self).not_ready(Reason::Updating, &message);
                Ok(Action::requeue(Duration::from_millis(500)))
            }
            // Refused by the API: terminal until something changes (no retry loop).
            Some((action, error)) if error.is_refused() => {
                let message = format!("unable to {action}: {error}");
                mark(status, self)
                    .not_ready(Reason::UpdateFailed, &message)
                    .not_synced(Reason::UpdateFailed, &message);
                cx.warn(self, Reason::UpdateFailed, "Update", message).await;
                Ok(Action::await_change())
            }
            Some((action, error)) => Err(cloud(action, &cx.object, error)),
        }
    }
}
