//! The LunaVM decision logic, as pure functions: from the spec, the status and the observed VM,
//! what single step brings the cloud closer to the manifest. One cloud write per reconcile keeps
//! every step observable (an Event each) and crash-safe; the list cache wakes the object again
//! when the step has taken effect.

use crate::api::vm::{LunaVMSpec, LunaVMStatus, OnError, PowerState, Recreations, ResizeRequest};

/// What a VM in `vm list` looks like to the controller: only the fields it uses, so that a
/// large account costs little memory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedVm {
    /// The VM ID.
    pub id: String,
    /// The hostname (`name` in the list).
    pub hostname: String,
    /// The plan ID.
    pub plan_id: String,
    /// The region slug.
    pub region: String,
    /// The primary public IP (empty while the VM builds).
    pub ip: String,
    /// The private IP.
    pub private_ip: String,
    /// The status: the list's OpenStack state (`active`, `building`, `stopped`), or the
    /// friendly text of `vm info` (`Online`, `BUILD`, `Powering off`) for a VM in transition.
    pub status: String,
    /// The task in progress (`vm info` only; empty when idle or unknown).
    pub task: String,
    /// RAM in MB.
    pub ram: Option<u64>,
    /// vCPUs.
    pub vcpu: Option<u64>,
    /// Local storage in GB.
    pub storage: Option<u64>,
}

/// The power state a status string means, or `None` while the VM is in transition.
pub fn power_state(status: &str) -> Option<PowerState> {
    match status.trim().to_ascii_lowercase().as_str() {
        "active" | "online" | "running" => Some(PowerState::Running),
        "stopped" | "offline" | "shutoff" => Some(PowerState::Stopped),
        "shelved" | "shelved_offloaded" => Some(PowerState::Shelved),
        _ => None,
    }
}

/// Whether a status string means the VM is being built (or rebuilt): the list shows that
/// itself, so no per-VM read is needed to follow it.
pub fn is_building(status: &str) -> bool {
    matches!(
        status.trim().to_ascii_lowercase().as_str(),
        "build" | "building"
    )
}

/// One step towards the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Change the plan.
    Resize {
        /// The plan code or ID to send.
        plan: String,
    },
    /// Reinstall from another image (only when `allowReimage`).
    Reimage {
        /// The image ID or name from the spec.
        image: String,
    },
    /// The image differs but reimaging is not allowed: report, do nothing.
    ReimageNotAllowed,
    /// Rename the VM.
    Rename {
        /// The new hostname.
        hostname: String,
    },
    /// Power on.
    Start,
    /// Power off.
    Stop,
    /// Shelve.
    Shelve,
    /// Unshelve.
    Unshelve,
    /// Attach this floating IP.
    AttachFloatingIp {
        /// The address.
        ip: String,
    },
    /// Detach this floating IP (it stays on the account).
    DetachFloatingIp {
        /// The address.
        ip: String,
    },
    /// Put the VM in this security group.
    AddSecurityGroup {
        /// The group's ID.
        id: String,
    },
    /// Take the VM out of this security group.
    RemoveSecurityGroup {
        /// The group's ID.
        id: String,
    },
    /// Give the VM this private address too (`vm ip-add`).
    AddPrivateIp {
        /// The address.
        ip: String,
    },
    /// Take this private address, one the operator added, off the VM (`vm ip-delete`).
    RemovePrivateIp {
        /// The address.
        ip: String,
    },
    /// Forget this address the operator did not add, taken out of the spec (no call).
    ForgetPrivateIp {
        /// The address.
        ip: String,
    },
    /// The VM is in transition: wait for the list cache to report the next state.
    Wait,
    /// Nothing to do: the VM matches the manifest.
    Converged,
}

