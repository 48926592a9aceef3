//! The LunaSecurityGroup controller: create, adopt, rename and delete groups, and make each
//! group's rules exactly the manifest's, by difference, on every look: after a change of the
//! manifest, and every slow poll (a rule added in the panel is deleted and reported).

use super::{
    act::{self, Outcome},
    cloud::{self, ObservedGroup},
    decide,
};
use std::time::Duration;

use kube::Resource;

use crate::api::{
    common::ManagedStatus,
    securitygroup::{LunaSecurityGroup, SecurityGroupAtProvider, WireRule},
    vm::LunaVM,
};
use crate::controller::{prelude::*, vm::driver::security_group_refs};

/// The LunaSecurityGroups a group's rules name (`rules[].groupRef`).
fn rule_group_refs(group: &LunaSecurityGroup) -> Vec<String> {
    group
        .spec
        .rules
        .iter()
        .filter_map(|rule| {
            rule.group_ref
                .as_ref()
                .map(|reference| reference.name.clone())
        })
        .collect()
}

impl External for LunaSecurityGroup {
    type Observed = ObservedGroup;
    type Plan = ();

    const STANDING_FAILURES: &'static [Reason] = &[Reason::UpdateFailed];

    managed::found_by!(cloud::groups, name, name, in_region);

    managed::no_plan!();

    async fn create(&self, _plan: &(), client: &Client) -> Result<String, lunanode::Error> {
        client
            .securitygroup_create(&self.spec.region, &self.spec.name)
            .await
    }

    fn report(&self, status: &mut Self::Status, observed: &ObservedGroup) {
        let rules = status.at_provider.as_ref().and_then(|at| at.rules);
        status.at_provider = Some(SecurityGroupAtProvider {
            name: non_empty(&observed.name),
            region: non_empty(&observed.region),
            rules,
        });
    }

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        let uid = self.uid().unwrap_or_default();
        let region: &str = &self.spec.region;
        let id = observed.id.as_str();
        let poll = cx.ctx.accounts.timing().slow_interval;
        let generation = self.meta().generation;
        let refused_now = |status: &mut Self::Status, message: &str| {
            mark(status, self)
                .not_ready(Reason::UpdateFailed, message)
                .not_synced(Reason::UpdateFailed, message);
        };
        if observed.name != self.spec.name {
            match cx
                .client()
                .securitygroup_rename(region, id, &self.spec.name)
                .await
            {
                Ok(()) => {
                    self.cache(cx.account).wrote(&uid);
                    let note = format!("renamed security group {id} to {}", self.spec.name);
                    cx.event(self, false, "Renamed", "Update", note).await;
                }
                Err(error) if error.is_refused() => {
                    let message = format!("rename refused: {error}");
                    refused_now(status, &message);
                    return Ok(Action::requeue(poll));
                }
                Err(error) => return Err(cloud("rename security group", &cx.object, error)),
            }
        }

