//! The commands of the kubectl plugin that look at the cluster: `tree` (an object, what it
//! uses and what uses it) and `why` (its conditions, what it holds, and the Events that record
//! what the operator did to it).
//!
//! The binary is the plugin when it is installed as `kubectl-lunanode` on the PATH (a link or a
//! copy): `kubectl lunanode plan -f ...`, `kubectl lunanode export`, `kubectl lunanode tree
//! lunavm/web-1`, `kubectl lunanode why lvol/web-1-data`. Both read only, through KUBECONFIG
//! (or the in-cluster configuration); Secrets are looked at by their metadata alone.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use clap::Args;
use k8s_openapi::api::{
    core::v1::{ConfigMap, Secret},
    events::v1::Event,
};
use kube::{
    Api, ResourceExt,
    api::{ApiResource, DynamicObject, ListParams},
};
use serde_json::Value;

use crate::api::common::DEFAULT_CREDENTIALS_SECRET;

/// Which object: `KIND/NAME` (a kind, its plural or its short name, without regard to case:
/// `lunavm/web-1`, `lvm/web-1`, `LunaVolume/data`), in a namespace.
#[derive(Debug, Args)]
pub struct Target {
    /// `KIND/NAME`.
    pub object: String,
    /// The namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

/// Arguments of `tree`.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// The object.
    #[command(flatten)]
    pub target: Target,
}

/// Arguments of `why`.
#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The object.
    #[command(flatten)]
    pub target: Target,
}

/// A spec field that names another object of the namespace, and the kind it names.
const REFERENCES: &[(&str, &str)] = &[
    ("vmRef", "LunaVM"),
    ("floatingIPRef", "LunaFloatingIP"),
    ("networkRef", "LunaNetwork"),
    ("sshKeyRef", "LunaSSHKey"),
    ("securityGroupRefs", "LunaSecurityGroup"),
    ("groupRef", "LunaSecurityGroup"),
    ("startupScriptRefs", "LunaStartupScript"),
    ("imageRef", "LunaImage"),
    ("snapshotRef", "LunaVolumeSnapshot"),
    ("volumeSnapshotRef", "LunaVolumeSnapshot"),
    ("volumeRef", "LunaVolume"),
    ("contactRefs", "LunaMonitorContact"),
    ("credentialsSecretRef", "Secret"),
    ("writeConnectionSecretToRef", "Secret"),
    ("passwordSecretRef", "Secret"),
    ("privateKeySecretRef", "Secret"),
    ("secretKeyRef", "Secret"),
    ("addressFrom", "Secret"),
    ("configMapKeyRef", "ConfigMap"),
];

/// One edge: the field at `path` of an object names `kind` `name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Reference {
    path: String,
    kind: &'static str,
    name: String,
}

