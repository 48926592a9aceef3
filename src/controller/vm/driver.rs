//! The LunaVM controller, on the shared skeleton ([`crate::controller::managed`]): it is an [`External`]
//! kind like the others — identity, adoption, the crash-safe create, confirmation before a
//! re-create and the cleanup are the skeleton's. What is the VM's own lives here and beside it:
//! - the plan of a create: references resolved (`networkRef`, `floatingIPRef`) and the image
//!   name turned into an ID;
//! - observation through the account's shared `vm list` cache, completed with `vm info` only
//!   after the operator's own power, resize or reimage write (the list shows just the OpenStack
//!   state) — never a per-VM call in steady state;
//! - the update: the one next step from [`decide::next_step`] carried out by `act` (at most
//!   one cloud write per reconcile, with an Event), then the connection Secret;
//! - the deletion: detach the manifest's floating IP (Luna Node would release it with the VM),
//!   then `vm delete`.

use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;

use super::{
    act, cloud,
    decide::{self, ObservedVm, ResizeOutcome},
};
use crate::api::{
    floating::LunaFloatingIP,
    image::LunaImage,
    network::LunaNetwork,
    securitygroup::LunaSecurityGroup,
    sshkey::LunaSSHKey,
    startupscript::LunaStartupScript,
    vm::{AtProvider, LunaVM, LunaVMSpec, LunaVMStatus, Recreations, VmNetworking, VmResources},
    volume::LunaVolume,
};
use crate::controller::prelude::*;
use crate::controller::{
    cost::{BUDGET_RETRY, read_credit},
    list_cache::CacheTiming,
    managed::external::Read,
    managed::ownership::Identity,
};

/// The finalizer that guards the cloud VM.
pub const FINALIZER: &str = "lunavms.lunanode.com/cleanup";

/// Security group IDs as the VM's groups are compared: sorted, each once.
fn group_set(mut groups: Vec<String>) -> Vec<String> {
    groups.sort();
    groups.dedup();
    groups
}

/// The LunaSecurityGroups a LunaVM names (`securityGroupRefs`).
pub(crate) fn security_group_refs(vm: &LunaVM) -> Vec<String> {
    vm.spec
        .security_group_refs
        .iter()
        .map(|reference| reference.name.clone())
        .collect()
}

/// Which address of a LunaVM a reference follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VmIp {
    /// `status.atProvider.ip` (DNS records).
    Public,
    /// `status.atProvider.privateIp` (load-balancer members).
    Private,
}

/// The address of the LunaVM `namespace/name` from its controller's cache, or why there is
/// none yet (the reference's own wait message, or no such address reported).
pub(crate) fn vm_ip(
    ctx: &Context,
    namespace: &str,
    name: &str,
    which: VmIp,
) -> Result<String, String> {
    let (address, what): (fn(&VmNetworking) -> Option<String>, &str) = match which {
        VmIp::Public => (|at| at.ip.clone(), "public"),
        VmIp::Private => (|at| at.private_ip.clone(), "private"),
    };
    match managed::resolve::<LunaVM>(ctx, namespace, name) {
        Reference::Ready { object, .. } => object
            .status
            .as_ref()
            .and_then(|status| status.at_provider.as_ref())
            .and_then(|at| address(&at.networking))
            .filter(|ip| !ip.is_empty())
            .ok_or_else(|| format!("LunaVM {namespace}/{name} has no {what} IP yet")),
        Reference::Waiting(why) | Reference::Missing(why) => Err(why),
    }
}

/// The objects that hold VM `vm` by reference: its deletion waits for them to let go.
pub(super) async fn holders(vm: &LunaVM, ctx: &Context) -> Result<Vec<String>, Error> {
    let namespace = vm.namespace().unwrap_or_default();
    let name = vm.name_any();
    let mut holders = managed::holders::<LunaVolume>(
        ctx,
        &namespace,
        &name,
        crate::controller::volume::attached_vm,
    )
    .await?;
    holders.extend(
        managed::holders::<LunaFloatingIP>(
            ctx,
            &namespace,
            &name,
            crate::controller::floating::attached_vm,
        )
        .await?,
    );
    Ok(holders)
}

