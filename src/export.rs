//! `lunanode-operator export`: manifests for the objects an account holds, written so that
//! applying them adopts instead of creating.
//!
//! Each manifest names its cloud object in `spec.import.id`, takes its spec from what the API
//! reports (so that the adopted object is in sync, nothing to change), points at the
//! credentials Secret `--credentials-secret`, and has `deletionPolicy: Orphan` unless
//! `--deletion-policy Delete` is asked: deleting an exported manifest then leaves the cloud
//! object. IDs of other exported objects become references: a volume attached to an exported
//! VM gets `attachTo.vmRef`, and so does a floating IP attached to one; a dynamic DNS name
//! pointing at an exported VM's public address gets `vmRef`. Object names are the
//! cloud names in Kubernetes form (lowercase, `-` for anything else), with the ID appended when
//! two objects of a kind would share one.
//!
//! Kinds exported: LunaVM, LunaVolume, LunaFloatingIP, LunaNetwork, LunaSecurityGroup (with
//! its rules, each written so that its wire form is the listed one; a group with a rule no
//! manifest can hold is left out), LunaSSHKey, LunaStartupScript (with its content inline: keep
//! the output as private as the scripts), LunaDynamicRecord and LunaDnsZone (zones of the
//! `dns2` API with their A, AAAA, CNAME and TXT records, an A record at an exported VM's
//! address as a `vmRef`; records of other types are left in the zone, which the operator
//! leaves alone without `prune`) and LunaLoadBalancer (its network as a `networkRef` and a
//! member at an exported VM's private address as a `vmRef` when those are exported). Not yet:
//! images, e-mail and monitoring objects.
//! Every manifest is checked against the kind's Rust type before it is written. An object a
//! manifest cannot describe faithfully (a VM whose image is unknown, a name the kind's schema
//! refuses) is left out, and standard error says which and why.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    io::Write,
};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};

use crate::{
    api::{
        dnszone::{LunaDnsZone, MAX_TTL, MIN_TTL},
        dynamicrecord::LunaDynamicRecord,
        floating::LunaFloatingIP,
        loadbalancer::LunaLoadBalancer,
        network::LunaNetwork,
        securitygroup::{
            Direction, FirewallRule, IpVersion, LunaSecurityGroup, Protocol, WireRule,
        },
        sshkey::LunaSSHKey,
        startupscript::LunaStartupScript,
        vm::{LunaVM, PowerState},
        volume::LunaVolume,
    },
    controller::{
        dnszone::decide::relative_name, securitygroup::cloud::rules, vm::decide::power_state,
    },
    lunanode::{Client, cli::Connection},
};

/// The kinds `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
#[value(rename_all = "verbatim")]
pub enum Kind {
    /// Virtual machines.
    LunaVM,
    /// Volumes.
    LunaVolume,
    /// Floating IPs.
    LunaFloatingIP,
    /// Private networks.
    LunaNetwork,
    /// Security groups, with their rules.
    LunaSecurityGroup,
    /// SSH keys.
    LunaSSHKey,
    /// Startup scripts.
    LunaStartupScript,
    /// Dynamic DNS names.
    LunaDynamicRecord,
    /// Hosted DNS zones (the `dns2` API), with their address, alias and text records.
    LunaDnsZone,
    /// Load balancers, with their members.
    LunaLoadBalancer,
}

/// What deleting an exported manifest does to its cloud object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "verbatim")]
pub enum Deletion {
    /// Leave it (the default: exporting must not arm a deletion).
    Orphan,
    /// Delete it with the manifest.
    Delete,
}

/// Arguments of `lunanode-operator export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where and how to call the API.
    #[command(flatten)]
    pub connection: Connection,
    /// Only these kinds (repeat the flag; default: every kind export knows).
    #[arg(long = "kind", value_enum)]
    pub kinds: Vec<Kind>,
    /// Only objects of this region (objects without a region, keys and scripts, are kept).
    #[arg(long)]
    pub region: Option<String>,
    /// Only objects whose cloud name contains this text (without regard to case).
    #[arg(long)]
    pub name_contains: Option<String>,
    /// The namespace written in the manifests (default: none, `kubectl apply -n` decides).
    #[arg(long)]
    pub namespace: Option<String>,
    /// The credentials Secret the manifests name.
    #[arg(long, default_value = "lunanode-credentials")]
    pub credentials_secret: String,
    /// What deleting a manifest does to its cloud object.
    #[arg(long, value_enum, default_value = "Orphan")]
    pub deletion_policy: Deletion,
}