/// The objects `spec` names, by field (every depth, lists included).
fn references(spec: &Value) -> Vec<Reference> {
    fn walk(value: &Value, path: &str, found: &mut Vec<Reference>) {
        match value {
            Value::Object(fields) => {
                for (field, inner) in fields {
                    let here = format!("{path}.{field}");
                    let kind = REFERENCES
                        .iter()
                        .find(|(name, _)| name == field)
                        .map(|(_, kind)| *kind);
                    let named = |value: &Value| value["name"].as_str().map(str::to_owned);
                    match (kind, inner) {
                        (Some(kind), Value::Array(items)) => {
                            for name in items.iter().filter_map(named) {
                                found.push(Reference {
                                    path: here.clone(),
                                    kind,
                                    name,
                                });
                            }
                        }
                        (Some(kind), inner) => {
                            if let Some(name) = named(inner) {
                                found.push(Reference {
                                    path: here.clone(),
                                    kind,
                                    name,
                                });
                            }
                        }
                        (None, inner) => walk(inner, &here, found),
                    }
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{index}]"), found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(spec, "spec", &mut found);
    // Every kind uses its credentials Secret, named or not.
    if !found.iter().any(|r| r.path == "spec.credentialsSecretRef") {
        found.push(Reference {
            path: "spec.credentialsSecretRef (default)".into(),
            kind: "Secret",
            name: DEFAULT_CREDENTIALS_SECRET.into(),
        });
    }
    found
}

/// The lunanode.com kind `text` names (kind, plural, singular or short name, any case).
fn resolve_kind(text: &str) -> Option<ApiResource> {
    let text = text.to_ascii_lowercase();
    let text = text.split('.').next().unwrap_or_default();
    let mut short: BTreeMap<String, String> = BTreeMap::new();
    macro_rules! shortnames {
        ($($kind:ty),* $(,)?) => {
            $(
                for name in <$kind as kube::CustomResourceExt>::shortnames() {
                    short.insert(
                        name.to_ascii_lowercase(),
                        <$kind as kube::Resource>::kind(&()).into_owned(),
                    );
                }
            )*
        };
    }
    crate::for_each_kind!(shortnames);
    crate::api::kinds::api_resources()
        .into_iter()
        .find(|resource| {
            resource.kind.to_ascii_lowercase() == text
                || resource.plural == text
                || short.get(text) == Some(&resource.kind)
        })
}

/// `KIND/NAME` split and resolved.
fn parse_target(target: &str) -> anyhow::Result<(ApiResource, String)> {
    let (kind, name) = target
        .split_once('/')
        .context("name the object as KIND/NAME, e.g. lunavm/web-1")?;
    let resource =
        resolve_kind(kind).with_context(|| format!("{kind} is not a lunanode.com kind"))?;
    anyhow::ensure!(!name.is_empty(), "no name after {kind}/");
    Ok((resource, name.to_owned()))
}

/// Every lunanode.com object of the namespace, by (kind, name).
struct Namespace {
    client: kube::Client,
    namespace: String,
    objects: BTreeMap<(String, String), DynamicObject>,
}

impl Namespace {
    async fn load(target: &Target) -> anyhow::Result<(Self, ApiResource, String)> {
        let (resource, name) = parse_target(&target.object)?;
        let client = kube::Client::try_default()
            .await
            .context("unable to reach Kubernetes (KUBECONFIG or in-cluster config)")?;
        let namespace = target
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned());
        let mut objects = BTreeMap::new();
        for kind in crate::api::kinds::api_resources() {
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &kind);
            let listed = match api.list(&ListParams::default()).await {
                Ok(listed) => listed,
                // A kind newer than the cluster's CRDs: none of its objects there.
                Err(kube::Error::Api(status)) if status.code == 404 => continue,
                Err(error) => {
                    return Err(error).with_context(|| {
                        format!("unable to list the {} of {namespace}", kind.plural)
                    });
                }
            };
            for object in listed.items {
                objects.insert((kind.kind.clone(), object.name_any()), object);
            }
        }
        anyhow::ensure!(
            objects.contains_key(&(resource.kind.clone(), name.clone())),
            "{} {namespace}/{name} does not exist",
            resource.kind
        );
        Ok((
            Self {
                client,
                namespace,
                objects,
            },
            resource,
            name,
        ))
    }

    fn get(&self, kind: &str, name: &str) -> Option<&DynamicObject> {
        self.objects.get(&(kind.to_owned(), name.to_owned()))
    }

    /// One line on an object: its readiness and cloud ID, or that it is missing.
    async fn describe(&self, kind: &str, name: &str) -> String {
        match kind {
            "Secret" | "ConfigMap" => {
                let found = if kind == "Secret" {
                    Api::<Secret>::namespaced(self.client.clone(), &self.namespace)
                        .get_metadata_opt(name)
                        .await
                        .map(|found| found.is_some())
                } else {
                    Api::<ConfigMap>::namespaced(self.client.clone(), &self.namespace)
                        .get_metadata_opt(name)
                        .await
                        .map(|found| found.is_some())
                };
                match found {
                    Ok(true) => "exists".into(),
                    Ok(false) => "missing".into(),
                    Err(error) => format!("unknown ({error})"),
                }
            }
            _ => match self.get(kind, name) {
                Some(object) => summary(object),
                None => "missing".into(),
            },
        }
    }

    /// The objects whose spec names `kind` `name`, each with the fields that do.
    fn users(&self, kind: &str, name: &str) -> Vec<(String, String, String)> {
        let mut users = Vec::new();
        for ((user_kind, user_name), object) in &self.objects {
            let paths: Vec<String> = references(&object.data["spec"])
                .into_iter()
                .filter(|reference| reference.kind == kind && reference.name == name)
                .map(|reference| reference.path)
                .collect();
            if !paths.is_empty() {
                users.push((paths.join(", "), user_kind.clone(), user_name.clone()));
            }
        }
        users
    }

    /// The objects a controlling owner reference ties to `uid` (a schedule's snapshots).
    fn owned(&self, uid: &str) -> Vec<(String, String)> {
        self.objects
            .iter()
            .filter(|(_, object)| {
                object
                    .owner_references()
                    .iter()
                    .any(|owner| owner.uid == uid)
            })
            .map(|((kind, name), _)| (kind.clone(), name.clone()))
            .collect()
    }
}

/// `Ready (id 42)`, `not Ready: WaitingForVM: ...`, `being deleted`.
fn summary(object: &DynamicObject) -> String {
    let status = &object.data["status"];
    let ready = status["conditions"]
        .as_array()
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == "Ready"));
    let mut text = match ready {
        Some(ready) if ready["status"] == "True" => "Ready".to_owned(),
        Some(ready) => format!(
            "not Ready: {}: {}",
            ready["reason"].as_str().unwrap_or_default(),
            ready["message"].as_str().unwrap_or_default()
        ),
        None => "not looked at yet".to_owned(),
    };
    if let Some(id) = status["id"].as_str() {
        text.push_str(&format!(" (id {id})"));
    }
    if object.metadata.deletion_timestamp.is_some() {
        text.push_str(", being deleted");
    }
    text
}