/// Decides the next step for an existing VM.
pub fn next_step(spec: &LunaVMSpec, status: &LunaVMStatus, observed: &ObservedVm) -> Step {
    if !observed.task.is_empty() {
        return Step::Wait;
    }
    let current = power_state(&observed.status);
    let Some(current) = current else {
        return Step::Wait;
    };
    // A shelved VM cannot be resized or reimaged: bring it back first if anything needs it.
    if current == PowerState::Shelved && spec.power_state != PowerState::Shelved {
        return Step::Unshelve;
    }
    if status.applied_plan.as_deref() != Some(spec.plan.as_str())
        || plan_drifted(spec, status, observed)
    {
        return Step::Resize {
            plan: spec.plan.clone(),
        };
    }
    if let Some(image) = &spec.image {
        if status
            .applied_image
            .as_deref()
            .is_some_and(|applied| applied != image)
        {
            return if spec.allow_reimage {
                Step::Reimage {
                    image: image.clone(),
                }
            } else {
                Step::ReimageNotAllowed
            };
        }
    }
    if !spec.hostname.eq_ignore_ascii_case(&observed.hostname) && !observed.hostname.is_empty() {
        return Step::Rename {
            hostname: spec.hostname.clone(),
        };
    }
    match (&spec.placement.floating_ip, &status.applied_floating_ip) {
        (Some(wanted), _) if !observed.ip.is_empty() && &observed.ip != wanted => {
            return Step::AttachFloatingIp { ip: wanted.clone() };
        }
        (None, Some(applied)) if &observed.ip == applied => {
            return Step::DetachFloatingIp {
                ip: applied.clone(),
            };
        }
        _ => {}
    }
    // Security groups: one add or remove per reconcile, against what was applied.
    let applied = status
        .applied_security_groups
        .as_deref()
        .unwrap_or_default();
    if let Some(id) = spec.security_groups.iter().find(|id| !applied.contains(id)) {
        return Step::AddSecurityGroup { id: id.clone() };
    }
    if let Some(id) = applied.iter().find(|id| !spec.security_groups.contains(id)) {
        return Step::RemoveSecurityGroup { id: id.clone() };
    }
    // Additional private addresses: the same, against those the operator added.
    let added = status
        .applied_additional_private_ips
        .as_deref()
        .unwrap_or_default();
    let unowned = status
        .unowned_additional_private_ips
        .as_deref()
        .unwrap_or_default();
    let wanted = &spec.additional_private_ips;
    if let Some(ip) = wanted
        .iter()
        .find(|ip| !added.contains(ip) && !unowned.contains(ip))
    {
        return Step::AddPrivateIp { ip: ip.clone() };
    }
    if let Some(ip) = added.iter().find(|ip| !wanted.contains(ip)) {
        return Step::RemovePrivateIp { ip: ip.clone() };
    }
    if let Some(ip) = unowned.iter().find(|ip| !wanted.contains(ip)) {
        return Step::ForgetPrivateIp { ip: ip.clone() };
    }
    match (spec.power_state, current) {
        (PowerState::Running, PowerState::Stopped) => Step::Start,
        (PowerState::Stopped, PowerState::Running) => Step::Stop,
        (PowerState::Shelved, PowerState::Running | PowerState::Stopped) => Step::Shelve,
        _ => Step::Converged,
    }
}

/// The plan was changed outside the operator: the observed plan ID moved away from the one seen
/// right after the operator's own create or resize.
fn plan_drifted(_spec: &LunaVMSpec, status: &LunaVMStatus, observed: &ObservedVm) -> bool {
    status
        .applied_plan_id
        .as_deref()
        .is_some_and(|id| !observed.plan_id.is_empty() && id != observed.plan_id)
}

/// What the plan a VM shows says of a resize that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeOutcome {
    /// No resize waits for confirmation.
    Nothing,
    /// Not known yet: the VM is busy, or the resize may not show yet.
    Pending,
    /// The VM shows the plan asked for.
    Confirmed,
    /// The VM is steady on another plan after the grace time: the resize did not take effect
    /// (Luna Node answers success for resizes it does not do).
    NotApplied,
}

/// Judges the resize `request` by the VM as observed: `steady` when nothing is left to do or
/// in progress, `now` in seconds since the Unix epoch, `grace` the seconds a resize is given
/// to show in the VM's state before the old plan means "not applied".
pub fn resize_outcome(
    request: Option<&ResizeRequest>,
    observed: &ObservedVm,
    steady: bool,
    now: i64,
    grace: i64,
) -> ResizeOutcome {
    let Some(request) = request else {
        return ResizeOutcome::Nothing;
    };
    if observed.plan_id == request.plan_id {
        ResizeOutcome::Confirmed
    } else if steady && now.saturating_sub(request.requested_at) >= grace {
        ResizeOutcome::NotApplied
    } else {
        ResizeOutcome::Pending
    }
}

/// Whether the VM is being deleted: `vm info` shows the task `deleting` (the list still shows
/// it `active`).
pub fn is_deleting(observed: &ObservedVm) -> bool {
    observed.task.trim().eq_ignore_ascii_case("deleting")
        || observed.status.trim().eq_ignore_ascii_case("deleting")
}

