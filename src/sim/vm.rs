//! Virtual machines (`vm/*`): create, list, info, power operations, reimage, resize, delete,
//! snapshot and the small actions. Addresses and security groups of a VM are in `vm_net`; the
//! lifecycle itself in `vm_status`.

use serde::Serialize;
use serde_json::{Value, json};

use super::{
    call::{ApiError, Ctx, Params, Reply, done, id_list, reply},
    catalog::{self, Plan},
    clock::{Millis, after},
    faults::BuildFate,
    floating::{self, Attachment},
    image,
    state::{Account, Shared},
    vm_net,
    vm_status::{self, Phase, PowerOp},
    volume::{self, VolumeState},
};

/// The error vm/create gives for any of its three core parameters.
const CREATE_NOT_SET: &str = "hostname, plan_id, and/or image_id not set";

/// A virtual machine.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Vm {
    /// UUID.
    pub id: String,
    /// Hostname (also shown as `name`).
    pub hostname: String,
    /// Region slug.
    pub region: String,
    /// Numeric plan ID.
    pub plan_id: String,
    /// Image it was built from (empty when booted from a volume).
    pub image_id: String,
    /// Image name, shown as `image` and `os`.
    pub image_name: String,
    /// Login user of the image, if it is a template.
    pub login_user: Option<String>,
    /// Login password; shown only in vm/info `login_details`, never in the state dump.
    #[serde(skip)]
    pub password: String,
    /// Lifecycle phase.
    pub phase: Phase,
    /// Creation time (simulated).
    pub created_at: Millis,
    /// Creation order.
    pub seq: u64,
    /// Address of the primary floating IP.
    pub primary_ip: Option<String>,
    /// A floating IP is allocated when the first build ends (vm/create without `ip`).
    pub ip_pending: bool,
    /// Primary private address.
    pub private_ip: String,
    /// Private addresses added with vm/ip-add.
    pub additional_private_ips: Vec<String>,
    /// Virtual network, if created in one.
    pub net_id: Option<String>,
    /// Security group IDs.
    pub security_groups: Vec<String>,
    /// Startup script IDs.
    pub scripts: Vec<String>,
    /// SSH key IDs.
    pub key_ids: Vec<String>,
    /// Volume booted from, if any.
    pub boot_volume: Option<String>,
    /// Installed from an ISO (vm/diskswap applies).
    pub iso: bool,
    /// Boot order swapped by vm/diskswap.
    pub disks_swapped: bool,
    /// vm/set-fairshare `charge_for_cpu`.
    pub charge_for_cpu: bool,
    /// vm/set-fairshare `fairshare_nolend`.
    pub fairshare_nolend: bool,
    /// Hypervisor host, opaque.
    pub host_id: String,
}

impl Vm {
    pub(crate) fn plan(&self) -> Option<&'static Plan> {
        catalog::plan_lookup(&self.plan_id)
    }

    /// The primary IP as clients see it: empty during the first build (the IP arrives late).
    pub(crate) fn visible_ip(&self) -> &str {
        match self.phase {
            Phase::Building { .. } => "",
            _ => self.primary_ip.as_deref().unwrap_or(""),
        }
    }

    /// The vm/list entry (also vm/info `extra`).
    fn list_entry(&self) -> Value {
        let plan = self.plan();
        json!({
            "vm_id": self.id,
            "name": self.hostname,
            "hostname": self.hostname,
            "plan_id": self.plan_id,
            "primaryip": self.visible_ip(),
            "privateip": self.private_ip,
            "ram": plan.map_or(0, |p| p.ram),
            "vcpu": plan.map_or(0, |p| p.vcpu),
            "storage": plan.map_or(0, |p| p.storage),
            "bandwidth": plan.map_or(0, |p| p.bandwidth),
            "region": self.region,
            "os_status": vm_status::view(&self.phase).raw,
        })
    }
}

