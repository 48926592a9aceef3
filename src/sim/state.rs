//! The simulator's data: one [`Account`] of objects per API ID (accounts never see each
//! other's objects), plus the allocators all accounts share ([`Shared`]: numeric IDs, the
//! public IP pool, randomness), and the lazy settling of timed transitions.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::Ipv4Addr,
    sync::{Mutex, MutexGuard, PoisonError},
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;

use super::{
    call::{Params, Reply, Stored, created},
    clock::Millis,
    dns::{DynRecord, Zone},
    email::EmailDomain,
    floating::FloatingIp,
    image::Image,
    lb::LoadBalancer,
    misc::{Script, SshKey},
    monitor::{Alert, Check, Contact},
    network::Network,
    securitygroup::SecurityGroup,
    vm::Vm,
    vm_net,
    vm_status::{self, Effect},
    volume::{Volume, VolumeSnapshot},
};

/// Locks a mutex, carrying on after a panic elsewhere (the data stays usable for a test double).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// All state behind one lock.
#[derive(Debug)]
pub(crate) struct World {
    /// Accounts by API ID.
    pub accounts: BTreeMap<String, Account>,
    /// Shared allocators.
    pub shared: Shared,
}

impl World {
    /// An empty world.
    pub(crate) fn new(seed: Option<u64>) -> Self {
        Self {
            accounts: BTreeMap::new(),
            shared: Shared::new(seed),
        }
    }

    /// Settles every account (for the state dump).
    pub(crate) fn settle_all(&mut self, now: Millis) {
        let Self { accounts, shared } = self;
        for account in accounts.values_mut() {
            account.settle(shared, now);
        }
    }
}

/// One account's objects, keyed by ID.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Account {
    /// Virtual machines.
    pub vms: BTreeMap<String, Vm>,
    /// Block volumes.
    pub volumes: BTreeMap<String, Volume>,
    /// Volume snapshots.
    pub volume_snapshots: BTreeMap<String, VolumeSnapshot>,
    /// The account's own images (snapshots, fetched, replicated).
    pub images: BTreeMap<String, Image>,
    /// Floating IPs.
    pub floating_ips: BTreeMap<String, FloatingIp>,
    /// Virtual networks.
    pub networks: BTreeMap<String, Network>,
    /// Load balancers.
    pub load_balancers: BTreeMap<String, LoadBalancer>,
    /// Hosted DNS zones (shared by the `dns` and `dns2` forms).
    pub zones: BTreeMap<String, Zone>,
    /// Dynamic DNS entries.
    pub dyns: BTreeMap<String, DynRecord>,
    /// Monitoring checks.
    pub checks: BTreeMap<String, Check>,
    /// Monitoring contacts.
    pub contacts: BTreeMap<String, Contact>,
    /// Monitoring alerts (check → contact).
    pub alerts: BTreeMap<String, Alert>,
    /// Security groups.
    pub security_groups: BTreeMap<String, SecurityGroup>,
    /// Startup scripts.
    pub scripts: BTreeMap<String, Script>,
    /// SSH keys.
    pub ssh_keys: BTreeMap<String, SshKey>,
    /// E-mail hosting domains.
    pub email_domains: BTreeMap<String, EmailDomain>,
    /// Next default private address (10.10.x.y) for VMs outside a virtual network.
    pub next_private: u32,
}

impl Account {
    /// A new account: nothing but each region's default security group.
    pub(crate) fn open(shared: &mut Shared) -> Self {
        Self {
            security_groups: super::securitygroup::default_groups(shared),
            ..Self::default()
        }
    }

    /// Applies every timed transition that has ended by `now`.
    pub(crate) fn settle(&mut self, shared: &mut Shared, now: Millis) {
        shared.now = now;
        let mut built = Vec::new();
        let mut deleted = Vec::new();
        for vm in self.vms.values_mut() {
            while let Some((next, effect)) = vm_status::advance(&vm.phase, now) {
                vm.phase = next;
                match effect {
                    Effect::Nothing => {}
                    Effect::Built => built.push(vm.id.clone()),
                    Effect::Resized(plan_id) => vm.plan_id = plan_id,
                    Effect::Deleted(volumes_free_at) => {
                        deleted.push((vm.id.clone(), volumes_free_at));
                        break;
                    }
                }
            }
        }
        for vm_id in built {
            vm_net::assign_pending_ip(self, shared, &vm_id);
        }
        for (vm_id, volumes_free_at) in deleted {
            super::vm::remove(self, shared, &vm_id, volumes_free_at);
        }
        for volume in self.volumes.values_mut() {
            volume.settle(now);
        }
    }
}