/// Whether a status string means the build failed (Nova's `ERROR`).
pub fn is_error(status: &str) -> bool {
    status.trim().eq_ignore_ascii_case("error")
}

/// When the VM was first seen building, as it is to be recorded now (`previous` as recorded,
/// `now` in seconds since the Unix epoch): kept while it builds, set at the first look,
/// cleared once it has left `BUILD`.
pub fn build_started(previous: Option<i64>, observed: &ObservedVm, now: i64) -> Option<i64> {
    is_building(&observed.status).then(|| previous.unwrap_or(now))
}

/// How a VM failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Luna Node reports it in `ERROR`.
    Error,
    /// Still in `BUILD` `timeout` seconds after the operator first saw it build.
    BuildTimedOut {
        /// The limit, `spec.buildTimeoutSeconds`.
        timeout: i64,
    },
}

/// Whether the observed VM failed: in `ERROR`, or building since `build_started_at` for
/// `timeout` seconds or more by `now`.
pub fn failure(
    observed: &ObservedVm,
    build_started_at: Option<i64>,
    now: i64,
    timeout: i64,
) -> Option<Failure> {
    if is_error(&observed.status) {
        return Some(Failure::Error);
    }
    let started = build_started_at.filter(|_| is_building(&observed.status))?;
    (now.saturating_sub(started) >= timeout).then_some(Failure::BuildTimedOut { timeout })
}

/// How many failed VMs `onError: Recreate` replaces for one generation of the spec.
pub const MAX_RECREATIONS: i64 = 3;

/// What to do about a failed VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureStep {
    /// Report it and leave it (`onError: Report`, or the recreations of this generation are
    /// used up: `exhausted`).
    Report {
        /// `onError: Recreate` replaced [`MAX_RECREATIONS`] VMs for this generation already.
        exhausted: bool,
    },
    /// Delete it to create a new one: replacement number `attempt` of this generation.
    Recreate {
        /// 1 for the first replacement.
        attempt: i64,
    },
}

/// Decides what to do about a failed VM under `policy`, given the replacements already made
/// (`done`) and the spec's `generation`.
pub fn on_failure(policy: OnError, done: Option<&Recreations>, generation: i64) -> FailureStep {
    if policy == OnError::Report {
        return FailureStep::Report { exhausted: false };
    }
    let count = done
        .filter(|done| done.generation == generation)
        .map_or(0, |done| done.count);
    if count < MAX_RECREATIONS {
        FailureStep::Recreate { attempt: count + 1 }
    } else {
        FailureStep::Report { exhausted: true }
    }
}

