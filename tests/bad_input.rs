//! Bad input: every manifest of the corpus under `tests/fixtures/bad/` is either rejected by the
//! API server when it is applied, with a clear message, or ends in a clear terminal condition,
//! with no cloud write and no hot loop. Each file says which (see the README there); cases
//! for new kinds are added by dropping files.
//!
//! The rejected cases go to one namespace that no operator watches. The condition cases go to
//! another, watched by one operator (at debug log level) against one simulator. Once every
//! condition shows, the test watches for a minute: no cloud call at all (no write, no list), and
//! no Kubernetes write either (every object keeps its resourceVersion). Then it greps everything the
//! operator shows (logs, Events, the objects' status, `/metrics`) for the API keys of every
//! credentials Secret and any VM password.
//!
//! Manifests are parsed into `DynamicObject`s and sent as `kubectl apply` sends a new object:
//! a create (a replace, for the second version of an object) with strict field validation, so
//! wrong types reach the server's schema validation. `LUNANODE_BAD_INPUT_WINDOW_SECONDS`
//! shortens the quiet minute while developing; `LUNANODE_BAD_INPUT_KNOWN_FAILURES=1` also runs
//! the cases marked as known failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use k8s_openapi::ByteString;
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DynamicObject, GroupVersionKind},
    core::Resource,
};
use serde::Deserialize;
use serde_json::Value;
use support::{
    World,
    secrets::{find_secrets, shown_by_operator},
    wait,
};

/// Where the corpus lives.
fn corpus_dir() -> PathBuf {
    support::repo_root().join("tests/fixtures/bad")
}

/// How long the quiet window lasts.
fn window() -> Duration {
    let seconds = std::env::var("LUNANODE_BAD_INPUT_WINDOW_SECONDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(seconds)
}

/// At most this many cloud calls for the whole condition namespace in the window: none, as the
/// README says. An object in a terminal condition waits for a change; nothing polls for it.
const WINDOW_CALL_BUDGET: u64 = 0;

// ------------------------------------------------------------------------------------------
// The corpus.
// ------------------------------------------------------------------------------------------

/// What a case must end in.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// The API server refuses the last document; its message contains this text.
    Rejected(String),
    /// The last document is accepted and gets a condition with status False and one of these
    /// reasons.
    Condition(Vec<String>),
}

/// One file of the corpus.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    expect: Expect,
    /// A text the condition message must contain.
    message: Option<String>,
    why: String,
    known_failure: Option<String>,
    docs: Vec<DynamicObject>,
}

/// What the templates in the corpus stand for.
struct Template {
    api_id: String,
    api_key: String,
    other_namespace: String,
}