/// A cloud object to write: its kind, its cloud ID and name, its region (if any), and its spec
/// without the fields every manifest shares.
struct Found {
    kind: Kind,
    id: String,
    name: String,
    region: Option<String>,
    /// A VM's public address.
    address: Option<String>,
    /// A VM's private address.
    private_address: Option<String>,
    spec: Value,
}

impl Found {
    /// Object `id` of `kind` named `name` in the cloud, with its `spec`.
    fn new(kind: Kind, id: String, name: String, spec: Value) -> Self {
        Self {
            kind,
            id,
            name,
            region: None,
            address: None,
            private_address: None,
            spec,
        }
    }

    /// In `region`.
    fn in_region(self, region: String) -> Self {
        Self {
            region: Some(region),
            ..self
        }
    }

    /// At public address `address` (a VM).
    fn at(self, address: String) -> Self {
        Self {
            address: Some(address),
            ..self
        }
    }
}

impl ExportArgs {
    /// Runs the command, writing the manifests to standard output and what it left out to
    /// standard error; returns the exit code.
    pub async fn run(self) -> anyhow::Result<i32> {
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
        let Self {
            connection,
            kinds,
            region,
            name_contains,
            namespace,
            credentials_secret,
            deletion_policy,
        } = self;
        let client = connection.client()?;
        let wanted = |kind| kinds.is_empty() || kinds.contains(&kind);
        let Read { found, skipped } = read(&client, &wanted).await?;
        for note in &skipped {
            writeln!(err, "not exported: {note}")?;
        }
        let kept: Vec<&Found> = found
            .iter()
            .filter(|found| wanted(found.kind))
            .filter(|found| {
                region
                    .as_deref()
                    .is_none_or(|region| found.region.as_deref().is_none_or(|have| have == region))
            })
            .filter(|found| {
                name_contains.as_deref().is_none_or(|part| {
                    found
                        .name
                        .to_ascii_lowercase()
                        .contains(&part.to_ascii_lowercase())
                })
            })
            .collect();
        let names = object_names(&kept);
        // Exported objects by what other objects name them by: IDs and addresses.
        let by = |kind: Kind, field: fn(&Found) -> Option<&str>| -> HashMap<&str, &str> {
            kept.iter()
                .filter(|found| found.kind == kind)
                .filter_map(|found| {
                    let value = field(found).filter(|value| !value.is_empty())?;
                    Some((value, names.get(&key(found))?.as_str()))
                })
                .collect()
        };
        let vm_names = by(Kind::LunaVM, |found| Some(&found.id));
        let vm_addresses = by(Kind::LunaVM, |found| found.address.as_deref());
        let vm_private = by(Kind::LunaVM, |found| found.private_address.as_deref());
        let network_names = by(Kind::LunaNetwork, |found| Some(&found.id));
        let policy = match deletion_policy {
            Deletion::Orphan => "Orphan",
            Deletion::Delete => "Delete",
        };
        for found in &kept {
            let name = names.get(&key(found)).cloned().unwrap_or_default();
            let mut spec = found.spec.clone();
            let attach = spec.get_mut("attachTo").and_then(Value::as_object_mut);
            to_vm_ref(attach, "vmId", &vm_names);
            if found.kind == Kind::LunaDynamicRecord {
                to_vm_ref(spec.as_object_mut(), "ip", &vm_addresses);
            }
            // A load balancer's network and members follow the exported network and VMs.
            if found.kind == Kind::LunaLoadBalancer {
                to_ref(spec.as_object_mut(), "netId", "networkRef", &network_names);
                for member in items(&mut spec, "members") {
                    to_ref(member.as_object_mut(), "ip", "vmRef", &vm_private);
                }
            }
            // An address record at an exported VM's address follows the VM.
            for record in items(&mut spec, "records") {
                if record["type"] == "A" {
                    to_vm_ref(record.as_object_mut(), "data", &vm_addresses);
                }
            }
            spec["import"] = json!({"id": found.id});
            spec["deletionPolicy"] = json!(policy);
            spec["credentialsSecretRef"] = json!({"name": credentials_secret});
            let mut metadata = json!({"name": name});
            if let Some(namespace) = &namespace {
                metadata["namespace"] = json!(namespace);
            }
            let manifest = json!({
                "apiVersion": "lunanode.com/v1alpha1",
                "kind": format!("{:?}", found.kind),
                "metadata": metadata,
                "spec": spec,
            });
            check(found.kind, &manifest)
                .with_context(|| format!("{:?} {} does not fit its kind", found.kind, found.id))?;
            writeln!(out, "---")?;
            write!(out, "{}", serde_norway::to_string(&manifest)?)?;
        }
        Ok(0)
    }
}