/// What a VM create needs: the spec with its references resolved, and the image's ID.
pub struct VmPlan {
    spec: LunaVMSpec,
    image_id: Option<String>,
}

impl External for LunaVM {
    type Observed = ObservedVm;
    type Plan = VmPlan;

    managed::found_by!(cloud::vms, hostname, hostname, ignore_case);

    /// The list is polled (fast while any VM is in transition): a reconcile acts on the last
    /// one, however many VMs there are.
    const ACTS_ON_THE_POLL: bool = true;

    /// A new VM shows in the list polled for VMs in transition; looking sooner would cost a
    /// `vm info` per create.
    fn after_create(timing: &CacheTiming) -> Duration {
        timing.fast_interval * 3
    }

    const STANDING_FAILURES: &'static [Reason] = &STANDING_FAILURES;

    async fn plan(&self, cx: &CloudCx<'_, Self>) -> Result<Result<VmPlan, Blocked>, Error> {
        let resolved = match with_references(self, &LunaVMStatus::default(), cx.ctx) {
            Ok(resolved) => resolved,
            Err(blocked) => return Ok(Err(blocked)),
        };
        let over = cloud::over_budget(self, &resolved.spec.plan, cx.account, cx.ctx)
            .await
            .map_err(|source| cloud("list plans", &cx.object, source))?;
        if let Some((price, exceeded)) = over {
            return Ok(Err(Blocked {
                retry: Some(BUDGET_RETRY),
                ..Blocked::new(Reason::BudgetExceeded, exceeded.message(price))
            }));
        }
        let image_id = match &resolved.spec.image {
            Some(image) => {
                match crate::controller::image::cloud::usable_image(
                    cx.account,
                    image,
                    &resolved.spec.region,
                )
                .await
                .map_err(|source| cloud("list images", &cx.object, source))?
                {
                    Ok(id) => Some(id),
                    Err(blocked) => return Ok(Err(blocked)),
                }
            }
            None => None,
        };
        Ok(Ok(VmPlan {
            spec: resolved.spec,
            image_id,
        }))
    }

    async fn create(&self, plan: &VmPlan, client: &Client) -> Result<String, lunanode::Error> {
        cloud::create(client, &plan.spec, plan.image_id.as_deref()).await
    }

    /// Adoption (no plan) takes the VM's current plan and image as what the manifest asks for;
    /// a later change of `spec.plan` resizes it.
    fn created(&self, status: &mut LunaVMStatus, plan: Option<&VmPlan>, _account: &Account) {
        status.applied_plan = Some(self.spec.plan.clone());
        status.applied_image = self.spec.image.clone();
        status.applied_floating_ip = match plan {
            Some(plan) => plan.spec.placement.floating_ip.clone(),
            None => self.spec.placement.floating_ip.clone(),
        };
        // An adopted VM is taken to be in the groups its spec names by ID; the groups of
        // `securityGroupRefs` are then added.
        let groups = match plan {
            Some(plan) => &plan.spec.security_groups,
            None => &self.spec.security_groups,
        };
        status.applied_security_groups = Some(group_set(groups.clone()));
    }

    async fn read(&self, id: &str, client: &Client) -> Result<Read<ObservedVm>, lunanode::Error> {
        match cloud::info(client, id).await {
            Ok(found) => Ok(Read::Found(found)),
            Err(error) if error.is_not_found() => Ok(Read::Gone),
            Err(error) => Err(error),
        }
    }

