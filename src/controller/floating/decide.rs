//! The LunaFloatingIP decision, as a pure function: from the attachment the spec asks for (its
//! reference resolved), the reverse DNS name it asks for, and the address as listed, the one
//! write that brings the address closer to the spec. One write per reconcile; the next
//! reconcile confirms it on a list made after it.

use crate::lunanode::types::FloatingIp;

/// One step towards the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Attached to another VM than the spec's: detach it (the address stays on the account).
    Detach {
        /// The VM it is attached to.
        from: String,
    },
    /// Not attached, and the spec names a VM: attach it.
    Attach {
        /// The VM to attach to.
        to: String,
    },
    /// The reverse DNS name differs from the spec's: set it.
    SetReverseDns {
        /// The name to set.
        name: String,
    },
    /// Nothing to write.
    Converged,
}

/// A reverse DNS name in the form to compare: lowercase, without the final dot.
pub fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The VM the address is attached to, if any.
pub fn attached(observed: &FloatingIp) -> Option<String> {
    observed
        .is_attached()
        .then(|| observed.attached_id.clone())
        .flatten()
}

/// The next step. `wanted_vm` is the VM the spec attaches the address to (`None`: the spec
/// asks for no attachment, and an existing one is left alone); `reverse_dns` the spec's name.
pub fn next_step(
    wanted_vm: Option<&str>,
    reverse_dns: Option<&str>,
    observed: &FloatingIp,
) -> Step {
    if let Some(wanted) = wanted_vm {
        match attached(observed) {
            Some(current) if current == wanted => {}
            Some(current) => return Step::Detach { from: current },
            None => {
                return Step::Attach {
                    to: wanted.to_owned(),
                };
            }
        }
    }
    if let Some(name) = reverse_dns {
        if normalize(&observed.hostname) != normalize(name) {
            return Step::SetReverseDns {
                name: name.to_owned(),
            };
        }
    }
    Step::Converged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(attached_to: Option<&str>, hostname: &str) -> FloatingIp {
        FloatingIp {
            id: "1".into(),
            ip: "203.0.113.5".into(),
            region: "toronto".into(),
            attached_id: attached_to.map(str::to_owned),
            attached_type: if attached_to.is_some() {
                "vm".into()
            } else {
                "unattached".into()
            },
            hostname: hostname.into(),
            ..FloatingIp::default()
        }
    }

    #[test]
    fn attaches_an_unattached_address() {
        assert_eq!(
            next_step(Some("vm-1"), None, &ip(None, "")),
            Step::Attach { to: "vm-1".into() }
        );
    }

    #[test]
    fn detaches_from_the_wrong_vm_first() {
        assert_eq!(
            next_step(Some("vm-1"), None, &ip(Some("vm-2"), "")),
            Step::Detach {
                from: "vm-2".into()
            }
        );
    }

    #[test]
    fn leaves_an_attachment_the_spec_does_not_name() {
        assert_eq!(
            next_step(None, None, &ip(Some("vm-2"), "")),
            Step::Converged
        );
    }

    #[test]
    fn sets_a_different_reverse_dns_name_once_attached() {
        assert_eq!(
            next_step(
                Some("vm-1"),
                Some("www.example.com"),
                &ip(Some("vm-1"), "old.example.com")
            ),
            Step::SetReverseDns {
                name: "www.example.com".into()
            }
        );
    }

    #[test]
    fn compares_reverse_dns_names_without_case_or_final_dot() {
        assert_eq!(
            next_step(None, Some("WWW.example.com."), &ip(None, "www.example.com")),
            Step::Converged
        );
    }

    #[test]
    fn attachment_comes_before_reverse_dns() {
        assert_eq!(
            next_step(Some("vm-1"), Some("www.example.com"), &ip(None, "")),
            Step::Attach { to: "vm-1".into() }
        );
    }
}
