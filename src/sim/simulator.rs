//! The [`Simulator`]: accounts and their keys, the world of objects, the clock, the faults and
//! the counters, shared by every connection (and by every server started on it).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard, RwLock},
    time::Duration,
};

use secrecy::SecretString;
use serde_json::{Map, Value, json};

use super::{
    call::{Ctx, Params, Reply},
    clock::{Clock, rfc3339},
    config::{SimConfig, Timing},
    dispatch,
    faults::{FaultEngine, Faults, FaultsError},
    list_faults,
    state::{Account, World, lock},
    stats::{Outcome, Stats},
    vm_status,
};
use crate::lunanode::actions::ActionSpec;

/// A running simulator's shared state. Create it with [`Simulator::new`], serve it with
/// [`serve`](super::serve); tests can also drive the admin functions directly.
pub struct Simulator {
    keys: RwLock<BTreeMap<String, SecretString>>,
    timing: Timing,
    nonce_window: Duration,
    reject_replays: bool,
    clock: Clock,
    world: Mutex<World>,
    faults: Mutex<FaultEngine>,
    stats: Mutex<Stats>,
    /// Accepted `(signature → nonce)` per account, when replays are rejected.
    seen: Mutex<HashMap<String, HashMap<String, i64>>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("accounts", &self.account_ids())
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Creates a simulator. Invalid initial faults are reported in the log and replaced by no
    /// faults; use [`Simulator::try_new`] to get the error instead.
    pub fn new(config: SimConfig) -> Arc<Self> {
        match config.faults.validate() {
            Ok(()) => Self::build(config),
            Err(error) => {
                tracing::error!(%error, "ignoring the initial faults");
                Self::build(SimConfig {
                    faults: Faults::default(),
                    ..config
                })
            }
        }
    }

    /// Creates a simulator, refusing invalid initial faults.
    pub fn try_new(config: SimConfig) -> Result<Arc<Self>, FaultsError> {
        config.faults.validate()?;
        Ok(Self::build(config))
    }