/// Finds one of the caller's VMs, or `invalid vm`.
pub(crate) fn find<'a>(account: &'a Account, params: &Params) -> Result<&'a Vm, ApiError> {
    params.find(&account.vms, "vm_id", "vm")
}

/// Finds one of the caller's VMs for changing, or `invalid vm`.
pub(crate) fn find_mut<'a>(
    account: &'a mut Account,
    params: &Params,
) -> Result<&'a mut Vm, ApiError> {
    params.find_mut(&mut account.vms, "vm_id", "vm")
}

/// What a VM boots from.
enum Boot {
    Image(image::Usable),
    Volume(String),
}

pub(crate) fn create(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let (Some(hostname), Some(plan_selection)) = (params.get("hostname"), params.get("plan_id"))
    else {
        return Err(ApiError::new(CREATE_NOT_SET));
    };
    if params.get("image_id").is_none() && params.get("volume_id").is_none() {
        return Err(ApiError::new(CREATE_NOT_SET));
    }
    let region = params.region()?.unwrap_or(catalog::DEFAULT_REGION);
    let plan =
        catalog::plan_lookup(plan_selection).ok_or_else(|| ApiError::invalid("plan selection"))?;
    if !valid_hostname(hostname) {
        return Err(ApiError::invalid("hostname"));
    }
    let boot = match params.get("volume_id") {
        Some(volume_id) => {
            let volume = ctx
                .account
                .volumes
                .get(volume_id.trim())
                .filter(|v| v.region == region && v.state == VolumeState::Available)
                .ok_or_else(|| ApiError::invalid("volume"))?;
            Boot::Volume(volume.id.clone())
        }
        None => Boot::Image(
            image::usable(ctx.account, params.require("image_id")?, region, ctx.now)
                .ok_or_else(|| ApiError::invalid("image selection"))?,
        ),
    };
    let floating_id = match params.get("ip") {
        Some(ip) => Some(floating::find_by_ip(ctx.account, ip, |f| {
            f.region == region && f.attachment == Attachment::Unattached
        })?),
        None => None,
    };
    let net_id = match params.get("net_id") {
        Some(net_id) => Some(
            ctx.account
                .networks
                .get(net_id.trim())
                .filter(|network| network.region == region)
                .map(|network| network.id.clone())
                .ok_or_else(|| ApiError::invalid("network"))?,
        ),
        None => None,
    };
    let mut security_groups = id_list(params.get("securitygroups"));
    if security_groups.iter().any(|id| {
        ctx.account
            .security_groups
            .get(id)
            .is_none_or(|group| group.region != region)
    }) {
        return Err(ApiError::invalid("security group"));
    }
    if security_groups.is_empty() {
        // Without `securitygroups`, the VM joins its region's default group.
        security_groups.extend(super::securitygroup::default_group(ctx.account, region));
    }
    let scripts = id_list(params.get("scripts"));
    if scripts
        .iter()
        .any(|id| !ctx.account.scripts.contains_key(id))
    {
        return Err(ApiError::invalid("script"));
    }
    let key_ids = id_list(params.get("key_id"));
    if key_ids
        .iter()
        .any(|id| !ctx.account.ssh_keys.contains_key(id))
    {
        return Err(ApiError::invalid("key"));
    }
    let private_ip = vm_net::allocate_private(ctx.account, net_id.as_deref(), None)?;

    let id = ctx.shared.uuid();
    ctx.shared.note_born(&id);
    let (image_id, image_name, login_user, iso, boot_volume) = match boot {
        Boot::Image(usable) => (usable.id, usable.name, usable.user, usable.iso, None),
        Boot::Volume(volume_id) => (
            String::new(),
            String::from("(booted from volume)"),
            None,
            false,
            Some(volume_id),
        ),
    };
    if let Some(volume_id) = &boot_volume {
        volume::attach_to(ctx.account, volume_id, &id, "/dev/vda");
    }
    let primary_ip = floating_id.as_ref().and_then(|fid| {
        let floating = ctx.account.floating_ips.get_mut(fid)?;
        floating.attachment = Attachment::Vm(id.clone());
        floating.private_ip = Some(private_ip.clone());
        Some(floating.ip.clone())
    });
    let vm = Vm {
        id: id.clone(),
        hostname: hostname.trim().to_owned(),
        region: region.to_owned(),
        plan_id: plan.id.to_owned(),
        image_id,
        image_name,
        login_user,
        password: ctx.shared.token(16),
        phase: build_phase(ctx),
        created_at: ctx.now,
        seq: ctx.seq(),
        ip_pending: primary_ip.is_none(),
        primary_ip,
        private_ip,
        additional_private_ips: Vec::new(),
        net_id,
        security_groups,
        scripts,
        key_ids,
        boot_volume,
        iso,
        disks_swapped: false,
        charge_for_cpu: false,
        fairshare_nolend: false,
        host_id: ctx.shared.hex(56),
    };
    ctx.account.vms.insert(id.clone(), vm);
    reply([("vm_id", json!(id))])
}