/// Kinds of numeric IDs; each has its own counter and starting value, so IDs look real.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdKind {
    Volume,
    Image,
    VolumeSnapshot,
    Floating,
    Network,
    LoadBalancer,
    Member,
    Zone,
    Record,
    Dyn,
    Check,
    Contact,
    Alert,
    SecurityGroup,
    Rule,
    Script,
    SshKey,
    Domain,
    User,
    Alias,
}

impl IdKind {
    const COUNT: usize = 20;

    fn base(self) -> u64 {
        match self {
            Self::Volume => 4682,
            Self::Image => 700_001,
            Self::VolumeSnapshot => 5101,
            Self::Floating => 18_001,
            Self::Network => 2101,
            Self::LoadBalancer => 301,
            Self::Member => 1201,
            Self::Zone => 1301,
            Self::Record => 50_001,
            Self::Dyn => 701,
            Self::Check => 901,
            Self::Contact => 401,
            Self::Alert => 1501,
            Self::SecurityGroup => 3001,
            Self::Rule => 9001,
            Self::Script => 1064,
            Self::SshKey => 1862,
            Self::Domain => 201,
            Self::User => 801,
            Self::Alias => 601,
        }
    }
}

/// Numeric ID counters (shared, so IDs are unique across accounts as on the real service).
#[derive(Debug, Default)]
pub(crate) struct Ids {
    issued: [u64; IdKind::COUNT],
    seq: u64,
}

impl Ids {
    /// The next ID of that kind.
    pub(crate) fn next(&mut self, kind: IdKind) -> String {
        let slot = &mut self.issued[kind as usize];
        let id = kind.base() + *slot;
        *slot += 1;
        id.to_string()
    }

    /// The next creation sequence number.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// Public addresses handed out as floating IPs. Only ranges that are never routed on the
/// internet: the three documentation ranges (RFC 5737), then the benchmarking range
/// 198.18.0.0/15 (RFC 2544) when those run out.
#[derive(Debug, Default)]
pub(crate) struct IpPool {
    cursor: u64,
    in_use: HashSet<Ipv4Addr>,
}

const RANGES: &[([u8; 4], u32)] = &[
    ([203, 0, 113, 0], 256),
    ([198, 51, 100, 0], 256),
    ([192, 0, 2, 0], 256),
    ([198, 18, 0, 0], 131_072),
];

impl IpPool {
    fn total() -> u64 {
        RANGES.iter().map(|(_, size)| u64::from(*size)).sum()
    }

    fn nth(mut index: u64) -> Option<Ipv4Addr> {
        for (base, size) in RANGES {
            let size = u64::from(*size);
            if index < size {
                let offset = u32::try_from(index).ok()?;
                return Some(Ipv4Addr::from(u32::from_be_bytes(*base) + offset));
            }
            index -= size;
        }
        None
    }

    /// A free address, in order (addresses are reused only after the pool wraps around).
    pub(crate) fn allocate(&mut self) -> Option<Ipv4Addr> {
        let total = Self::total();
        for _ in 0..total {
            let index = self.cursor % total;
            self.cursor += 1;
            let Some(address) = Self::nth(index) else {
                continue;
            };
            let last = address.octets()[3];
            if last < 2 || last == 255 {
                continue;
            }
            if self.in_use.insert(address) {
                return Some(address);
            }
        }
        None
    }