fn base64(bytes: &[u8]) -> String {
    serde_json::to_value(ByteString(bytes.to_vec()))
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// Expands `${API_ID}`, `${API_ID_BASE64}`, `${API_KEY}`, `${OTHER_NAMESPACE}` and
/// `${REPEAT:<count>:<text>}`.
fn expand(text: &str, template: &Template) -> String {
    let mut out = text
        .replace("${API_ID_BASE64}", &base64(template.api_id.as_bytes()))
        .replace("${API_ID}", &template.api_id)
        .replace("${API_KEY}", &template.api_key)
        .replace("${OTHER_NAMESPACE}", &template.other_namespace);
    while let Some(start) = out.find("${REPEAT:") {
        let rest = &out[start + "${REPEAT:".len()..];
        let end = rest.find('}').expect("a closing brace after ${REPEAT:");
        let (count, piece) = rest[..end]
            .split_once(':')
            .expect("${REPEAT:<count>:<text>}");
        let count: usize = count.parse().expect("a count in ${REPEAT:...}");
        let expanded = piece.repeat(count);
        out = format!("{}{expanded}{}", &out[..start], &rest[end + 1..]);
    }
    out
}

fn load_case(path: &Path, template: &Template) -> Case {
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path).unwrap();
    let mut header = BTreeMap::new();
    for line in text.lines().take_while(|line| line.starts_with('#')) {
        if let Some((key, value)) = line.trim_start_matches('#').split_once(':') {
            header.insert(key.trim().to_owned(), value.trim().to_owned());
        }
    }
    let expect = header
        .get("expect")
        .unwrap_or_else(|| panic!("{name}: no `# expect:` line"));
    let expect = if let Some(text) = expect.strip_prefix("rejected:") {
        Expect::Rejected(text.trim().to_owned())
    } else if let Some(reasons) = expect.strip_prefix("condition:") {
        Expect::Condition(reasons.split('|').map(|r| r.trim().to_owned()).collect())
    } else {
        panic!("{name}: `# expect:` is `rejected: <text>` or `condition: <Reason>[|<Reason>]`");
    };
    let expanded = expand(&text, template);
    let mut docs = Vec::new();
    for document in serde_norway::Deserializer::from_str(&expanded) {
        let value = Value::deserialize(document)
            .unwrap_or_else(|error| panic!("{name}: not YAML: {error}"));
        if value.is_null() {
            continue;
        }
        let object: DynamicObject = serde_json::from_value(value)
            .unwrap_or_else(|error| panic!("{name}: not a Kubernetes object: {error}"));
        docs.push(object);
    }
    assert!(!docs.is_empty(), "{name}: no manifest");
    Case {
        name,
        expect,
        message: header.get("message").cloned(),
        why: header.get("why").cloned().unwrap_or_default(),
        known_failure: header.get("known-failure").cloned(),
        docs,
    }
}

fn load_corpus(template: &Template) -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/fixtures/bad")
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    paths.sort();
    let cases: Vec<Case> = paths.iter().map(|path| load_case(path, template)).collect();
    // Cases share namespaces: an object name may appear in one file only.
    let mut owners: BTreeMap<(String, String), String> = BTreeMap::new();
    for case in &cases {
        for doc in &case.docs {
            let key = (gvk_of(doc).kind, doc.name_any());
            if let Some(owner) = owners.insert(key.clone(), case.name.clone()) {
                assert_eq!(
                    owner, case.name,
                    "{} {} is used by two cases: {owner} and {}",
                    key.0, key.1, case.name
                );
            }
        }
    }
    cases
}

fn gvk_of(object: &DynamicObject) -> GroupVersionKind {
    let types = object.types.as_ref().expect("apiVersion and kind");
    let (group, version) = types
        .api_version
        .split_once('/')
        .unwrap_or(("", types.api_version.as_str()));
    GroupVersionKind::gvk(group, version, &types.kind)
}

// ------------------------------------------------------------------------------------------
// Applying manifests as kubectl does.
// ------------------------------------------------------------------------------------------

/// Why the server (or discovery) refused a manifest.
fn refusal(error: kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message,
        other => other.to_string(),
    }
}

/// Sends manifests: a create for a new object, a replace (with the live resourceVersion) for
/// a second version of one; strict field validation, as `kubectl apply` does by default.
struct Applier {
    client: Client,
    resources: BTreeMap<String, ApiResource>,
    live: BTreeMap<(String, String, String), DynamicObject>,
}

impl Applier {
    fn new(client: Client) -> Self {
        Self {
            client,
            resources: BTreeMap::new(),
            live: BTreeMap::new(),
        }
    }

    async fn resource(&mut self, gvk: &GroupVersionKind) -> Result<ApiResource, String> {
        let key = format!("{}/{}/{}", gvk.group, gvk.version, gvk.kind);
        if let Some(resource) = self.resources.get(&key) {
            return Ok(resource.clone());
        }
        let (resource, _) = kube::discovery::pinned_kind(&self.client, gvk)
            .await
            .map_err(refusal)?;
        self.resources.insert(key, resource.clone());
        Ok(resource)
    }