/// The manifest deserialises as its kind: a field misnamed here fails the export, not the
/// apply.
fn check(kind: Kind, manifest: &Value) -> anyhow::Result<()> {
    let value = manifest.clone();
    match kind {
        Kind::LunaVM => drop(serde_json::from_value::<LunaVM>(value)?),
        Kind::LunaVolume => drop(serde_json::from_value::<LunaVolume>(value)?),
        Kind::LunaFloatingIP => drop(serde_json::from_value::<LunaFloatingIP>(value)?),
        Kind::LunaNetwork => drop(serde_json::from_value::<LunaNetwork>(value)?),
        Kind::LunaSecurityGroup => drop(serde_json::from_value::<LunaSecurityGroup>(value)?),
        Kind::LunaSSHKey => drop(serde_json::from_value::<LunaSSHKey>(value)?),
        Kind::LunaStartupScript => drop(serde_json::from_value::<LunaStartupScript>(value)?),
        Kind::LunaDynamicRecord => drop(serde_json::from_value::<LunaDynamicRecord>(value)?),
        Kind::LunaDnsZone => drop(serde_json::from_value::<LunaDnsZone>(value)?),
        Kind::LunaLoadBalancer => drop(serde_json::from_value::<LunaLoadBalancer>(value)?),
    }
    Ok(())
}

fn key(found: &Found) -> (Kind, String) {
    (found.kind, found.id.clone())
}

/// The items of the list `spec[field]` (none when it is not a list).
fn items<'a>(spec: &'a mut Value, field: &str) -> impl Iterator<Item = &'a mut Value> {
    spec.get_mut(field)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// Replaces `object[field]` by `vmRef` when its value names an exported VM in `vms` (by ID,
/// or by public address): the manifest then follows the VM, as one written by hand would.
fn to_vm_ref(object: Option<&mut Map<String, Value>>, field: &str, vms: &HashMap<&str, &str>) {
    to_ref(object, field, "vmRef", vms);
}

/// Replaces `object[field]` by the reference `reference` when its value is a key of `names`
/// (an exported object's ID or address).
fn to_ref(
    object: Option<&mut Map<String, Value>>,
    field: &str,
    reference: &str,
    names: &HashMap<&str, &str>,
) {
    let Some(object) = object else {
        return;
    };
    let Some(name) = object
        .get(field)
        .and_then(Value::as_str)
        .and_then(|value| names.get(value))
    else {
        return;
    };
    let named = json!({"name": name});
    object.remove(field);
    object.insert(reference.into(), named);
}