    /// The list shows only the OpenStack state: "active" while powering off or resizing. After
    /// its own power, resize or reimage write, the operator follows the VM with `vm info` (the
    /// task in progress); a build needs no such call, the list says `building`.
    async fn refine(
        &self,
        observed: ObservedVm,
        cx: &CloudCx<'_, Self>,
    ) -> Result<ObservedVm, Error> {
        let uid = self.uid().unwrap_or_default();
        let vms = &cloud::vms(cx.account);
        let needs_detail = vms.wants_detail(&uid)
            || (decide::power_state(&observed.status).is_none()
                && !decide::is_building(&observed.status)
                && !decide::is_error(&observed.status));
        if !needs_detail {
            return Ok(observed);
        }
        let read_at = Instant::now();
        let fresh = cloud::info(cx.client(), &observed.id)
            .await
            .map_err(|source| cloud("read vm", &cx.object, source))?;
        vms.record(&fresh.id, fresh.clone(), read_at);
        Ok(fresh)
    }

    fn is_being_deleted(&self, observed: &ObservedVm) -> bool {
        decide::is_deleting(observed)
    }

    fn forget_observed(&self, status: &mut LunaVMStatus) {
        status.at_provider = None;
    }

    fn report(&self, status: &mut LunaVMStatus, observed: &ObservedVm) {
        report_at_provider(self, status, observed);
    }

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        let ctx = cx.ctx;
        let resolved = match with_references(self, status, ctx) {
            Ok(resolved) => resolved,
            Err(blocked) => return Ok(blocked.apply(status, self)),
        };
        let vm = &resolved;
        let uid = vm.uid().unwrap_or_default();
        // A VM from before groups were followed: it is in the groups its spec named by ID.
        status
            .applied_security_groups
            .get_or_insert_with(|| group_set(self.spec.security_groups.clone()));
        let mut resolved = resolved;
        if let Err(error) = with_default_group(&mut resolved, status, observed, cx.account).await {
            return Err(cloud("read the security groups", &cx.object, error));
        }
        let vm = &resolved;
        let vms = &cloud::vms(cx.account);
        let now = Timestamp::now().as_second();
        status.build_started_at = decide::build_started(status.build_started_at, observed, now);
        let timeout = vm.spec.build_timeout();
        if let Some(failure) = decide::failure(observed, status.build_started_at, now, timeout) {
            return failed(vm, status, observed, failure, cx).await;
        }
        // An upsize over the budget is held: the other steps go on as if the plan were the one
        // applied, and the VM says why it is not on the plan asked for.
        let held = upsize_held(vm, status, cx).await?;
        let step = match &held {
            None => decide::next_step(&vm.spec, status, observed),
            Some(_) => {
                let mut on_applied_plan = vm.spec.clone();
                on_applied_plan.plan = status.applied_plan.clone().unwrap_or_default();
                decide::next_step(&on_applied_plan, status, observed)
            }
        };
        let steady = decide::is_ready(&step) && held.is_none();
        // A resize sent earlier is judged by the plan the VM shows: the API answers success
        // for resizes it does not do.
        let grace = ctx.accounts.timing().fast_interval * 3;
        let resize = decide::resize_outcome(
            status.resize.as_ref(),
            observed,
            steady,
            Timestamp::now().as_second(),
            i64::try_from(grace.as_secs()).unwrap_or(i64::MAX),
        );
        if resize == ResizeOutcome::Confirmed {
            status.applied_plan_id = status.resize.take().map(|request| request.plan_id);
        }
        let ready = steady && matches!(resize, ResizeOutcome::Nothing | ResizeOutcome::Confirmed);
        if ready || resize == ResizeOutcome::NotApplied {
            vms.want_detail(&uid, false);
        }
        if status.applied_plan_id.is_none() && ready {
            status.applied_plan_id = Some(observed.plan_id.clone());
        }
        if ready {
            status.recreations = None;
        }
        act::act(vm, status, cx.account, ctx, observed, &step).await?;
        report_observed(vm, status, observed, ready);
        if resize == ResizeOutcome::NotApplied {
            not_applied(vm, status, observed);
        }
        if let Some(message) = &held {
            mark(status, vm)
                .not_ready(Reason::BudgetExceeded, message)
                .not_synced(Reason::BudgetExceeded, message);
        }
        status.attached_volumes = attached_volumes(ctx, cx.account, vm, &observed.id);
        price(status, observed, cx).await;
        let own = status.at_provider.as_ref().and_then(|at| at.monthly_cost);
        low_credit(self, own, cx).await;
        if ready {
            act::write_connection_secret(vm, status, cx.account, ctx, observed).await?;
            Ok(Action::await_change())
        } else if resize == ResizeOutcome::NotApplied {
            // Not sent again until spec.plan changes (or the VM's plan does).
            Ok(Action::await_change())
        } else if held.is_some() && decide::is_ready(&step) {
            Ok(Action::requeue(BUDGET_RETRY))
        } else {
            Ok(Action::requeue(grace))
        }
    }

    async fn holders(&self, ctx: &Context) -> Result<Vec<String>, Error> {
        holders(self, ctx).await
    }

    fn monthly_cost(&self) -> Option<f64> {
        self.status.as_ref()?.at_provider.as_ref()?.monthly_cost
    }

    async fn delete(&self, observed: &ObservedVm, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let id = observed.id.as_str();
        // Deleting a VM releases its floating IPs from the account: detach the one the manifest
        // brought (`floatingIP`, or a LunaFloatingIP's by `floatingIPRef`) so that it stays.
        let applied = self
            .status
            .as_ref()
            .and_then(|status| status.applied_floating_ip.as_ref());
        if let Some(ip) = applied {
            match cx.client().vm_floatingip_delete(id, Some(ip), true).await {
                Ok(()) => {}
                // Refused: not attached (any more); the delete goes ahead.
                Err(error) if error.is_refused() => {
                    tracing::debug!(%error, "floating ip not detached before delete");
                }
                Err(error) => return Err(cloud("detach floating ip", &cx.object, error)),
            }
        }
        let result = cx.client().vm_delete(id).await;
        if result.is_ok() {
            // The list shows a VM being deleted as `active`: follow it with `vm info`, which
            // shows the task, so that the delete is not sent again while it runs.
            cloud::vms(cx.account).want_detail(&self.uid().unwrap_or_default(), true);
        }
        cx.deleted(self, "delete vm", result, format!("deleted vm {id}"))
            .await
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        controller
            // A referenced network or floating IP became ready.
            .follows_ref::<LunaNetwork>(ctx, |vm| vm.spec.placement.network_ref.as_ref())
            .follows_ref::<LunaFloatingIP>(ctx, |vm| vm.spec.placement.floating_ip_ref.as_ref())
            .follows_ref::<LunaImage>(ctx, |vm| vm.spec.image_ref.as_ref())
            .follows_ref::<LunaSSHKey>(ctx, |vm| vm.spec.ssh_key_ref.as_ref())
            .follows::<LunaSecurityGroup>(ctx, security_group_refs)
            .follows::<LunaStartupScript>(ctx, |vm: &LunaVM| {
                vm.spec
                    .startup_script_refs
                    .iter()
                    .map(|reference| reference.name.clone())
                    .collect()
            })
            // A volume or floating IP attached by reference changed (status.attachedVolumes),
            // or one that held a VM waiting to be deleted let go.
            .named_by::<LunaVolume>(ctx, crate::controller::volume::attached_vm)
            .named_by::<LunaFloatingIP>(ctx, crate::controller::floating::attached_vm)
    }
}