    async fn apply(
        &mut self,
        doc: &DynamicObject,
        namespace: &str,
    ) -> Result<DynamicObject, String> {
        let gvk = gvk_of(doc);
        let resource = self.resource(&gvk).await?;
        let mut doc = doc.clone();
        let namespace = doc
            .metadata
            .namespace
            .get_or_insert_with(|| namespace.to_owned())
            .clone();
        let name = doc.name_any();
        let key = (gvk.kind.clone(), namespace.clone(), name.clone());
        let collection = DynamicObject::url_path(&resource, Some(&namespace));
        let query = "fieldValidation=Strict&fieldManager=bad-input";
        let (method, url) = match self.live.get(&key) {
            Some(live) => {
                doc.metadata.resource_version = live.metadata.resource_version.clone();
                ("PUT", format!("{collection}/{name}?{query}"))
            }
            None => ("POST", format!("{collection}?{query}")),
        };
        let request = axum::http::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&doc).unwrap())
            .unwrap();
        let created: DynamicObject = self.client.request(request).await.map_err(refusal)?;
        self.live.insert(key, created.clone());
        Ok(created)
    }

    async fn get(&mut self, doc: &DynamicObject, namespace: &str) -> Option<DynamicObject> {
        let resource = self.resource(&gvk_of(doc)).await.ok()?;
        let namespace = doc.metadata.namespace.as_deref().unwrap_or(namespace);
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resource);
        api.get(&doc.name_any()).await.ok()
    }
}

/// The False condition of one of `reasons` on the object (Synced first), at its generation.
fn matching_condition(object: &DynamicObject, reasons: &[String]) -> Option<(String, String)> {
    let conditions = object.data["status"]["conditions"].as_array()?;
    let generation = object.metadata.generation;
    let mut ordered: Vec<&Value> = conditions.iter().collect();
    ordered.sort_by_key(|condition| condition["type"] != "Synced");
    ordered.into_iter().find_map(|condition| {
        let reason = condition["reason"].as_str()?;
        let current = condition["observedGeneration"]
            .as_i64()
            .is_none_or(|g| Some(g) == generation);
        (condition["status"] == "False" && current && reasons.iter().any(|r| r == reason)).then(
            || {
                (
                    reason.to_owned(),
                    condition["message"].as_str().unwrap_or("").to_owned(),
                )
            },
        )
    })
}

// ------------------------------------------------------------------------------------------
// The secrets grep (tests/support/secrets.rs).
// ------------------------------------------------------------------------------------------

/// The secrets of a run: the key of every credentials Secret of the corpus and of the
/// account, and the VM passwords.
fn secrets_of(cases: &[Case], api_key: &str, passwords: &[String]) -> Vec<(String, String)> {
    let mut secrets = vec![("the account's api key".to_owned(), api_key.to_owned())];
    for case in cases {
        for doc in &case.docs {
            if doc.types.as_ref().is_none_or(|t| t.kind != "Secret") {
                continue;
            }
            let mut values: Vec<(String, String)> = Vec::new();
            if let Some(map) = doc.data["stringData"].as_object() {
                values.extend(
                    map.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned())),
                );
            }
            if let Some(map) = doc.data["data"].as_object() {
                for (key, value) in map {
                    let bytes: Option<ByteString> = serde_json::from_value(value.clone()).ok();
                    if let Some(bytes) = bytes {
                        values.push((key.clone(), String::from_utf8_lossy(&bytes.0).into_owned()));
                    }
                }
            }
            for (key, value) in values {
                let value = value.trim().to_owned();
                if key.to_ascii_lowercase().contains("key") && value.chars().count() >= 12 {
                    secrets.push((
                        format!("the {key} of {}/{}", case.name, doc.name_any()),
                        value,
                    ));
                }
            }
        }
    }
    secrets.extend(
        passwords
            .iter()
            .map(|password| ("a vm password".to_owned(), password.clone())),
    );
    secrets
}

// ------------------------------------------------------------------------------------------
// The test.
// ------------------------------------------------------------------------------------------

/// What happened to one case.
struct Outcome {
    case: String,
    shown: String,
    problem: Option<String>,
}

fn cut(text: &str, length: usize) -> String {
    let text = text.replace('\n', " ");
    if text.chars().count() <= length {
        text
    } else {
        format!("{}...", text.chars().take(length).collect::<String>())
    }
}