/// Every object of the wanted kinds the account holds, as manifests' specs.
async fn read(client: &Client, wanted: &dyn Fn(Kind) -> bool) -> anyhow::Result<Read> {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    if wanted(Kind::LunaVM) {
        let plans: HashMap<String, String> = client
            .plan_list()
            .await?
            .into_iter()
            .map(|plan| (plan.plan_id, plan.name))
            .collect();
        for vm in client.vm_list().await? {
            let hostname = vm.hostname.to_ascii_lowercase();
            if !is_dns_name(&hostname) {
                skipped.push(format!(
                    "VM {}: its hostname {:?} is not one a LunaVM takes",
                    vm.vm_id, vm.hostname
                ));
                continue;
            }
            let info = client.vm_info(&vm.vm_id).await?;
            if info.info.image.is_empty() {
                skipped.push(format!(
                    "VM {}: the image it was installed from is unknown",
                    vm.vm_id
                ));
                continue;
            }
            // The plan's code (`m.2`) when it is one, else its ID.
            let plan = plans
                .get(&vm.plan_id)
                .filter(|code| !code.is_empty() && !code.contains(char::is_whitespace))
                .unwrap_or(&vm.plan_id);
            let mut spec = json!({
                "hostname": hostname,
                "plan": plan,
                "region": vm.region,
                "image": info.info.image,
            });
            match power_state(&vm.os_status) {
                Some(PowerState::Stopped) => spec["powerState"] = json!("Stopped"),
                Some(PowerState::Shelved) => spec["powerState"] = json!("Shelved"),
                _ => {}
            }
            let object = Found::new(Kind::LunaVM, vm.vm_id, vm.hostname, spec);
            let mut object = object.in_region(vm.region).at(vm.primaryip);
            object.private_address = Some(vm.privateip).filter(|ip| !ip.is_empty());
            found.push(object);
        }
    }
    if wanted(Kind::LunaVolume) {
        for region in client.region_list().await? {
            for volume in client.volume_list(&region.slug).await? {
                let Some(size) = volume.size.filter(|size| *size > 0) else {
                    skipped.push(format!("volume {}: its size is unknown", volume.id));
                    continue;
                };
                let mut spec = json!({
                    "label": volume.name,
                    "size": size,
                    "region": region.slug,
                });
                attached(&mut spec, volume.attached);
                let object = Found::new(Kind::LunaVolume, volume.id, volume.name, spec);
                found.push(object.in_region(region.slug.clone()));
            }
        }
    }
    if wanted(Kind::LunaFloatingIP) {
        for ip in client.floating_list().await? {
            let mut spec = json!({"region": ip.region});
            // An address on a load balancer is left as it is (no `attachTo`).
            if ip.attached_type == "vm" {
                attached(&mut spec, ip.attached_id);
            }
            if !ip.hostname.is_empty() {
                spec["reverseDns"] = json!(ip.hostname);
            }
            let name = format!("ip-{}", ip.ip);
            found.push(Found::new(Kind::LunaFloatingIP, ip.id, name, spec).in_region(ip.region));
        }
    }
    if wanted(Kind::LunaNetwork) {
        for network in client.network_list(None).await? {
            let spec = json!({
                "name": network.name,
                "subnet": network.subnet,
                "region": network.region,
            });
            let object = Found::new(Kind::LunaNetwork, network.net_id, network.name, spec);
            found.push(object.in_region(network.region));
        }
    }
    if wanted(Kind::LunaSecurityGroup) {
        for group in client.securitygroup_list(None).await? {
            let id = group.group_id().to_owned();
            if !is_cloud_name(&group.name) {
                skipped.push(format!(
                    "security group {id}: its name {:?} is not one a LunaSecurityGroup takes",
                    group.name
                ));
                continue;
            }
            let listed = match rules(client, &group.region, &id).await {
                Ok(listed) if listed.len() <= 200 => listed,
                Ok(listed) => {
                    skipped.push(format!(
                        "security group {id}: {} rules, more than a LunaSecurityGroup holds (200)",
                        listed.len()
                    ));
                    continue;
                }
                Err(error) => {
                    skipped.push(format!("security group {id}: its rules: {error}"));
                    continue;
                }
            };
            let mut written = Vec::new();
            for (rule_id, rule) in &listed {
                match firewall_rule(rule) {
                    Some(rule) => written.push(serde_json::to_value(rule)?),
                    None => {
                        skipped.push(format!(
                            "security group {id}: its rule {rule_id} ({rule:?}) is not one a LunaSecurityGroup writes"
                        ));
                        break;
                    }
                }
            }
            if written.len() < listed.len() {
                continue;
            }
            let spec = json!({"name": group.name, "region": group.region, "rules": written});
            let object = Found::new(Kind::LunaSecurityGroup, id, group.name, spec);
            found.push(object.in_region(group.region));
        }
    }
    if wanted(Kind::LunaDnsZone) {
        for zone in client.dns2_zone_list().await? {
            let origin = zone.name.trim_end_matches('.').to_ascii_lowercase();
            if !is_dns_name(&origin) || !origin.contains('.') {
                skipped.push(format!(
                    "zone {}: {:?} is not an origin a LunaDnsZone takes",
                    zone.id, zone.name
                ));
                continue;
            }
            let ttl = zone.ttl.filter(|ttl| (MIN_TTL..=MAX_TTL).contains(ttl));
            let mut records = Vec::new();
            for record in client.dns2_record_list(&zone.id).await? {
                let record_type = record.record_type.trim().to_ascii_uppercase();
                let name = relative_name(&record.name, &origin);
                // The zone's own records are the zone's; records of other types stay in the
                // zone untouched (without prune, the operator leaves what it does not own).
                if record_type == "SOA" || (record_type == "NS" && name == "@") {
                    continue;
                }
                let simple = matches!(record_type.as_str(), "A" | "AAAA" | "CNAME" | "TXT");
                if !simple || record.data.is_empty() || record.data.contains('\n') {
                    skipped.push(format!(
                        "zone {origin}: record {} ({record_type} {name}) is left in the zone, out of the manifest",
                        record.id
                    ));
                    continue;
                }
                let mut spec = json!({"name": name, "type": record_type, "data": record.data});
                if let Some(own) = record.ttl.filter(|own| Some(*own) != ttl) {
                    if (MIN_TTL..=MAX_TTL).contains(&own) {
                        spec["ttl"] = json!(own);
                    }
                }
                records.push(spec);
            }
            let mut spec = json!({"origin": origin, "records": records});
            if let Some(ttl) = ttl {
                spec["ttl"] = json!(ttl);
            }
            found.push(Found::new(Kind::LunaDnsZone, zone.id, origin, spec));
        }
    }
    if wanted(Kind::LunaLoadBalancer) {
        for region in client.region_list().await? {
            for lb in client.lb_list(&region.slug, None).await? {
                if !is_cloud_name(&lb.name) || lb.net_id.is_empty() {
                    skipped.push(format!(
                        "load balancer {}: its name {:?} or its network is not one a LunaLoadBalancer takes",
                        lb.id, lb.name
                    ));
                    continue;
                }
                let info = client.lb_info(&region.slug, &lb.id).await?;
                let (Some(port), method, protocol) = (
                    lb.port.or(info.lb.port),
                    first(&lb.method, &info.lb.method).to_ascii_uppercase(),
                    first(&lb.protocol, &info.lb.protocol).to_ascii_uppercase(),
                ) else {
                    skipped.push(format!("load balancer {}: its port is unknown", lb.id));
                    continue;
                };
                let members: Vec<Value> = info
                    .members
                    .iter()
                    .filter(|member| !member.ip.is_empty())
                    .map(|member| {
                        let mut written = json!({"ip": member.ip});
                        if let Some(port) = member.port.filter(|p| *p != port) {
                            written["port"] = json!(port);
                        }
                        written
                    })
                    .collect();
                let spec = json!({
                    "name": lb.name,
                    "region": region.slug,
                    "netId": lb.net_id,
                    "method": method,
                    "protocol": protocol,
                    "port": port,
                    "connectionLimit": lb.connection_limit.or(info.lb.connection_limit).unwrap_or(-1),
                    "members": members,
                });
                let object = Found::new(Kind::LunaLoadBalancer, lb.id, lb.name, spec);
                found.push(object.in_region(region.slug.clone()));
            }
        }
    }
    if wanted(Kind::LunaSSHKey) {
        for key in client.sshkey_list().await? {
            let spec = json!({"label": key.name, "publicKey": key.value});
            found.push(Found::new(Kind::LunaSSHKey, key.id, key.name, spec));
        }
    }
    if wanted(Kind::LunaStartupScript) {
        for script in client.script_list().await? {
            let content = script.content.replace("\r\n", "\n");
            let spec = json!({"name": script.name, "content": content});
            found.push(Found::new(
                Kind::LunaStartupScript,
                script.id,
                script.name,
                spec,
            ));
        }
    }
    if wanted(Kind::LunaDynamicRecord) {
        for record in client.dns_dyn_list().await? {
            if !is_dns_name(&record.name) {
                skipped.push(format!(
                    "dynamic name {}: {:?} is not one a LunaDynamicRecord takes",
                    record.id, record.name
                ));
                continue;
            }
            let spec = json!({"name": record.name, "ip": record.ip});
            found.push(Found::new(
                Kind::LunaDynamicRecord,
                record.id,
                record.name,
                spec,
            ));
        }
    }
    Ok(Read { found, skipped })
}

