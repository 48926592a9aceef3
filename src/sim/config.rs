//! How a simulator is set up: accounts, lifecycle durations, nonce rules, initial faults, seed.

use std::{fmt, time::Duration};

use super::faults::Faults;

/// Everything a [`Simulator`](super::Simulator) is created from.
#[derive(Clone)]
pub struct SimConfig {
    /// Accounts as `(api_id, api_key)` pairs. Each account has its own, fully isolated state.
    /// The real service uses 16-character IDs and 128-character keys; the simulator accepts
    /// any length (`api_partialkey` is the first 64 characters, or the whole key if shorter).
    pub accounts: Vec<(String, String)>,
    /// How long each lifecycle transition takes on the simulated clock.
    pub timing: Timing,
    /// How far a nonce may be from the real wall clock, either way (default 300 s).
    pub nonce_window: Duration,
    /// Reject a request whose `(nonce, signature)` pair was already accepted within the
    /// window, i.e. an exact replay (default off: the real service seems to accept repeated
    /// nonces, and clients send several calls within one second).
    pub reject_replays: bool,
    /// Faults in effect from the start; replaced at run time through `POST /_sim/faults`.
    pub faults: Faults,
    /// Seed for everything random (IDs, passwords, fault rolls); `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl SimConfig {
    /// Adds an account.
    pub fn with_account(mut self, api_id: impl Into<String>, api_key: impl Into<String>) -> Self {
        self.accounts.push((api_id.into(), api_key.into()));
        self
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            accounts: Vec::new(),
            timing: Timing::default(),
            nonce_window: Duration::from_secs(300),
            reject_replays: false,
            faults: Faults::default(),
            seed: None,
        }
    }
}

impl fmt::Debug for SimConfig {
    // The keys are secrets: only the IDs are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.accounts.iter().map(|(id, _)| id.as_str()).collect();
        crate::lunanode::debug_fields!(f, self, "SimConfig" {
            accounts: ids, timing, nonce_window, reject_replays, faults, seed,
        })
    }
}

/// Durations of the lifecycle transitions, on the simulated clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// `BUILD` → `Online` after vm/create, and again after vm/reimage (default 20 s).
    pub build: Duration,
    /// `Powering off` → `Offline` after vm/stop (default 3 s).
    pub power_off: Duration,
    /// `Rebooting` → `Online` after vm/reboot (default 5 s).
    pub reboot: Duration,
    /// `Shelving` → `Shelved` and `Unshelving` → `Online` (default 5 s each).
    pub shelve: Duration,
    /// `Resizing` → the new plan after vm/resize (default 10 s).
    pub resize: Duration,
    /// Volume `creating` (or `downloading`) → `available`; volume snapshot `creating` →
    /// `available` (default 5 s).
    pub volume_create: Duration,
    /// How long a volume stays `in-use` after the VM it was attached to is deleted
    /// (default 10 s).
    pub volume_release: Duration,
    /// Image `queued` → `saving` (default 3 s).
    pub image_queued: Duration,
    /// Image `saving` → `active` (default 10 s).
    pub image_saving: Duration,
    /// Load balancer `creating` → `active` (default 5 s).
    pub lb_create: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            build: Duration::from_secs(20),
            power_off: Duration::from_secs(3),
            reboot: Duration::from_secs(5),
            shelve: Duration::from_secs(5),
            resize: Duration::from_secs(10),
            volume_create: Duration::from_secs(5),
            volume_release: Duration::from_secs(10),
            image_queued: Duration::from_secs(3),
            image_saving: Duration::from_secs(10),
            lb_create: Duration::from_secs(5),
        }
    }
}

impl Timing {
    /// The durations in seconds, for `/_sim/state`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let s = |d: Duration| d.as_secs_f64();
        serde_json::json!({
            "build": s(self.build),
            "power_off": s(self.power_off),
            "reboot": s(self.reboot),
            "shelve": s(self.shelve),
            "resize": s(self.resize),
            "volume_create": s(self.volume_create),
            "volume_release": s(self.volume_release),
            "image_queued": s(self.image_queued),
            "image_saving": s(self.image_saving),
            "lb_create": s(self.lb_create),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_keys() {
        let config = SimConfig::default().with_account("abcdefghijklmnop", "supersecretkey");
        let shown = format!("{config:?}");
        assert!(shown.contains("abcdefghijklmnop"));
        assert!(!shown.contains("supersecretkey"));
    }
}