impl TreeArgs {
    /// Prints the tree; the exit code.
    pub async fn run(self) -> anyhow::Result<i32> {
        let (space, resource, name) = Namespace::load(&self.target).await?;
        let root = (resource.kind.clone(), name.clone());
        let mut seen = BTreeSet::from([root.clone()]);
        println!(
            "{} {}/{}: {}",
            root.0,
            space.namespace,
            root.1,
            space.describe(&root.0, &root.1).await
        );
        let mut lines = Vec::new();
        walk(&space, &root, Direction::Uses, 1, &mut seen, &mut lines).await;
        walk(&space, &root, Direction::UsedBy, 1, &mut seen, &mut lines).await;
        for line in lines {
            println!("{line}");
        }
        Ok(0)
    }
}

/// Which edges a walk of the tree follows.
#[derive(Debug, Clone, Copy)]
enum Direction {
    /// What an object's spec names.
    Uses,
    /// What names the object, or is owned by it.
    UsedBy,
}

/// The edges of `object` in `direction`, as (text, kind, name), sorted (uses by field). Below the first level
/// (`depth` > 1), a credentials Secret the first level shows already is left out.
fn edges(
    space: &Namespace,
    object: &(String, String),
    direction: Direction,
    depth: usize,
    lines: &[String],
) -> Vec<(String, String, String)> {
    let mut edges = Vec::new();
    match direction {
        Direction::Uses => {
            let Some(found) = space.get(&object.0, &object.1) else {
                return edges;
            };
            let mut named = references(&found.data["spec"]);
            // By field: the credentials come first, and the ones below leave them out.
            named.sort();
            for reference in named {
                let shown = format!(
                    "  uses Secret {} (spec.credentialsSecretRef",
                    reference.name
                );
                if depth > 1
                    && reference.path.starts_with("spec.credentialsSecretRef")
                    && lines.iter().any(|line| line.starts_with(&shown))
                {
                    continue;
                }
                let (kind, name) = (reference.kind, reference.name);
                // The operator writes the connection Secret; the others it reads.
                let verb = if reference.path.ends_with("writeConnectionSecretToRef") {
                    "writes"
                } else {
                    "uses"
                };
                edges.push((
                    format!("{verb} {kind} {name} ({})", reference.path),
                    kind.to_owned(),
                    name,
                ));
            }
        }
        Direction::UsedBy => {
            for (paths, kind, name) in space.users(&object.0, &object.1) {
                edges.push((format!("used by {kind} {name} ({paths})"), kind, name));
            }
            if let Some(uid) = space.get(&object.0, &object.1).and_then(|o| o.uid()) {
                for (kind, name) in space.owned(&uid) {
                    edges.push((format!("owns {kind} {name}"), kind, name));
                }
            }
            edges.sort();
        }
    }
    edges
}

/// The edges of `object` in `direction`, one line each, and in turn theirs, depth first; each
/// object's own edges once.
fn walk<'a>(
    space: &'a Namespace,
    object: &'a (String, String),
    direction: Direction,
    depth: usize,
    seen: &'a mut BTreeSet<(String, String)>,
    lines: &'a mut Vec<String>,
) -> futures::future::BoxFuture<'a, ()> {
    Box::pin(async move {
        for (text, kind, name) in edges(space, object, direction, depth, lines) {
            let state = space.describe(&kind, &name).await;
            lines.push(format!("{}{text}: {state}", "  ".repeat(depth)));
            let key = (kind, name);
            if seen.insert(key.clone()) {
                walk(space, &key, direction, depth + 1, seen, lines).await;
            }
        }
    })
}