/// What `read` found, and what it left out and why.
struct Read {
    found: Vec<Found>,
    skipped: Vec<String>,
}

/// The manifest's form of a rule as listed: the one whose wire form is exactly `wire` (so that
/// the adopted group has nothing to change), or `None` when no rule a manifest can hold has it.
fn firewall_rule(wire: &WireRule) -> Option<FirewallRule> {
    let port = |text: &str| match text {
        "" => Some(None),
        text => text.parse::<u16>().ok().filter(|port| *port > 0).map(Some),
    };
    if wire.label.chars().count() > 128 {
        return None;
    }
    let (cidr, group_id) = match wire.remote_type.as_str() {
        "cidr" => (Some(wire.remote_value.clone()), None),
        "group" => (None, Some(wire.remote_value.clone())),
        _ => return None,
    };
    let rule = FirewallRule {
        direction: match wire.direction.as_str() {
            "ingress" => Direction::Ingress,
            "egress" => Direction::Egress,
            _ => return None,
        },
        ip_version: match wire.ip_version.as_str() {
            "ipv4" => IpVersion::IPv4,
            "ipv6" => IpVersion::IPv6,
            _ => return None,
        },
        protocol: match wire.protocol.as_str() {
            "any" => Protocol::Any,
            "tcp" => Protocol::TCP,
            "udp" => Protocol::UDP,
            "icmp" => Protocol::ICMP,
            _ => return None,
        },
        port_min: port(&wire.port_min)?,
        port_max: port(&wire.port_max)?,
        cidr,
        group_id,
        group_ref: None,
        label: Some(wire.label.clone()).filter(|label| !label.is_empty()),
    };
    // The schema's rules: ports for TCP and UDP only, the first not after the last.
    let ports = rule.port_min.is_some() || rule.port_max.is_some();
    if ports && !matches!(rule.protocol, Protocol::TCP | Protocol::UDP)
        || rule
            .port_min
            .zip(rule.port_max)
            .is_some_and(|(min, max)| min > max)
    {
        return None;
    }
    (rule.wire(None) == *wire).then_some(rule)
}