        // Woken by something else than a change of the group (a LunaVM naming it, say) within
        // a poll of finding it in order: nothing to look at.
        if let Some(left) = act::not_due(cx.account, &uid, generation, poll) {
            return Ok(Action::requeue(left));
        }
        let listed = cloud::rules(cx.client(), region, id)
            .await
            .map_err(|source| cloud("list rules", &cx.object, source))?;
        // A rule naming a LunaSecurityGroup waits for that group's ID (its own is known).
        let namespace = self.namespace().unwrap_or_default();
        let mut wanted: Vec<WireRule> = Vec::with_capacity(self.spec.rules.len());
        for rule in &self.spec.rules {
            let group = match &rule.group_ref {
                None => None,
                Some(reference) if reference.name == self.name_any() => Some(observed.id.clone()),
                Some(reference) => {
                    match managed::resolve::<LunaSecurityGroup>(cx.ctx, &namespace, &reference.name)
                    {
                        Reference::Ready { id, .. } => Some(id),
                        Reference::Waiting(message) | Reference::Missing(message) => {
                            mark(status, self).not_ready(Reason::WaitingForSecurityGroup, &message);
                            return Ok(Action::requeue(Duration::from_secs(30)));
                        }
                    }
                }
            };
            wanted.push(rule.wire(group.as_deref()));
        }
        let plan = decide::plan(&wanted, &listed, &act::recent(cx.account, &uid));
        if let Some(at) = status.at_provider.as_mut() {
            at.rules = i64::try_from(listed.len()).ok();
        }
        if plan.is_empty() {
            let message = format!(
                "security group {id} has exactly the {} rules of the manifest",
                wanted.len()
            );
            mark(status, self).ready(Reason::Available, &message);
            act::checked(cx.account, &uid, Some(generation));
            return Ok(Action::requeue(poll));
        }
        // A refusal of this generation's writes stands until the manifest changes.
        if managed::refused_at_generation(status, self, Reason::UpdateFailed) {
            return Ok(Action::requeue(poll));
        }
        // Rules deleted while the manifest is the one last reconciled were added outside it.
        let stored_generation = self.status.as_ref().and_then(|s| s.observed_generation());
        let drift = stored_generation.is_some() && stored_generation == generation;
        act::checked(cx.account, &uid, None);
        match act::apply(self, &uid, id, &plan, cx).await? {
            Outcome::Done => {
                let deleted: Vec<String> = plan
                    .delete
                    .iter()
                    .map(|(_, rule)| act::describe(rule))
                    .collect();
                let inserted: Vec<String> = plan.insert.iter().map(act::describe).collect();
                if drift && !deleted.is_empty() {
                    let note = format!(
                        "deleted {} rule(s) the manifest does not list: {}",
                        deleted.len(),
                        deleted.join("; ")
                    );
                    cx.event(self, true, "DriftUndone", "Update", note).await;
                }
                if !inserted.is_empty() || (!drift && !deleted.is_empty()) {
                    let note = format!(
                        "rules of {id}: inserted {}, deleted {}",
                        inserted.len(),
                        if drift { 0 } else { deleted.len() }
                    );
                    cx.event(self, false, "RulesUpdated", "Update", note).await;
                }
                let message = format!(
                    "wrote {} rule change(s) to security group {id}; confirming",
                    plan.delete.len() + plan.insert.len()
                );
                mark(status, self).not_ready(Reason::Updating, &message);
                Ok(Action::requeue(Duration::from_secs(1)))
            }
            Outcome::Refused(message) => {
                refused_now(status, &message);
                cx.warn(self, Reason::UpdateFailed, "Update", message).await;
                Ok(Action::requeue(poll))
            }
        }
    }

    async fn holders(&self, ctx: &Context) -> Result<Vec<String>, Error> {
        let namespace = self.namespace().unwrap_or_default();
        let name = self.name_any();
        let mut holders =
            managed::holders::<LunaVM>(ctx, &namespace, &name, security_group_refs).await?;
        // Other groups whose rules name this one (its own rules do not hold it).
        let others = managed::holders::<LunaSecurityGroup>(ctx, &namespace, &name, |group| {
            if group.name_any() == name {
                Vec::new()
            } else {
                rule_group_refs(group)
            }
        });
        holders.extend(others.await?);
        Ok(holders)
    }

    async fn delete(&self, observed: &ObservedGroup, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let result = cx
            .client()
            .securitygroup_delete(&self.spec.region, &observed.id)
            .await;
        act::forget(cx.account, &self.uid().unwrap_or_default());
        cx.deleted(
            self,
            "delete security group",
            result,
            format!("deleted security group {}", observed.id),
        )
        .await
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        // A LunaVM that lets go may release a group waiting to be deleted.
        controller
            .named_by::<LunaVM>(ctx, security_group_refs)
            // A group a rule names got its ID, or one whose rules named this one let go.
            .follows::<LunaSecurityGroup>(ctx, rule_group_refs)
            .named_by::<LunaSecurityGroup>(ctx, rule_group_refs)
    }
}
