//! The LunaVolume decision, as a pure function: from the size and attachment the spec asks for
//! and the volume as listed, the one write (or wait) that brings the volume closer to the
//! spec. One write per reconcile; the next reconcile confirms it on a list made after it.

use crate::lunanode::types::Volume;

/// One step towards the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// In transition (`creating`, `extending`, ...): wait for the list to show the end of it.
    Busy,
    /// Labelled otherwise than the spec: rename.
    Rename {
        /// The spec's label.
        to: String,
    },
    /// Smaller than the spec: extend (volumes only grow; a CEL rule rejects a smaller spec).
    Extend {
        /// The size to reach, in GB.
        size: u64,
    },
    /// The attachment waits for a referenced LunaVM (its condition is already set).
    Blocked,
    /// Attached elsewhere than the spec says (or attached with no `attachTo`): detach.
    Detach {
        /// The VM it is attached to.
        from: String,
    },
    /// To attach, but still in use after a detach or after its VM was deleted: wait.
    InUse,
    /// Detached, and the spec names a VM: attach.
    Attach {
        /// The VM to attach to.
        to: String,
    },
    /// Luna Node reports the volume failed (`error`, `error_extending`, ...): nothing can be
    /// done to it but a delete, which is the user's call.
    Failed,
    /// Nothing to write.
    Converged,
}

/// Whether a volume status is a transition.
pub fn is_busy(status: &str) -> bool {
    matches!(
        status,
        "creating" | "downloading" | "extending" | "attaching" | "detaching"
    )
}

/// Whether a volume status is a failure (Cinder's `error` and `error_*` states).
pub fn is_failed(status: &str) -> bool {
    status == "error" || status.starts_with("error_")
}

/// The next step. `wanted_vm`: `Some(None)` detached, `Some(Some(id))` attached to that VM,
/// `None` while a referenced LunaVM is not ready (the attachment is left as it is).
pub fn next_step(
    observed: &Volume,
    wanted_label: &str,
    wanted_size: u64,
    wanted_vm: Option<Option<&str>>,
) -> Step {
    if is_failed(&observed.status) {
        return Step::Failed;
    }
    if is_busy(&observed.status) {
        return Step::Busy;
    }
    if !observed.name.is_empty() && observed.name != wanted_label {
        return Step::Rename {
            to: wanted_label.to_owned(),
        };
    }
    if observed.size.is_some_and(|size| size < wanted_size) {
        return Step::Extend { size: wanted_size };
    }
    let Some(wanted) = wanted_vm else {
        return Step::Blocked;
    };
    match (&observed.attached, wanted) {
        (Some(current), wanted) if wanted != Some(current.as_str()) => Step::Detach {
            from: current.clone(),
        },
        (None, Some(_)) if observed.status != "available" => Step::InUse,
        (None, Some(vm)) => Step::Attach { to: vm.to_owned() },
        _ => Step::Converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: &str = "data";

    fn volume(status: &str, size: u64, attached: Option<&str>) -> Volume {
        Volume {
            id: "7".into(),
            name: LABEL.into(),
            status: status.into(),
            size: Some(size),
            attached: attached.map(str::to_owned),
            ..Volume::default()
        }
    }

    #[test]
    fn waits_while_in_transition() {
        assert_eq!(
            next_step(&volume("creating", 5, None), LABEL, 10, Some(None)),
            Step::Busy
        );
    }

    #[test]
    fn a_failed_volume_gets_no_write() {
        for status in ["error", "error_extending"] {
            assert_eq!(
                next_step(&volume(status, 5, None), LABEL, 10, Some(Some("vm-1"))),
                Step::Failed,
                "{status}"
            );
        }
        assert_eq!(
            next_step(&volume("available", 10, None), LABEL, 10, Some(None)),
            Step::Converged
        );
    }

    #[test]
    fn extends_before_anything_else() {
        assert_eq!(
            next_step(&volume("available", 5, None), LABEL, 10, None),
            Step::Extend { size: 10 }
        );
    }

    #[test]
    fn a_reference_not_ready_leaves_the_attachment() {
        assert_eq!(
            next_step(&volume("in-use", 10, Some("vm-2")), LABEL, 10, None),
            Step::Blocked
        );
    }

    #[test]
    fn detaches_from_the_wrong_vm_or_when_no_attachment_is_asked() {
        assert_eq!(
            next_step(
                &volume("in-use", 10, Some("vm-2")),
                LABEL,
                10,
                Some(Some("vm-1"))
            ),
            Step::Detach {
                from: "vm-2".into()
            }
        );
        assert_eq!(
            next_step(&volume("in-use", 10, Some("vm-2")), LABEL, 10, Some(None)),
            Step::Detach {
                from: "vm-2".into()
            }
        );
    }

    #[test]
    fn waits_for_available_before_attaching() {
        assert_eq!(
            next_step(&volume("in-use", 10, None), LABEL, 10, Some(Some("vm-1"))),
            Step::InUse
        );
        assert_eq!(
            next_step(
                &volume("available", 10, None),
                LABEL,
                10,
                Some(Some("vm-1"))
            ),
            Step::Attach { to: "vm-1".into() }
        );
    }

    #[test]
    fn converged_when_size_and_attachment_match() {
        assert_eq!(
            next_step(
                &volume("in-use", 10, Some("vm-1")),
                LABEL,
                10,
                Some(Some("vm-1"))
            ),
            Step::Converged
        );
        assert_eq!(
            next_step(&volume("available", 10, None), LABEL, 10, Some(None)),
            Step::Converged
        );
    }

    #[test]
    fn another_label_is_a_rename_once_the_volume_is_settled() {
        let mut renamed = volume("available", 10, None);
        renamed.name = "old".into();
        assert_eq!(
            next_step(&renamed, LABEL, 10, Some(None)),
            Step::Rename { to: LABEL.into() }
        );
        renamed.status = "creating".into();
        assert_eq!(next_step(&renamed, LABEL, 10, Some(None)), Step::Busy);
    }
}