/// `a` unless it is empty, else `b`.
fn first<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.trim().is_empty() { b } else { a }
}

/// Whether `text` is a name the kinds' cloud name fields take (`CLOUD_NAME_PATTERN`, at most
/// 64 characters).
fn is_cloud_name(text: &str) -> bool {
    let mut chars = text.chars();
    text.chars().count() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'))
}

/// Whether `text` is lowercase DNS labels joined by dots, as the kinds' name fields take.
fn is_dns_name(text: &str) -> bool {
    let label = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    !text.is_empty() && text.len() <= 253 && text.split('.').all(label)
}

/// Writes `attachTo.vmId` when the object is attached to a VM.
fn attached(spec: &mut Value, vm: Option<String>) {
    if let Some(vm) = vm.filter(|vm| !vm.is_empty()) {
        spec["attachTo"] = json!({"vmId": vm});
    }
}

/// A Kubernetes object name for each object: its cloud name in DNS-1123 form, with `-<id>`
/// appended when two objects of a kind would share one (or the name has nothing usable).
fn object_names(found: &[&Found]) -> BTreeMap<(Kind, String), String> {
    let mut counts: HashMap<(Kind, String), usize> = HashMap::new();
    for object in found {
        *counts
            .entry((object.kind, dns_name(&object.name)))
            .or_default() += 1;
    }
    let mut taken: HashSet<(Kind, String)> = HashSet::new();
    let mut names = BTreeMap::new();
    for object in found {
        let base = dns_name(&object.name);
        let shared = counts
            .get(&(object.kind, base.clone()))
            .is_some_and(|count| *count > 1);
        let mut name = if base.is_empty() || shared {
            let id = dns_name(&object.id);
            let prefix = if base.is_empty() { "object" } else { &base };
            let cut: String = prefix.chars().take(62 - id.len().min(40)).collect();
            format!("{}-{id}", cut.trim_end_matches('-'))
        } else {
            base
        };
        while !taken.insert((object.kind, name.clone())) {
            name.push('x');
        }
        names.insert(key(object), name);
    }
    names
}