/// Hostnames: 1..=255 characters of letters, digits, `-`, `.` and `_`.
pub(crate) fn valid_hostname(hostname: &str) -> bool {
    let hostname = hostname.trim();
    !hostname.is_empty()
        && hostname.len() <= 255
        && hostname
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

pub(crate) fn list(ctx: &mut Ctx<'_>, _: &Params) -> Reply {
    let mut vms: Vec<&Vm> = ctx.account.vms.values().collect();
    vms.sort_by_key(|vm| vm.seq);
    let entries: Vec<Value> = vms.into_iter().map(Vm::list_entry).collect();
    reply([("vms", Value::Array(entries))])
}

pub(crate) fn info(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let vm = find(ctx.account, params)?;
    let view = vm_status::view(&vm.phase);
    let addresses = vm_net::addresses(ctx.account, vm);
    let groups: Vec<String> = vm
        .security_groups
        .iter()
        .filter_map(|id| ctx.account.security_groups.get(id))
        .map(|group| group.name.clone())
        .collect();
    let volumes: Vec<Value> = volume::attached_to(ctx.account, &vm.id)
        .into_iter()
        .map(|v| json!({"id": v.id, "name": v.name}))
        .collect();
    let login_details = match &vm.login_user {
        Some(user) => format!("username: {user}; password: {}", vm.password),
        None => String::new(),
    };
    let mut info = json!({
        "hostname": vm.hostname,
        "ip": vm.visible_ip(),
        "privateip": vm.private_ip,
        "addresses": addresses.addresses,
        "additionalip": addresses.additional_public,
        "additionalprivateip": vm.additional_private_ips,
        "ipv6": [],
        "status": vm_status::status_html(&view),
        "status_nohtml": view.text,
        "status_raw": view.raw,
        "status_color": view.color,
        "task_state": view.task,
        "image": vm.image_name,
        "os": vm.image_name,
        "security_groups": groups,
        "securitygroups": groups,
        "login_details": login_details,
        "bandwidthUsedGB": "0.00",
        "host_id": vm.host_id,
        "volumes": volumes,
    });
    if let (true, Some(object)) = (vm.iso, info.as_object_mut()) {
        object.insert(
            "diskswap".into(),
            json!(if vm.disks_swapped { "cdrom" } else { "disk" }),
        );
    }
    reply([("info", info), ("extra", vm.list_entry())])
}

pub(crate) fn power(ctx: &mut Ctx<'_>, params: &Params, op: PowerOp) -> Reply {
    let (now, timing) = (ctx.now, ctx.timing);
    let vm = find_mut(ctx.account, params)?;
    if let Some(next) = vm_status::power(&vm.phase, op, now, timing)? {
        vm.phase = next;
    }
    done()
}

/// The first build of a new VM, ending as the faults say (see [`FaultEngine::build_fate`]).
///
/// [`FaultEngine::build_fate`]: super::faults::FaultEngine::build_fate
fn build_phase(ctx: &Ctx<'_>) -> Phase {
    let until = after(ctx.now, ctx.timing.build);
    match ctx.build_fate() {
        BuildFate::Online => Phase::Building {
            until,
            fails: false,
        },
        BuildFate::Error => Phase::Building { until, fails: true },
        BuildFate::Stuck => Phase::Building {
            until: Millis::MAX,
            fails: false,
        },
    }
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let vm_id = find(ctx.account, params)?.id.clone();
    let takes = ctx.vm_delete_time();
    let until = after(ctx.now, takes);
    let volumes_free_at = after(until, ctx.timing.volume_release);
    let vm = find_mut(ctx.account, params)?;
    if matches!(vm.phase, Phase::Deleting { .. }) {
        // Already being deleted: accepted, nothing changes.
        return done();
    }
    if takes.is_zero() {
        remove(ctx.account, ctx.shared, &vm_id, volumes_free_at);
    } else {
        vm.phase = Phase::Deleting {
            until,
            volumes_free_at,
        };
    }
    done()
}

/// Ends the deletion of `vm_id`: the VM goes, its floating IPs are released (detach with
/// `keep=yes` first to keep one), and its volumes stay `in-use` until `volumes_free_at`, as on
/// the real service.
pub(crate) fn remove(
    account: &mut Account,
    shared: &mut Shared,
    vm_id: &str,
    volumes_free_at: Millis,
) {
    account.vms.remove(vm_id);
    let attached: Vec<String> = account
        .floating_ips
        .values()
        .filter(|f| f.is_on_vm(vm_id))
        .map(|f| f.id.clone())
        .collect();
    for id in attached {
        floating::release(account, shared, &id);
    }
    for volume in account.volumes.values_mut() {
        if volume.attachment.as_ref().is_some_and(|a| a.vm_id == vm_id) {
            volume.attachment = None;
            volume.state = VolumeState::Releasing {
                until: volumes_free_at,
            };
        }
    }
}

pub(crate) fn reimage(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let image_id = params.require("image_id")?;
    let (region, busy) = {
        let vm = find(ctx.account, params)?;
        (vm.region.clone(), vm_status::is_busy(&vm.phase))
    };
    let usable = image::usable(ctx.account, image_id, &region, ctx.now)
        .ok_or_else(|| ApiError::invalid("image selection"))?;
    if busy {
        return Err(vm_status::busy());
    }
    let password = ctx.shared.token(16);
    let until = after(ctx.now, ctx.timing.build);
    let vm = find_mut(ctx.account, params)?;
    vm.image_id = usable.id;
    vm.image_name = usable.name;
    vm.login_user = usable.user;
    vm.iso = usable.iso;
    vm.password = password;
    vm.phase = Phase::Rebuilding { until };
    done()
}

pub(crate) fn resize(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let plan = catalog::plan_lookup(params.require("plan_id")?)
        .ok_or_else(|| ApiError::invalid("plan selection"))?;
    let until = after(ctx.now, ctx.timing.resize);
    let vm = find_mut(ctx.account, params)?;
    let shrinks = vm
        .plan()
        .is_some_and(|current| plan.storage < current.storage);
    if vm.plan_id == plan.id || shrinks || vm.iso {
        // The real service reports success for resizes it does not do: to the same plan, one
        // that would shrink local storage, or a VM installed from an ISO (the failure reaches
        // the account holder later, by e-mail).
        return done();
    }
    let then_stopped = match vm.phase {
        Phase::Active => false,
        Phase::Stopped => true,
        Phase::Shelved | Phase::Rescued => {
            return Err(ApiError::new("the VM must be online or offline to resize"));
        }
        Phase::Error => return Err(vm_status::in_error()),
        _ => return Err(vm_status::busy()),
    };
    vm.phase = Phase::Resizing {
        until,
        plan_id: plan.id.to_owned(),
        then_stopped,
    };
    done()
}