impl WhyArgs {
    /// Prints the explanation; the exit code (1 when the object is not Ready).
    pub async fn run(self) -> anyhow::Result<i32> {
        let (space, resource, name) = Namespace::load(&self.target).await?;
        let Some(object) = space.get(&resource.kind, &name) else {
            anyhow::bail!("{} {name} does not exist", resource.kind);
        };
        let status = &object.data["status"];
        println!(
            "{} {}/{}: {}",
            resource.kind,
            space.namespace,
            name,
            summary(object)
        );
        println!(
            "generation {}, looked at for generation {}",
            object.metadata.generation.unwrap_or_default(),
            status["observedGeneration"]
                .as_i64()
                .map_or_else(|| "none yet".to_owned(), |g| g.to_string())
        );
        let annotations = object.annotations();
        for (annotation, what) in [
            ("lunanode.com/external-id", "cloud object recorded"),
            ("lunanode.com/create-pending", "create under way"),
            ("lunanode.com/paused", "paused"),
        ] {
            if let Some(value) = annotations.get(annotation) {
                println!("{what}: {value}");
            }
        }
        println!("conditions:");
        for condition in status["conditions"].as_array().into_iter().flatten() {
            println!(
                "  {:<12} {:<5} {} since {}: {}",
                condition["type"].as_str().unwrap_or_default(),
                condition["status"].as_str().unwrap_or_default(),
                condition["reason"].as_str().unwrap_or_default(),
                condition["lastTransitionTime"].as_str().unwrap_or_default(),
                condition["message"].as_str().unwrap_or_default()
            );
        }
        if let Some(at_provider) = status.get("atProvider").filter(|v| !v.is_null()) {
            println!("at the provider: {at_provider}");
        }
        println!("events (the operator's calls and findings, oldest first):");
        let events: Api<Event> = Api::namespaced(space.client.clone(), &space.namespace);
        let uid = object.uid().unwrap_or_default();
        let mut found: Vec<(String, String)> = events
            .list(&ListParams::default())
            .await
            .context("unable to list the namespace's Events")?
            .items
            .into_iter()
            .filter(|event| {
                // This object's, not those of an earlier object of the same name.
                event
                    .regarding
                    .as_ref()
                    .is_some_and(|regarding| match &regarding.uid {
                        Some(regarding) => *regarding == uid,
                        None => {
                            regarding.kind.as_deref() == Some(resource.kind.as_str())
                                && regarding.name.as_deref() == Some(name.as_str())
                        }
                    })
            })
            .map(|event| {
                let when = event
                    .series
                    .as_ref()
                    .map(|series| series.last_observed_time.0.to_string())
                    .unwrap_or_else(|| {
                        event
                            .event_time
                            .as_ref()
                            .map(|t| t.0.to_string())
                            .unwrap_or_default()
                    });
                let count = event.series.as_ref().map_or(1, |series| series.count);
                let line = format!(
                    "  {when} {} {} {}: {}{}",
                    event.type_.unwrap_or_default(),
                    event.action.unwrap_or_default(),
                    event.reason.unwrap_or_default(),
                    event.note.unwrap_or_default(),
                    if count > 1 {
                        format!(" (x{count})")
                    } else {
                        String::new()
                    }
                );
                (when, line)
            })
            .collect();
        found.sort();
        if found.is_empty() {
            println!("  none (Events expire after an hour by default)");
        }
        for (_, line) in found {
            println!("{line}");
        }
        let ready = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        Ok(if ready { 0 } else { 1 })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn references_are_found_at_every_depth() {
        let spec = serde_json::json!({
            "attachTo": {"vmRef": {"name": "web-1"}, "target": "auto"},
            "securityGroupRefs": [{"name": "web"}, {"name": "ssh"}],
            "source": {"secretKeyRef": {"name": "boot", "key": "script"}},
            "members": [{"vmRef": {"name": "app-1"}}],
        });
        let found: Vec<(String, &str, String)> = references(&spec)
            .into_iter()
            .map(|r| (r.path, r.kind, r.name))
            .collect();
        let expect =
            |path: &str, kind: &'static str, name: &str| (path.to_owned(), kind, name.to_owned());
        assert!(found.contains(&expect("spec.attachTo.vmRef", "LunaVM", "web-1")));
        assert!(found.contains(&expect(
            "spec.securityGroupRefs",
            "LunaSecurityGroup",
            "ssh"
        )));
        assert!(found.contains(&expect("spec.source.secretKeyRef", "Secret", "boot")));
        assert!(found.contains(&expect("spec.members[0].vmRef", "LunaVM", "app-1")));
        assert!(found.contains(&expect(
            "spec.credentialsSecretRef (default)",
            "Secret",
            "lunanode-credentials"
        )));
    }

    #[test]
    fn kinds_are_named_as_kubectl_names_them() {
        for text in ["lunavm", "LunaVM", "lunavms", "lvm", "lunavms.lunanode.com"] {
            assert_eq!(
                resolve_kind(text).map(|r| r.kind),
                Some("LunaVM".into()),
                "{text}"
            );
        }
        assert!(resolve_kind("pod").is_none());
        assert!(parse_target("lunavm").is_err());
        assert!(parse_target("lunavm/").is_err());
        assert_eq!(parse_target("lvol/data").unwrap().1, "data");
    }
}