/// A failed VM (`ERROR`, or a build past its time): reported and left, or under `onError:
/// Recreate` deleted so that the skeleton, once the VM is confirmed gone, creates a new one.
/// Either way no per-VM read and no fast poll follow it: the shared list wakes the object if
/// the VM changes.
async fn failed(
    vm: &LunaVM,
    status: &mut LunaVMStatus,
    observed: &ObservedVm,
    failure: decide::Failure,
    cx: &CloudCx<'_, LunaVM>,
) -> Result<Action, Error> {
    let uid = vm.uid().unwrap_or_default();
    let vms = cloud::vms(cx.account);
    vms.want_detail(&uid, false);
    report_at_provider(vm, status, observed);
    let (reason, what) = match failure {
        decide::Failure::Error => (Reason::VMError, "is in ERROR on Luna Node".to_owned()),
        decide::Failure::BuildTimedOut { timeout } => (
            Reason::BuildTimedOut,
            format!("has been building for more than {timeout} s (spec.buildTimeoutSeconds)"),
        ),
    };
    let generation = vm.metadata.generation.unwrap_or_default();
    match decide::on_failure(vm.spec.on_error, status.recreations.as_ref(), generation) {
        decide::FailureStep::Report { exhausted } => {
            let advice = if exhausted {
                format!(
                    "onError: Recreate replaced {} failed VMs for this generation of the spec                      already; change the spec to try again, or delete the LunaVM",
                    decide::MAX_RECREATIONS
                )
            } else {
                "set spec.onError: Recreate to replace it, or delete the LunaVM (which                  deletes the VM)"
                    .to_owned()
            };
            let message = format!("vm {} {what}: {advice}", observed.id);
            if managed::stuck_anew(status, vm, reason, &message) {
                cx.warn(vm, reason, "Observe", message).await;
            }
            Ok(Action::await_change())
        }
        decide::FailureStep::Recreate { attempt } => {
            let message = format!(
                "vm {} {what}: deleting it to create a new one (onError: Recreate, {attempt} of {})",
                observed.id,
                decide::MAX_RECREATIONS
            );
            let why = managed::Replacement::Failed(Reason::ReplacingFailedVM);
            let action = managed::replace(vm, status, observed, cx, why, message).await?;
            status.recreations = Some(Recreations {
                generation,
                count: attempt,
            });
            status.build_started_at = None;
            Ok(action)
        }
    }
}