    /// Gives an address back.
    pub(crate) fn release(&mut self, address: &str) {
        if let Ok(address) = address.parse::<Ipv4Addr>() {
            self.in_use.remove(&address);
        }
    }
}

/// How many issue times `Shared::born` holds before the first prune.
const BORN_PRUNE_MIN: usize = 4096;

/// Allocators shared by all accounts.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Numeric ID counters.
    pub ids: Ids,
    /// Public IP pool.
    pub pool: IpPool,
    /// Randomness for UUIDs, passwords and tokens (seeded when the config has a seed).
    pub rng: StdRng,
    /// When each object ID was issued (simulated time), for the list lag. Entries older than
    /// the longest lag are dropped now and then.
    pub born: HashMap<String, Millis>,
    /// The size of `born` at which it is next pruned.
    prune_at: usize,
    /// The simulated now of the call being answered.
    pub now: Millis,
}

impl Shared {
    fn new(seed: Option<u64>) -> Self {
        Self {
            ids: Ids::default(),
            pool: IpPool::default(),
            rng: seed.map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64),
            born: HashMap::new(),
            prune_at: BORN_PRUNE_MIN,
            now: 0,
        }
    }

    /// A fresh numeric ID of that kind, noted as issued now.
    pub(crate) fn issue(&mut self, kind: IdKind) -> String {
        let id = self.ids.next(kind);
        self.note_born(&id);
        id
    }

    /// Issues a new ID of `T`'s kind, then stores `make(id)` where `account` keeps the `T`s
    /// `params` name and answers `{"<key>": id}`: the step every create ends with. When there
    /// is no such place, that error is the answer, the ID being spent all the same.
    pub(crate) fn create<T: Stored>(
        &mut self,
        account: &mut Account,
        params: &Params,
        make: impl FnOnce(String) -> T,
    ) -> Reply {
        let id = self.issue(T::ID);
        created(T::objects(account, params)?, id, make)
    }

    /// Notes that the object `id` was made now (see [`Self::is_young`]).
    pub(crate) fn note_born(&mut self, id: &str) {
        self.born.insert(id.to_owned(), self.now);
        if self.born.len() >= self.prune_at {
            let now = self.now;
            self.born
                .retain(|_, born| now.saturating_sub(*born) < super::faults::MAX_LIST_LAG_MS);
            self.prune_at = (self.born.len() * 2).max(BORN_PRUNE_MIN);
        }
    }

    /// Whether the object `id` was made less than `lag_ms` before `now`.
    pub(crate) fn is_young(&self, id: &str, lag_ms: Millis, now: Millis) -> bool {
        self.born
            .get(id)
            .is_some_and(|born| now < born.saturating_add(lag_ms))
    }

    /// A random UUID (v4).
    pub(crate) fn uuid(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.rng.random())
            .into_uuid()
            .to_string()
    }

    /// A random alphanumeric string.
    pub(crate) fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
        (0..len)
            .map(|_| char::from(ALPHABET[self.rng.random_range(0..ALPHABET.len())]))
            .collect()
    }

    /// Random lowercase hex.
    pub(crate) fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[self.rng.random_range(0..16)]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_count_up_per_kind() {
        let mut ids = Ids::default();
        assert_eq!(ids.next(IdKind::Volume), "4682");
        assert_eq!(ids.next(IdKind::Volume), "4683");
        assert_eq!(ids.next(IdKind::Script), "1064");
    }

    #[test]
    fn pool_uses_documentation_ranges_first_and_never_repeats_a_live_address() {
        let mut pool = IpPool::default();
        let first = pool.allocate().map(|a| a.to_string());
        assert_eq!(first.as_deref(), Some("203.0.113.2"));
        let mut seen = HashSet::new();
        for _ in 0..800 {
            let address = pool.allocate().unwrap_or(Ipv4Addr::UNSPECIFIED);
            assert!(seen.insert(address), "{address} handed out twice");
        }
        assert!(seen.contains(&Ipv4Addr::new(198, 51, 100, 2)));
        assert!(seen.contains(&Ipv4Addr::new(198, 18, 0, 2)));
    }

    #[test]
    fn seeded_randomness_is_repeatable() {
        let mut a = Shared::new(Some(7));
        let mut b = Shared::new(Some(7));
        assert_eq!(a.uuid(), b.uuid());
        assert_eq!(a.token(12), b.token(12));
    }
}