#[tokio::test]
async fn bad_input_corpus() {
    // The conditions go to the world's namespace, watched by its operator (at debug level).
    let world = World::setup("bad-condition", 'b')
        .operator_args(&["--log-level", "debug"])
        .start()
        .await;
    let (client, condition_ns, operator) = (&world.client, world.ns.clone(), world.operator());
    let account = world.account.clone();
    let rejected_ns = support::namespace(client, "bad-rejected").await;
    let other_ns = support::namespace(client, "bad-other").await;
    let template = Template {
        api_id: account.0.clone(),
        api_key: account.1.clone(),
        other_namespace: other_ns.clone(),
    };
    let run_known = std::env::var_os("LUNANODE_BAD_INPUT_KNOWN_FAILURES").is_some();
    let all = load_corpus(&template);
    let (cases, skipped): (Vec<Case>, Vec<Case>) = all
        .iter()
        .cloned()
        .partition(|case| run_known || case.known_failure.is_none());
    assert!(
        cases.len() >= 50,
        "a corpus of at least 50 cases: {}",
        cases.len()
    );

    let sim = &world.sim;
    let mut applier = Applier::new(client.clone());
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();

    // 1. Rejections: every document but the last is accepted, the last is refused.
    for case in cases.iter() {
        let Expect::Rejected(wanted) = &case.expect else {
            continue;
        };
        let (setup, last) = case.docs.split_at(case.docs.len() - 1);
        let mut problem = None;
        for doc in setup {
            if let Err(message) = applier.apply(doc, &rejected_ns).await {
                problem = Some(format!("a setup manifest was refused: {message}"));
            }
        }
        let shown = match applier.apply(&last[0], &rejected_ns).await {
            Ok(_) => {
                problem.get_or_insert_with(|| "accepted, but it must be rejected".to_owned());
                "accepted".to_owned()
            }
            Err(message) => {
                if !message.contains(wanted.as_str()) {
                    problem.get_or_insert_with(|| {
                        format!("rejected, but the message lacks {wanted:?}")
                    });
                }
                format!("rejected by API server: {message}")
            }
        };
        outcomes.insert(
            case.name.clone(),
            Outcome {
                case: case.name.clone(),
                shown,
                problem,
            },
        );
    }

    // 2. Conditions: everything is accepted; then each object shows its condition.
    let condition_cases: Vec<&Case> = cases
        .iter()
        .filter(|case| matches!(case.expect, Expect::Condition(_)))
        .collect();
    let mut waiting: BTreeMap<String, &Case> = BTreeMap::new();
    for case in &condition_cases {
        let mut problem = None;
        for doc in &case.docs {
            if let Err(message) = applier.apply(doc, &condition_ns).await {
                problem = Some(format!("refused, but it must be accepted: {message}"));
            }
        }
        match problem {
            Some(problem) => {
                outcomes.insert(
                    case.name.clone(),
                    Outcome {
                        case: case.name.clone(),
                        shown: "refused".into(),
                        problem: Some(problem),
                    },
                );
            }
            None => {
                waiting.insert(case.name.clone(), case);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut seen: BTreeMap<String, DynamicObject> = BTreeMap::new();
    while !waiting.is_empty() && Instant::now() < deadline {
        let mut done = Vec::new();
        for (name, case) in &waiting {
            let Expect::Condition(reasons) = &case.expect else {
                unreachable!()
            };
            let last = case.docs.last().unwrap();
            let Some(object) = applier.get(last, &condition_ns).await else {
                continue;
            };
            if let Some((reason, message)) = matching_condition(&object, reasons) {
                let problem = case
                    .message
                    .as_ref()
                    .filter(|wanted| !message.contains(wanted.as_str()))
                    .map(|wanted| format!("condition {reason}, but the message lacks {wanted:?}"));
                outcomes.insert(
                    name.clone(),
                    Outcome {
                        case: name.clone(),
                        shown: format!("condition {reason}: {message}"),
                        problem,
                    },
                );
                done.push(name.clone());
            }
            seen.insert(name.clone(), object);
        }
        for name in done {
            waiting.remove(&name);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for (name, case) in &waiting {
        let Expect::Condition(reasons) = &case.expect else {
            unreachable!()
        };
        let shown = seen
            .get(name)
            .map_or_else(|| "not found".to_owned(), wait::describe);
        outcomes.insert(
            name.clone(),
            Outcome {
                case: name.clone(),
                shown: shown.clone(),
                problem: Some(format!("no condition {} in time", reasons.join("|"))),
            },
        );
    }

    // 3. The quiet minute: no cloud write, hardly a call, no Kubernetes write.
    let versions_before = resource_versions(&mut applier, &condition_cases, &condition_ns).await;
    let before = sim.admin_get("stats").await;
    tokio::time::sleep(window()).await;
    let after = sim.admin_get("stats").await;
    let versions_after = resource_versions(&mut applier, &condition_cases, &condition_ns).await;
    let calls = |stats: &Value| stats["totals"]["calls"].as_u64().unwrap_or(0);
    let window_calls = calls(&after) - calls(&before);
    let actions = |stats: &Value| -> BTreeMap<String, (u64, u64)> {
        stats["actions"]
            .as_object()
            .map(|map| {
                map.iter()
                    .map(|(action, counts)| {
                        let calls = counts["calls"].as_u64().unwrap_or(0);
                        (action.clone(), (calls, counts["ok"].as_u64().unwrap_or(0)))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let is_read = |action: &str| {
        let verb = action.rsplit('/').next().unwrap_or(action);
        matches!(verb, "list" | "info" | "details" | "check-types") || verb.ends_with("-list")
    };
    let (actions_before, actions_after) = (actions(&before), actions(&after));
    let window_writes: u64 = actions_after
        .iter()
        .filter(|(action, _)| !is_read(action))
        .map(|(action, (calls, _))| calls - actions_before.get(action).map_or(0, |c| c.0))
        .sum();
    let successful_writes: Vec<String> = actions_after
        .iter()
        .filter(|(action, (_, ok))| !is_read(action) && *ok > 0)
        .map(|(action, (_, ok))| format!("{action} {ok}"))
        .collect();
    let create_failed = outcomes
        .values()
        .filter(|outcome| outcome.shown.starts_with("condition CreateFailed"))
        .count() as u64;
    let creates = actions_after.get("vm/create").map_or(0, |c| c.0);
    let vms = sim.vms().await;
    let rewritten: Vec<&String> = versions_before
        .iter()
        .filter(|(name, version)| versions_after.get(*name) != Some(version))
        .map(|(name, _)| name)
        .collect();

    // 4. The table.
    println!(
        "\nbad input: {} cases ({} skipped as known failures)",
        cases.len(),
        skipped.len()
    );
    println!("{:<40} outcome", "case");
    for case in &cases {
        let outcome = &outcomes[&case.name];
        let mark = if outcome.problem.is_some() {
            "FAIL "
        } else {
            ""
        };
        println!("{:<40} {mark}{}", outcome.case, cut(&outcome.shown, 150));
    }
    for case in &skipped {
        println!(
            "{:<40} KNOWN FAILURE, skipped: {}",
            case.name,
            case.known_failure.as_deref().unwrap_or_default()
        );
    }
    let rejected = cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Rejected(_)))
        .count();
    println!(
        "\n{rejected} rejected by the API server, {} terminal conditions",
        condition_cases.len()
    );
    println!(
        "cloud calls before the window, by action: {}",
        actions_before
            .iter()
            .map(|(action, (calls, ok))| format!("{action} {calls} ({ok} ok)"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let window_by_action: Vec<String> = actions_after
        .iter()
        .filter_map(|(action, (calls, _))| {
            let new = calls - actions_before.get(action).map_or(0, |c| c.0);
            (new > 0).then(|| format!("{action} {new}"))
        })
        .collect();
    println!(
        "in the {} s window: {window_calls} cloud calls ({}), {window_writes} writes; {} objects rewritten",
        window().as_secs(),
        window_by_action.join(", "),
        rewritten.len()
    );
    println!(
        "overall: {creates} vm/create calls for {create_failed} CreateFailed cases, successful writes: [{}], {} VMs",
        successful_writes.join(", "),
        vms.len()
    );

    // 5. Secrets: nowhere the operator shows anything.
    let mut resources: Vec<ApiResource> = Vec::new();
    for case in &cases {
        for doc in &case.docs {
            let gvk = gvk_of(doc);
            if gvk.group == "lunanode.com" {
                if let Ok(resource) = applier.resource(&gvk).await {
                    if !resources.iter().any(|r| r.kind == resource.kind) {
                        resources.push(resource);
                    }
                }
            }
        }
    }
    let namespaces = [condition_ns.clone(), rejected_ns.clone(), other_ns.clone()];
    let shown = shown_by_operator(client, &namespaces, &resources, operator).await;
    let passwords = support::processes::reported_passwords(&sim.endpoint(), &account).await;
    let secrets = secrets_of(&all, &account.1, &passwords);
    let leaks = find_secrets(&shown, &secrets);
    let debug_lines = operator
        .logs()
        .lines()
        .filter(|line| line.contains("DEBUG"))
        .count();
    println!(
        "secrets grep: {} secrets against {} sources ({} KiB of logs, {debug_lines} debug lines): {} found",
        secrets.len(),
        shown.len(),
        operator.logs().len() / 1024,
        leaks.len()
    );

    // 6. The verdict.
    let mut problems: Vec<String> = outcomes
        .values()
        .filter_map(|outcome| {
            outcome
                .problem
                .as_ref()
                .map(|p| format!("{}: {p} ({})", outcome.case, outcome.shown))
        })
        .collect();
    if window_writes > 0 {
        problems.push(format!("{window_writes} cloud writes in the quiet window"));
    }
    if window_calls > WINDOW_CALL_BUDGET {
        problems.push(format!(
            "{window_calls} cloud calls in the quiet window (at most {WINDOW_CALL_BUDGET})"
        ));
    }
    if !successful_writes.is_empty() || !vms.is_empty() {
        problems.push(format!(
            "the cloud was written to: [{}], {} VMs",
            successful_writes.join(", "),
            vms.len()
        ));
    }
    if creates > create_failed {
        problems.push(format!(
            "{creates} vm/create calls for {create_failed} refused creates: a create was retried"
        ));
    }
    if !rewritten.is_empty() {
        problems.push(format!(
            "objects rewritten in the quiet window: {rewritten:?}"
        ));
    }
    if debug_lines == 0 {
        problems.push("the operator logged no debug line: the grep would prove little".into());
    }
    problems.extend(leaks);
    assert!(
        problems.is_empty(),
        "bad input:\n  {}",
        problems.join("\n  ")
    );
}

/// The resourceVersion of every condition case's object.
async fn resource_versions(
    applier: &mut Applier,
    cases: &[&Case],
    namespace: &str,
) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    for case in cases {
        let last = case.docs.last().unwrap();
        if let Some(object) = applier.get(last, namespace).await {
            versions.insert(
                case.name.clone(),
                object.resource_version().unwrap_or_default(),
            );
        }
    }
    versions
}

/// The corpus is well-formed and large enough, without a cluster.
#[test]
fn the_corpus_is_well_formed() {
    let template = Template {
        api_id: "a".repeat(16),
        api_key: "k".repeat(128),
        other_namespace: "other".into(),
    };
    let cases = load_corpus(&template);
    let rejected = cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Rejected(_)))
        .count();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    assert!(rejected > 0 && rejected < cases.len());
    for case in &cases {
        assert!(!case.why.is_empty(), "{}: no `# why:`", case.name);
        if let Expect::Condition(_) = case.expect {
            assert!(
                case.docs
                    .last()
                    .unwrap()
                    .types
                    .as_ref()
                    .is_some_and(|t| t.api_version.starts_with("lunanode.com/")),
                "{}: a condition case ends with a lunanode.com object",
                case.name
            );
        }
    }
    assert_eq!(
        expand("${REPEAT:3:ab}-${REPEAT:2:c}", &template),
        "ababab-cc"
    );
}