/// An empty list of security groups stands for the region's default group, on both sides: a VM
/// created without groups is in it. So a VM created without groups and then given some leaves
/// the default group once they are added (a default group that lets everything in would make
/// them moot), and one whose groups are all taken away goes back to it. Only read while one side
/// is empty and the other is not.
async fn with_default_group(
    vm: &mut LunaVM,
    status: &mut LunaVMStatus,
    observed: &ObservedVm,
    account: &Account,
) -> Result<(), lunanode::Error> {
    let wanted = &mut vm.spec.security_groups;
    let applied = status.applied_security_groups.get_or_insert_with(Vec::new);
    if wanted.is_empty() == applied.is_empty() {
        return Ok(());
    }
    let region = if observed.region.is_empty() {
        vm.spec.region.to_string()
    } else {
        observed.region.clone()
    };
    if let Some(default) = cloud::default_group(account, &region).await? {
        if wanted.is_empty() {
            wanted.push(default);
        } else {
            applied.push(default);
        }
    }
    Ok(())
}

/// The VM with its references resolved: `networkRef` becomes `netId` (needed only until the VM
/// exists: the network cannot change), `floatingIPRef` becomes `floatingIP`. A reference that
/// is not ready yet blocks with a condition; the watches of LunaNetwork and LunaFloatingIP wake
/// the VM when it is.
fn with_references(vm: &LunaVM, status: &LunaVMStatus, ctx: &Context) -> Result<LunaVM, Blocked> {
    let mut resolved = vm.clone();
    let namespace = vm.namespace().unwrap_or_default();
    if let (Some(reference), None) = (&vm.spec.placement.network_ref, &status.managed.id) {
        match managed::resolve::<LunaNetwork>(ctx, &namespace, &reference.name) {
            Reference::Ready { id, .. } => resolved.spec.placement.net_id = Some(id),
            Reference::Waiting(message) => {
                return Err(Blocked::waiting(Reason::WaitingForNetwork, message)
                    .retry(Duration::from_secs(60)));
            }
            Reference::Missing(message) => {
                return Err(Blocked::waiting(Reason::NetworkNotFound, message));
            }
        }
    }
    if let (Some(reference), None) = (&vm.spec.image_ref, &status.managed.id) {
        match managed::resolve::<LunaImage>(ctx, &namespace, &reference.name) {
            Reference::Ready { object, .. } if object.spec.region != vm.spec.region => {
                let message = format!(
                    "LunaImage {} is in region {}, the VM in {}: point spec.imageRef at an image of the VM's region (a LunaImage with source.imageRef replicates one)",
                    reference.name, object.spec.region, vm.spec.region
                );
                return Err(Blocked::new(Reason::ImageInOtherRegion, message));
            }
            // Ready: active, as the image list showed it. An ID the VM's own image read
            // could miss in a list older than the image would go to the API as it is.
            Reference::Ready { object, .. } if !managed::is_ready(object.as_ref()) => {
                let message = format!("LunaImage {} is not active yet", reference.name);
                return Err(Blocked::waiting(Reason::WaitingForImage, message));
            }
            Reference::Ready { id, .. } => resolved.spec.image = Some(id),
            Reference::Waiting(message) => {
                return Err(Blocked::waiting(Reason::WaitingForImage, message));
            }
            Reference::Missing(message) => {
                return Err(Blocked::waiting(Reason::LunaImageNotFound, message));
            }
        }
    }
    if let (Some(reference), None) = (&vm.spec.ssh_key_ref, &status.managed.id) {
        match managed::resolve::<LunaSSHKey>(ctx, &namespace, &reference.name) {
            Reference::Ready { id, .. } => resolved.spec.ssh_key_id = Some(id),
            Reference::Waiting(message) => {
                return Err(Blocked::waiting(Reason::WaitingForSSHKey, message));
            }
            Reference::Missing(message) => {
                return Err(Blocked::waiting(Reason::SSHKeyNotFound, message));
            }
        }
    }
    if status.managed.id.is_none() {
        for reference in &vm.spec.startup_script_refs {
            match managed::resolve::<LunaStartupScript>(ctx, &namespace, &reference.name) {
                Reference::Ready { id, .. } => resolved.spec.startup_scripts.push(id),
                Reference::Waiting(message) => {
                    return Err(Blocked::waiting(Reason::WaitingForStartupScript, message));
                }
                Reference::Missing(message) => {
                    return Err(Blocked::waiting(Reason::StartupScriptNotFound, message));
                }
            }
        }
    }
    for reference in &vm.spec.security_group_refs {
        match managed::resolve::<LunaSecurityGroup>(ctx, &namespace, &reference.name) {
            Reference::Ready { id, .. } => resolved.spec.security_groups.push(id),
            // A running VM keeps the groups it is in until every reference resolves.
            _ if status.managed.id.is_some() => {
                resolved.spec.security_groups = status
                    .applied_security_groups
                    .clone()
                    .unwrap_or_else(|| vm.spec.security_groups.clone());
                break;
            }
            Reference::Waiting(message) => {
                return Err(Blocked::waiting(Reason::WaitingForSecurityGroup, message));
            }
            Reference::Missing(message) => {
                return Err(Blocked::waiting(Reason::SecurityGroupNotFound, message));
            }
        }
    }
    resolved.spec.security_groups = group_set(std::mem::take(&mut resolved.spec.security_groups));
    if let Some(reference) = &vm.spec.placement.floating_ip_ref {
        let address = match managed::resolve::<LunaFloatingIP>(ctx, &namespace, &reference.name) {
            Reference::Ready { object, .. } => object
                .status
                .as_ref()
                .and_then(|status| status.address.clone())
                .ok_or_else(|| {
                    let message = format!("LunaFloatingIP {} has no address yet", reference.name);
                    (Reason::WaitingForFloatingIP, message)
                }),
            Reference::Waiting(message) => Err((Reason::WaitingForFloatingIP, message)),
            Reference::Missing(message) => Err((Reason::FloatingIPNotFound, message)),
        };
        match address {
            Ok(address) => resolved.spec.placement.floating_ip = Some(address),
            // A running VM keeps the address it has until the reference resolves again.
            Err(_) if status.managed.id.is_some() => {
                resolved.spec.placement.floating_ip = status.applied_floating_ip.clone();
            }
            // The LunaFloatingIP watch wakes the VM when the object appears or gets its address.
            Err((reason, message)) => {
                let blocked = Blocked::waiting(reason, message);
                return Err(if reason == Reason::FloatingIPNotFound {
                    blocked
                } else {
                    blocked.retry(Duration::from_secs(60))
                });
            }
        }
    }
    Ok(resolved)
}

