//! The VM lifecycle as pure functions: the phases, what each looks like on the wire
//! (`status`, `status_nohtml`, `status_raw`, `status_color`, `task_state`), which operation is
//! allowed in which phase, and when a timed phase ends.
//!
//! Timed phases store the simulated instant they end; [`advance`] is called whenever an
//! account is read, so a clock jump settles every transition at once.

use serde::Serialize;

use super::{
    call::ApiError,
    clock::{Millis, after},
    config::Timing,
    encode::html_escape,
};

/// Where a VM is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum Phase {
    /// First build after vm/create; the IP is not shown yet. A build that `fails` ends in
    /// [`Phase::Error`]; a stuck one has `until` at the end of time.
    Building { until: Millis, fails: bool },
    /// Rebuilt by vm/reimage; shown as `BUILD` too.
    Rebuilding { until: Millis },
    /// Running (`Online`).
    Active,
    /// vm/reboot in progress.
    Rebooting { until: Millis },
    /// vm/stop in progress (`Powering off`).
    PoweringOff { until: Millis },
    /// Stopped (`Offline`).
    Stopped,
    /// vm/shelve in progress.
    Shelving { until: Millis },
    /// Shelved (`shelved_offloaded`).
    Shelved,
    /// vm/unshelve in progress.
    Unshelving { until: Millis },
    /// vm/resize in progress; the plan changes when it ends.
    Resizing {
        until: Millis,
        plan_id: String,
        then_stopped: bool,
    },
    /// Booted into the rescue system (vm/rescue); vm/reboot or vm/start leaves it.
    Rescued,
    /// vm/delete accepted, the VM still listed until `until` (`vm_delete_seconds`): Nova keeps
    /// the instance `active` with the task `deleting`. A second vm/delete is accepted and
    /// changes nothing; every other operation is refused as busy.
    Deleting {
        until: Millis,
        /// When its volumes become `available` (they stay `in-use` a while after).
        volumes_free_at: Millis,
    },
    /// The build failed (Nova's `ERROR`): no power operation or resize works; vm/reimage
    /// rebuilds it, vm/delete deletes it.
    Error,
}

/// A side effect of a phase ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing beyond the phase change.
    Nothing,
    /// The first build finished: the VM gets its floating IP now.
    Built,
    /// A resize finished: the VM is on this plan now.
    Resized(String),
    /// A deletion finished: the VM is gone now; its volumes are free at this instant.
    Deleted(Millis),
}

/// The next phase if the current one has ended by `now`.
pub(crate) fn advance(phase: &Phase, now: Millis) -> Option<(Phase, Effect)> {
    let ended = |until: &Millis| now >= *until;
    match phase {
        Phase::Building { until, fails } if ended(until) => Some(if *fails {
            (Phase::Error, Effect::Nothing)
        } else {
            (Phase::Active, Effect::Built)
        }),
        Phase::Rebuilding { until } | Phase::Rebooting { until } | Phase::Unshelving { until }
            if ended(until) =>
        {
            Some((Phase::Active, Effect::Nothing))
        }
        Phase::PoweringOff { until } if ended(until) => Some((Phase::Stopped, Effect::Nothing)),
        Phase::Deleting {
            until,
            volumes_free_at,
        } if ended(until) => Some((Phase::Stopped, Effect::Deleted(*volumes_free_at))),
        Phase::Shelving { until } if ended(until) => Some((Phase::Shelved, Effect::Nothing)),
        Phase::Resizing {
            until,
            plan_id,
            then_stopped,
        } if ended(until) => {
            let next = if *then_stopped {
                Phase::Stopped
            } else {
                Phase::Active
            };
            Some((next, Effect::Resized(plan_id.clone())))
        }
        _ => None,
    }
}

/// How a phase is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatusView {
    /// `status_nohtml`, e.g. `Online`.
    pub text: &'static str,
    /// `status_raw` (the Nova VM state), e.g. `active`.
    pub raw: &'static str,
    /// `status_color`, e.g. `green`.
    pub color: &'static str,
    /// `task_state` (the Nova task), empty when idle.
    pub task: &'static str,
}

const fn view_of(
    text: &'static str,
    raw: &'static str,
    color: &'static str,
    task: &'static str,
) -> StatusView {
    StatusView {
        text,
        raw,
        color,
        task,
    }
}

/// The wire view of a phase.
pub(crate) fn view(phase: &Phase) -> StatusView {
    match phase {
        Phase::Building { .. } => view_of("BUILD", "building", "orange", "spawning"),
        Phase::Rebuilding { .. } => view_of("BUILD", "building", "orange", "rebuilding"),
        Phase::Active => view_of("Online", "active", "green", ""),
        Phase::Rebooting { .. } => view_of("Rebooting", "active", "orange", "rebooting"),
        Phase::PoweringOff { .. } => view_of("Powering off", "active", "orange", "powering-off"),
        Phase::Stopped => view_of("Offline", "stopped", "red", ""),
        Phase::Shelving { .. } => view_of("Shelving", "active", "orange", "shelving"),
        Phase::Shelved => view_of("Shelved", "shelved_offloaded", "gray", ""),
        Phase::Unshelving { .. } => {
            view_of("Unshelving", "shelved_offloaded", "orange", "spawning")
        }
        Phase::Resizing { .. } => view_of("Resizing", "active", "orange", "resize_migrating"),
        Phase::Rescued => view_of("Rescue", "rescued", "orange", ""),
        Phase::Error => view_of("ERROR", "error", "red", ""),
        Phase::Deleting { .. } => view_of("Deleting", "active", "orange", "deleting"),
    }
}