/// `text` as a DNS-1123 label: lowercase letters, digits and `-`, starting and ending with a
/// letter or digit, at most 63 characters.
fn dns_name(text: &str) -> String {
    let mapped: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut collapsed = String::new();
    for c in mapped.chars() {
        if !(c == '-' && collapsed.ends_with('-')) {
            collapsed.push(c);
        }
    }
    let cut: String = collapsed.trim_matches('-').chars().take(63).collect();
    cut.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(kind: Kind, id: &str, name: &str) -> Found {
        Found::new(kind, id.into(), name.into(), json!({}))
    }

    #[test]
    fn only_names_the_kinds_take_are_exported() {
        let cases = [
            ("web-1.example.com", true),
            ("home", true),
            ("Web", false),
            ("web_1", false),
            ("-web", false),
            ("a..b", false),
            ("", false),
        ];
        for (name, taken) in cases {
            assert_eq!(is_dns_name(name), taken, "{name:?}");
        }
    }

    #[test]
    fn cloud_names_become_object_names() {
        assert_eq!(dns_name("Web_1.Example.com"), "web-1-example-com");
        assert_eq!(dns_name("--a  b--"), "a-b");
        assert_eq!(dns_name("___"), "");
        assert_eq!(dns_name(&"x".repeat(80)).len(), 63);
    }

    #[test]
    fn shared_or_empty_names_take_the_id() {
        let objects = [
            found(Kind::LunaVolume, "11", "data"),
            found(Kind::LunaVolume, "12", "Data"),
            found(Kind::LunaVolume, "13", "logs"),
            found(Kind::LunaVM, "14", "data"),
            found(Kind::LunaSSHKey, "15", "!!!"),
        ];
        let refs: Vec<&Found> = objects.iter().collect();
        let names = object_names(&refs);
        let name = |kind, id: &str| names[&(kind, id.to_owned())].clone();
        assert_eq!(name(Kind::LunaVolume, "11"), "data-11");
        assert_eq!(name(Kind::LunaVolume, "12"), "data-12");
        assert_eq!(name(Kind::LunaVolume, "13"), "logs");
        assert_eq!(name(Kind::LunaVM, "14"), "data");
        assert_eq!(name(Kind::LunaSSHKey, "15"), "object-15");
    }

    #[test]
    fn an_exported_vm_becomes_a_reference() {
        let vms = HashMap::from([("7", "web")]);
        let mut attached = json!({"vmId": "7", "target": "auto"});
        to_vm_ref(attached.as_object_mut(), "vmId", &vms);
        assert_eq!(
            attached,
            json!({"vmRef": {"name": "web"}, "target": "auto"})
        );
        let mut elsewhere = json!({"vmId": "8"});
        to_vm_ref(elsewhere.as_object_mut(), "vmId", &vms);
        assert_eq!(elsewhere, json!({"vmId": "8"}));
    }

    #[test]
    fn a_manifest_that_does_not_fit_its_kind_is_refused() {
        let good = json!({
            "apiVersion": "lunanode.com/v1alpha1", "kind": "LunaSSHKey",
            "metadata": {"name": "k"}, "spec": {"label": "k", "publicKey": "ssh-ed25519 AAAA"}
        });
        assert!(check(Kind::LunaSSHKey, &good).is_ok());
        let mut bad = good.clone();
        bad["spec"]["label"] = json!(7);
        assert!(check(Kind::LunaSSHKey, &bad).is_err());
    }

    #[test]
    fn listed_rules_are_written_back_to_the_same_wire_form() {
        let wire =
            |direction: &str, protocol: &str, ports: (&str, &str), remote: (&str, &str)| WireRule {
                direction: direction.into(),
                ip_version: "ipv4".into(),
                protocol: protocol.into(),
                port_min: ports.0.into(),
                port_max: ports.1.into(),
                remote_type: remote.0.into(),
                remote_value: remote.1.into(),
                label: String::new(),
            };
        let web = wire("ingress", "tcp", ("80", "443"), ("cidr", "0.0.0.0/0"));
        let rule = firewall_rule(&web).unwrap_or_default();
        assert_eq!((rule.port_min, rule.port_max), (Some(80), Some(443)));
        let peers = wire("egress", "any", ("", ""), ("group", "12"));
        assert_eq!(
            firewall_rule(&peers).and_then(|rule| rule.group_id),
            Some("12".into())
        );
        // A port on a rule of any protocol, or a port that is not one: no manifest holds it.
        assert!(
            firewall_rule(&wire(
                "ingress",
                "any",
                ("22", "22"),
                ("cidr", "10.0.0.0/8")
            ))
            .is_none()
        );
        assert!(
            firewall_rule(&wire("ingress", "tcp", ("ssh", ""), ("cidr", "10.0.0.0/8"))).is_none()
        );
        assert!(
            firewall_rule(&wire("sideways", "tcp", ("", ""), ("cidr", "10.0.0.0/8"))).is_none()
        );
        assert!(
            firewall_rule(&wire("ingress", "tcp", ("0", "0"), ("cidr", "10.0.0.0/8"))).is_none()
        );
        assert!(is_cloud_name("web servers_1.a-b"));
        assert!(!is_cloud_name(" web") && !is_cloud_name("") && !is_cloud_name("a/b"));
        assert!(!is_cloud_name(&"a".repeat(65)));
    }
}