/// The LunaVolumes of the namespace that the volume list shows attached to VM `id`: the cloud
/// attachment from the region's shared volume list (no call: the last list, which the volumes'
/// own reconciles keep fresh), named by the LunaVolumes holding those IDs. Reading the
/// LunaVolumes' status instead would race with their controller's cache.
fn attached_volumes(ctx: &Context, account: &Account, vm: &LunaVM, id: &str) -> Vec<String> {
    let Some(snapshot) =
        crate::controller::volume::cloud::volumes(account, &vm.spec.region).current()
    else {
        return Vec::new();
    };
    let mut names: Vec<String> = ctx
        .registry
        .objects::<LunaVolume>(&vm.namespace().unwrap_or_default())
        .iter()
        .filter(|volume| {
            volume
                .status_id()
                .and_then(|volume_id| snapshot.entries.get(volume_id))
                .is_some_and(|listed| listed.attached.as_deref() == Some(id))
        })
        .map(|volume| volume.name_any())
        .collect();
    names.sort();
    names
}

/// Why the resize `spec.plan` asks for is held back, when it is an upsize that the budget
/// refuses (see [`crate::controller::cost`]); `None` when there is no resize to hold. A plan
/// whose price, or the VM's current price, is unknown counts as an upsize.
async fn upsize_held(
    vm: &LunaVM,
    status: &LunaVMStatus,
    cx: &CloudCx<'_, LunaVM>,
) -> Result<Option<String>, Error> {
    let applied = status.applied_plan.as_deref();
    if !cx.ctx.budget.is_set() || applied.is_none_or(|applied| applied == vm.spec.plan) {
        return Ok(None);
    }
    let list_error = |source| cloud("list plans", &cx.object, source);
    let current = status.at_provider.as_ref().and_then(|at| at.monthly_cost);
    let wanted = cloud::plan(cx.account, &vm.spec.plan)
        .await
        .map_err(list_error)?
        .and_then(|plan| plan.monthly);
    if let (Some(current), Some(wanted)) = (current, wanted)
        && wanted <= current
    {
        return Ok(None);
    }
    let over = cloud::over_budget(vm, &vm.spec.plan, cx.account, cx.ctx)
        .await
        .map_err(list_error)?;
    Ok(over.map(|(price, exceeded)| exceeded.message(price)))
}