/// `info.status`: `<font color="green"><b>Online</b></font>`, HTML-escaped.
pub(crate) fn status_html(view: &StatusView) -> String {
    html_escape(&format!(
        r#"<font color="{}"><b>{}</b></font>"#,
        view.color, view.text
    ))
}

/// Whether a transition is in progress (most operations are refused then).
pub(crate) fn is_busy(phase: &Phase) -> bool {
    !matches!(
        phase,
        Phase::Active | Phase::Stopped | Phase::Shelved | Phase::Rescued | Phase::Error
    )
}

/// Whether a volume may be attached to a VM in `phase` (with `vm_attach_rules`): not while it
/// builds or is in another transition, is shelved, or is in `ERROR`.
pub(crate) fn attachable(phase: &Phase) -> Result<(), ApiError> {
    match phase {
        Phase::Shelved => Err(ApiError::new("the VM is shelved, unshelve it first")),
        Phase::Error => Err(in_error()),
        phase if is_busy(phase) => Err(busy()),
        _ => Ok(()),
    }
}

/// The error for an operation on a VM in [`Phase::Error`].
pub(crate) fn in_error() -> ApiError {
    ApiError::new("the VM is in an error state; rebuild or delete it")
}

/// The error for an operation attempted during a transition.
pub(crate) fn busy() -> ApiError {
    ApiError::new("the VM is busy with another operation, please try again later")
}

/// A power operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PowerOp {
    /// vm/start.
    Start,
    /// vm/stop.
    Stop,
    /// vm/reboot.
    Reboot,
    /// vm/shelve.
    Shelve,
    /// vm/unshelve.
    Unshelve,
    /// vm/rescue.
    Rescue,
}

/// The phase after a power operation; `Ok(None)` means it is a no-op (already there).
pub(crate) fn power(
    phase: &Phase,
    op: PowerOp,
    now: Millis,
    timing: &Timing,
) -> Result<Option<Phase>, ApiError> {
    if is_busy(phase) {
        return Err(busy());
    }
    if *phase == Phase::Error {
        return Err(in_error());
    }
    let next = match (op, phase) {
        (PowerOp::Start, Phase::Stopped | Phase::Rescued) => Some(Phase::Active),
        (PowerOp::Start, Phase::Shelved) | (PowerOp::Unshelve, Phase::Shelved) => {
            Some(Phase::Unshelving {
                until: after(now, timing.shelve),
            })
        }
        (PowerOp::Stop, Phase::Active | Phase::Rescued) => Some(Phase::PoweringOff {
            until: after(now, timing.power_off),
        }),
        (PowerOp::Reboot, Phase::Shelved) => {
            return Err(ApiError::new("the VM is shelved, unshelve it first"));
        }
        (PowerOp::Reboot, _) => Some(Phase::Rebooting {
            until: after(now, timing.reboot),
        }),
        (PowerOp::Shelve, Phase::Active | Phase::Stopped | Phase::Rescued) => {
            Some(Phase::Shelving {
                until: after(now, timing.shelve),
            })
        }
        (PowerOp::Rescue, Phase::Shelved) => {
            return Err(ApiError::new("the VM is shelved, unshelve it first"));
        }
        (PowerOp::Rescue, Phase::Active | Phase::Stopped) => Some(Phase::Rescued),
        _ => None,
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> Timing {
        Timing::default()
    }

    #[test]
    fn build_ends_after_the_build_time() {
        let phase = Phase::Building {
            until: 20_000,
            fails: false,
        };
        assert_eq!(advance(&phase, 19_999), None);
        assert_eq!(
            advance(&phase, 20_000),
            Some((Phase::Active, Effect::Built))
        );
        assert_eq!(view(&phase).text, "BUILD");
        assert_eq!(view(&Phase::Active).raw, "active");
    }

    #[test]
    fn stop_goes_through_powering_off() {
        let stopping = power(&Phase::Active, PowerOp::Stop, 0, &timing())
            .ok()
            .flatten();
        let Some(stopping) = stopping else {
            panic!("stop from Online must change the phase");
        };
        assert_eq!(view(&stopping).text, "Powering off");
        let (stopped, _) = advance(&stopping, 3_000).unwrap_or((Phase::Active, Effect::Nothing));
        assert_eq!(view(&stopped).text, "Offline");
        assert_eq!(power(&stopped, PowerOp::Stop, 0, &timing()), Ok(None));
        assert_eq!(
            power(&stopped, PowerOp::Start, 0, &timing()),
            Ok(Some(Phase::Active))
        );
    }

    #[test]
    fn busy_phases_refuse_operations() {
        let building = Phase::Building {
            until: 10,
            fails: false,
        };
        assert!(is_busy(&building));
        assert_eq!(power(&building, PowerOp::Stop, 0, &timing()), Err(busy()));
    }

    #[test]
    fn resize_applies_the_plan_and_keeps_power_state() {
        let phase = Phase::Resizing {
            until: 5,
            plan_id: "88".into(),
            then_stopped: true,
        };
        assert_eq!(
            advance(&phase, 5),
            Some((Phase::Stopped, Effect::Resized("88".into())))
        );
    }

    #[test]
    fn status_html_is_escaped() {
        assert_eq!(
            status_html(&view(&Phase::Active)),
            "&lt;font color=&quot;green&quot;&gt;&lt;b&gt;Online&lt;/b&gt;&lt;/font&gt;"
        );
    }
}