/// Whether the VM is in a state that the manifest asks for, with nothing left to do.
pub fn is_ready(step: &Step) -> bool {
    matches!(step, Step::Converged | Step::ReimageNotAllowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::vm::PowerState;

    fn spec() -> LunaVMSpec {
        LunaVMSpec::new("web-1", "m.2", "Ubuntu 22.04 64-bit (template)")
    }

    fn applied() -> LunaVMStatus {
        LunaVMStatus {
            applied_plan: Some("m.2".into()),
            applied_plan_id: Some("87".into()),
            applied_image: Some("Ubuntu 22.04 64-bit (template)".into()),
            ..LunaVMStatus::default()
        }
    }

    fn online() -> ObservedVm {
        ObservedVm {
            id: "vm-1".into(),
            hostname: "web-1".into(),
            plan_id: "87".into(),
            ip: "203.0.113.2".into(),
            status: "active".into(),
            ..ObservedVm::default()
        }
    }

    #[test]
    fn additional_private_addresses_follow_the_spec_and_only_added_ones_go() {
        let observed = online();
        let mut spec = spec();
        spec.additional_private_ips = vec!["10.10.0.50".into(), "10.10.0.51".into()];
        let mut status = LunaVMStatus {
            applied_additional_private_ips: Some(vec!["10.10.0.50".into(), "10.10.0.60".into()]),
            ..applied()
        };
        assert_eq!(
            next_step(&spec, &status, &observed),
            Step::AddPrivateIp {
                ip: "10.10.0.51".into()
            }
        );
        status.applied_additional_private_ips = Some(vec![
            "10.10.0.50".into(),
            "10.10.0.51".into(),
            "10.10.0.60".into(),
        ]);
        assert_eq!(
            next_step(&spec, &status, &observed),
            Step::RemovePrivateIp {
                ip: "10.10.0.60".into()
            }
        );
        status.applied_additional_private_ips =
            Some(vec!["10.10.0.50".into(), "10.10.0.51".into()]);
        assert_eq!(next_step(&spec, &status, &observed), Step::Converged);
        // One the VM had already counts as there, and is only forgotten when it goes from the
        // spec: never removed.
        spec.additional_private_ips.push("10.10.0.9".into());
        status.unowned_additional_private_ips = Some(vec!["10.10.0.9".into()]);
        assert_eq!(next_step(&spec, &status, &observed), Step::Converged);
        spec.additional_private_ips.pop();
        assert_eq!(
            next_step(&spec, &status, &observed),
            Step::ForgetPrivateIp {
                ip: "10.10.0.9".into()
            }
        );
    }

    #[test]
    fn security_groups_follow_the_spec_one_call_at_a_time() {
        let observed = ObservedVm {
            status: "active".into(),
            hostname: "web".into(),
            ..ObservedVm::default()
        };
        let mut spec = LunaVMSpec::new("web", "m.2", "1001");
        spec.security_groups = vec!["7".into(), "8".into()];
        let mut status = LunaVMStatus {
            applied_plan: Some("m.2".into()),
            applied_image: Some("1001".into()),
            applied_security_groups: Some(vec!["7".into(), "9".into()]),
            ..LunaVMStatus::default()
        };
        assert_eq!(
            next_step(&spec, &status, &observed),
            Step::AddSecurityGroup { id: "8".into() }
        );
        status.applied_security_groups = Some(vec!["7".into(), "8".into(), "9".into()]);
        assert_eq!(
            next_step(&spec, &status, &observed),
            Step::RemoveSecurityGroup { id: "9".into() }
        );
        status.applied_security_groups = Some(vec!["7".into(), "8".into()]);
        assert_eq!(next_step(&spec, &status, &observed), Step::Converged);
    }

    #[test]
    fn a_vm_in_error_or_building_past_its_time_failed() {
        let with = |status: &str| ObservedVm {
            status: status.into(),
            ..online()
        };
        for status in ["ERROR", "error", " Error "] {
            assert_eq!(failure(&with(status), None, 0, 60), Some(Failure::Error));
        }
        // The build clock starts at the first look and stops once the VM leaves BUILD.
        let building = with("building");
        assert_eq!(build_started(None, &building, 100), Some(100));
        assert_eq!(build_started(Some(40), &with("BUILD"), 100), Some(40));
        assert_eq!(build_started(Some(40), &online(), 100), None);
        assert_eq!(failure(&building, Some(100), 159, 60), None);
        assert_eq!(
            failure(&building, Some(100), 160, 60),
            Some(Failure::BuildTimedOut { timeout: 60 })
        );
        // A VM that left BUILD is judged by its state, not by an old clock.
        assert_eq!(failure(&online(), Some(100), 10_000, 60), None);
        assert_eq!(failure(&with("stopped"), Some(100), 10_000, 60), None);
        assert_eq!(failure(&building, None, 10_000, 60), None);
    }

    #[test]
    fn a_vm_being_deleted_is_told_by_its_task() {
        let with = |status: &str, task: &str| ObservedVm {
            status: status.into(),
            task: task.into(),
            ..online()
        };
        assert!(is_deleting(&with("Deleting", "deleting")));
        // The list shows it active: only the task (vm info) tells.
        assert!(is_deleting(&with("active", "deleting")));
        assert!(!is_deleting(&with("active", "")));
        assert!(!is_deleting(&with("Online", "powering-off")));
    }

    #[test]
    fn recreate_replaces_three_failed_vms_per_generation_then_reports() {
        assert_eq!(
            on_failure(OnError::Report, None, 1),
            FailureStep::Report { exhausted: false }
        );
        let done = |generation, count| Recreations { generation, count };
        assert_eq!(
            on_failure(OnError::Recreate, None, 1),
            FailureStep::Recreate { attempt: 1 }
        );
        assert_eq!(
            on_failure(OnError::Recreate, Some(&done(1, 2)), 1),
            FailureStep::Recreate { attempt: 3 }
        );
        assert_eq!(
            on_failure(OnError::Recreate, Some(&done(1, MAX_RECREATIONS)), 1),
            FailureStep::Report { exhausted: true }
        );
        // A new generation of the spec starts over.
        assert_eq!(
            on_failure(OnError::Recreate, Some(&done(1, MAX_RECREATIONS)), 2),
            FailureStep::Recreate { attempt: 1 }
        );
    }

    #[test]
    fn a_matching_vm_is_converged() {
        assert_eq!(next_step(&spec(), &applied(), &online()), Step::Converged);
    }

    #[test]
    fn a_build_is_told_by_the_list() {
        assert!(is_building("BUILD"));
        assert!(is_building("building"));
        assert!(!is_building("active"));
        assert!(!is_building("Powering off"));
    }

    #[test]
    fn transitions_wait() {
        let mut building = online();
        building.status = "BUILD".into();
        assert_eq!(next_step(&spec(), &applied(), &building), Step::Wait);
        let mut stopping = online();
        stopping.task = "powering-off".into();
        assert_eq!(next_step(&spec(), &applied(), &stopping), Step::Wait);
    }

    #[test]
    fn plan_change_and_plan_drift_resize() {
        let mut wanted = spec();
        wanted.plan = "m.4".into();
        assert_eq!(
            next_step(&wanted, &applied(), &online()),
            Step::Resize { plan: "m.4".into() }
        );
        let mut drifted = online();
        drifted.plan_id = "90".into();
        assert_eq!(
            next_step(&spec(), &applied(), &drifted),
            Step::Resize { plan: "m.2".into() }
        );
    }

    #[test]
    fn image_change_needs_allow_reimage() {
        let mut wanted = spec();
        wanted.image = Some("Debian 12 64-bit (template)".into());
        assert_eq!(
            next_step(&wanted, &applied(), &online()),
            Step::ReimageNotAllowed
        );
        wanted.allow_reimage = true;
        assert_eq!(
            next_step(&wanted, &applied(), &online()),
            Step::Reimage {
                image: "Debian 12 64-bit (template)".into()
            }
        );
    }

    #[test]
    fn power_states_follow_the_spec() {
        let mut wanted = spec();
        wanted.power_state = PowerState::Stopped;
        assert_eq!(next_step(&wanted, &applied(), &online()), Step::Stop);
        let mut stopped = online();
        stopped.status = "Offline".into();
        assert_eq!(next_step(&wanted, &applied(), &stopped), Step::Converged);
        assert_eq!(next_step(&spec(), &applied(), &stopped), Step::Start);
        wanted.power_state = PowerState::Shelved;
        assert_eq!(next_step(&wanted, &applied(), &online()), Step::Shelve);
        let mut shelved = online();
        shelved.status = "shelved_offloaded".into();
        assert_eq!(next_step(&spec(), &applied(), &shelved), Step::Unshelve);
    }

    #[test]
    fn a_resize_is_confirmed_by_the_plan_the_vm_shows() {
        let request = ResizeRequest {
            plan_id: "88".into(),
            from_plan_id: "87".into(),
            requested_at: 100,
        };
        let on = |plan: &str| ObservedVm {
            plan_id: plan.into(),
            ..online()
        };
        let judge = |observed: &ObservedVm, steady: bool, now: i64| {
            resize_outcome(Some(&request), observed, steady, now, 15)
        };
        assert_eq!(
            resize_outcome(None, &on("87"), true, 500, 15),
            ResizeOutcome::Nothing
        );
        assert_eq!(judge(&on("88"), false, 101), ResizeOutcome::Confirmed);
        assert_eq!(judge(&on("87"), false, 500), ResizeOutcome::Pending, "busy");
        assert_eq!(
            judge(&on("87"), true, 110),
            ResizeOutcome::Pending,
            "in the grace time"
        );
        assert_eq!(judge(&on("87"), true, 115), ResizeOutcome::NotApplied);
        assert_eq!(
            judge(&on("89"), true, 115),
            ResizeOutcome::NotApplied,
            "another plan"
        );
    }

    #[test]
    fn floating_ip_attach_and_detach() {
        let mut wanted = spec();
        wanted.placement.floating_ip = Some("198.51.100.7".into());
        assert_eq!(
            next_step(&wanted, &applied(), &online()),
            Step::AttachFloatingIp {
                ip: "198.51.100.7".into()
            }
        );
        let mut status = applied();
        status.applied_floating_ip = Some("203.0.113.2".into());
        assert_eq!(
            next_step(&spec(), &status, &online()),
            Step::DetachFloatingIp {
                ip: "203.0.113.2".into()
            }
        );
    }

    #[test]
    fn rename_follows_the_hostname() {
        let mut wanted = spec();
        wanted.hostname = "web-2".into();
        assert_eq!(
            next_step(&wanted, &applied(), &online()),
            Step::Rename {
                hostname: "web-2".into()
            }
        );
    }
}