/// Fills in the name and monthly price of the VM's current plan (the account's plan cache, read
/// at most hourly). A failed read leaves them unknown for now: a price is never worth a failed
/// reconcile.
async fn price(status: &mut LunaVMStatus, observed: &ObservedVm, cx: &CloudCx<'_, LunaVM>) {
    let Some(at) = status.at_provider.as_mut() else {
        return;
    };
    if at.monthly_cost.is_some() || observed.plan_id.is_empty() {
        return;
    }
    match cloud::plan(cx.account, &observed.plan_id).await {
        Ok(Some(plan)) => {
            at.plan_name = Some(plan.name);
            at.monthly_cost = plan.monthly;
        }
        Ok(None) => {}
        Err(error) => tracing::debug!(%error, "plan prices unknown for now"),
    }
}

/// Reads the account's credit at most hourly (see [`crate::controller::cost::read_credit`]) and
/// warns on this VM when it covers fewer than `--min-credit-days` days.
/// `own` is what this VM costs as the reconcile has it (the cache may not show it yet).
async fn low_credit(vm: &LunaVM, own: Option<f64>, cx: &CloudCx<'_, LunaVM>) {
    let ctx = cx.ctx;
    let api_id = &cx.account.api_id;
    let uid = vm.uid();
    let monthly = || {
        let others: f64 = ctx
            .registry
            .waker::<LunaVM>()
            .map(|waker| waker.store.state())
            .unwrap_or_default()
            .iter()
            .filter(|other| other.uid() != uid)
            .filter(|other| Identity::of(&***other).account.as_ref() == Some(api_id))
            .filter_map(|other| Reconciler::monthly_cost(&**other))
            .sum();
        others + own.unwrap_or(0.0)
    };
    let min_days = ctx.config.min_credit_days;
    let low = read_credit(cx.account, &ctx.metrics, monthly, min_days).await;
    if let Some((credit, days)) = low {
        let note = format!(
            "the account's credit (${credit:.2}) covers about {days:.1} days of its managed VMs, under {min_days} days"
        );
        cx.event(vm, true, "LowCredit", "CheckCredit", note).await;
    }
}