    fn build(config: SimConfig) -> Arc<Self> {
        let mut world = World::new(config.seed);
        let mut keys = BTreeMap::new();
        for (api_id, api_key) in config.accounts {
            let World { accounts, shared } = &mut world;
            accounts
                .entry(api_id.clone())
                .or_insert_with(|| Account::open(shared));
            keys.insert(api_id, SecretString::from(api_key));
        }
        Arc::new(Self {
            keys: RwLock::new(keys),
            timing: config.timing,
            nonce_window: config.nonce_window,
            reject_replays: config.reject_replays,
            clock: Clock::default(),
            world: Mutex::new(world),
            faults: Mutex::new(FaultEngine::new(config.faults, config.seed)),
            stats: Mutex::new(Stats::default()),
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// Adds (or re-keys) an account at run time.
    pub fn add_account(&self, api_id: impl Into<String>, api_key: impl Into<String>) {
        let api_id = api_id.into();
        lock(&self.world)
            .accounts
            .entry(api_id.clone())
            .or_default();
        self.keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(api_id, SecretString::from(api_key.into()));
    }

    /// The API IDs of all accounts.
    pub fn account_ids(&self) -> Vec<String> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// The key of an account.
    pub(crate) fn key(&self, api_id: &str) -> Option<SecretString> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(api_id)
            .cloned()
    }

    /// How far a nonce may be from the real clock.
    pub(crate) fn nonce_window(&self) -> Duration {
        self.nonce_window
    }

    /// Records an accepted signature; `false` if it is an exact replay (and replays are
    /// rejected).
    pub(crate) fn accept_once(
        &self,
        api_id: &str,
        nonce: i64,
        signature: &str,
        now_secs: i64,
    ) -> bool {
        if !self.reject_replays {
            return true;
        }
        let window = i64::try_from(self.nonce_window.as_secs()).unwrap_or(i64::MAX);
        let mut seen = lock(&self.seen);
        let account = seen.entry(api_id.to_owned()).or_default();
        account.retain(|_, seen_nonce| (*seen_nonce).saturating_add(window) >= now_secs);
        account
            .insert(signature.to_ascii_lowercase(), nonce)
            .is_none()
    }

    /// The current faults.
    pub fn faults(&self) -> Faults {
        lock(&self.faults).faults().clone()
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: Faults) -> Result<(), FaultsError> {
        lock(&self.faults).replace(faults)
    }

    /// The fault engine, for one roll.
    pub(crate) fn fault_engine(&self) -> MutexGuard<'_, FaultEngine> {
        lock(&self.faults)
    }

    /// Applies the list faults to a successful answer of `path` and counts what they hid.
    pub(crate) fn thin_list(&self, path: &str, data: &mut Map<String, Value>) {
        let lag_ms = lock(&self.faults).list_lag_ms(path);
        let lagged = match list_faults::shape(path) {
            Some(shape) if lag_ms > 0 => {
                let now = self.clock.now();
                let world = lock(&self.world);
                list_faults::thin(path, shape, data, false, |id| {
                    id.is_some_and(|id| world.shared.is_young(id, lag_ms, now))
                })
                .omitted
            }
            _ => 0,
        };
        let hidden = lock(&self.faults).thin_list(path, data);
        let mut stats = lock(&self.stats);
        stats.add_fault("list_lag", lagged);
        stats.add_fault("list_omit", hidden.omitted);
        stats.add_fault("list_empty", u64::from(hidden.emptied));
    }

    /// Moves the simulated clock forward.
    pub fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// How far the simulated clock is ahead of real time.
    pub fn clock_offset(&self) -> Duration {
        self.clock.offset()
    }

    /// Counts one API call.
    pub(crate) fn record(&self, path: &str, outcome: Outcome) {
        lock(&self.stats).record(path, outcome);
    }

    /// The counters, as `/_sim/stats` shows them.
    pub fn stats(&self) -> Value {
        lock(&self.stats).to_json()
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        *lock(&self.stats) = Stats::default();
    }

    /// Runs one authenticated action for an account.
    pub(crate) fn perform(&self, api_id: &str, spec: &ActionSpec, params: &Params) -> Reply {
        let now = self.clock.now();
        let mut world = lock(&self.world);
        let World { accounts, shared } = &mut *world;
        let account = accounts
            .entry(api_id.to_owned())
            .or_insert_with(|| Account::open(shared));
        account.settle(shared, now);
        let mut ctx = Ctx {
            account,
            shared,
            now,
            timing: &self.timing,
            faults: &self.faults,
            stats: &self.stats,
        };
        dispatch::dispatch(&mut ctx, spec, params)
    }

    /// Every object of every account, as `/_sim/state` shows it (passwords and keys never
    /// appear). Each VM also carries its current `status` text.
    pub fn state(&self) -> Value {
        let now = self.clock.now();
        let mut world = lock(&self.world);
        world.settle_all(now);
        let mut accounts = serde_json::Map::new();
        for (api_id, account) in &world.accounts {
            let mut value = serde_json::to_value(account).unwrap_or(Value::Null);
            if let Some(vms) = value.get_mut("vms").and_then(Value::as_object_mut) {
                for (id, vm) in vms.iter_mut() {
                    let Some(phase) = account.vms.get(id).map(|vm| &vm.phase) else {
                        continue;
                    };
                    if let Some(object) = vm.as_object_mut() {
                        object.insert("status".into(), json!(vm_status::view(phase).text));
                    }
                }
            }
            accounts.insert(api_id.clone(), value);
        }
        json!({
            "now": rfc3339(now),
            "now_unix_ms": now,
            "clock_offset_seconds": self.clock.offset().as_secs_f64(),
            "timing": self.timing.to_json(),
            "accounts": accounts,
        })
    }
}