fn report_at_provider(vm: &LunaVM, status: &mut LunaVMStatus, observed: &ObservedVm) {
    let previous_image = status.at_provider.as_ref().and_then(|at| at.image.clone());
    // The plan's name and price, looked up by the sync: kept while the VM keeps its plan.
    let (plan_name, monthly_cost) = status
        .at_provider
        .as_ref()
        .filter(|at| at.plan.as_deref() == Some(observed.plan_id.as_str()))
        .map_or((None, None), |at| (at.plan_name.clone(), at.monthly_cost));
    status.at_provider = Some(AtProvider {
        networking: VmNetworking {
            ip: non_empty(&observed.ip),
            private_ip: non_empty(&observed.private_ip),
            addresses: Vec::new(),
        },
        status: Some(cloud::status_word(&observed.status)),
        hostname: non_empty(&observed.hostname),
        region: non_empty(&observed.region),
        image: previous_image.or_else(|| vm.spec.image.clone()),
        plan: non_empty(&observed.plan_id),
        plan_name,
        monthly_cost,
        resources: VmResources {
            ram: observed.ram.and_then(|value| i64::try_from(value).ok()),
            vcpu: observed.vcpu.and_then(|value| i64::try_from(value).ok()),
            storage: observed.storage.and_then(|value| i64::try_from(value).ok()),
        },
    });
}

/// The Synced failures that stand until the manifest changes: a later reconcile of the same
/// generation keeps them.
const STANDING_FAILURES: [Reason; 6] = [
    Reason::UpdateFailed,
    Reason::ReimageNotAllowed,
    Reason::ResizeFailed,
    Reason::ResizeNotApplied,
    Reason::ImageNotFound,
    Reason::ImageFailed,
];

/// Says that the resize of `status.resize` did not take effect: `Ready` and `Synced` false with
/// `ResizeNotApplied`, the same message each time (no status churn while it stands).
fn not_applied(vm: &LunaVM, status: &mut LunaVMStatus, observed: &ObservedVm) {
    let Some(request) = &status.resize else {
        return;
    };
    let message = format!(
        "vm/resize to plan {} (ID {}) was answered with success, but vm {} stays on plan ID {}: \
         Luna Node does not resize a VM whose local storage would shrink, or one installed \
         from an ISO; change spec.plan to try another plan",
        vm.spec.plan, request.plan_id, observed.id, observed.plan_id
    );
    managed::stuck(status, vm, Reason::ResizeNotApplied, &message);
}

fn report_observed(vm: &LunaVM, status: &mut LunaVMStatus, observed: &ObservedVm, ready: bool) {
    report_at_provider(vm, status, observed);
    if ready {
        mark(status, vm).ready(Reason::Available, "the vm matches the manifest");
    } else {
        let message = format!(
            "vm {} is {}",
            observed.id,
            cloud::status_word(&observed.status)
        );
        mark(status, vm).not_ready(Reason::InProgress, &message);
    }
}
