//! Counters read from outside the operator: the simulator's per-action call counts
//! (`/_sim/stats`) and the apiserver's `apiserver_request_total` (its `/metrics`).

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, Result};
use serde_json::Value;

/// `read`, tried again (up to ten times, a second apart) when it fails: a poll of the
/// apiserver or the simulator can meet a connection the server just closed, and one lost poll
/// must not end a run of many minutes.
pub async fn retrying<T, F, Fut>(what: &str, mut read: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match read().await {
            Ok(value) => return Ok(value),
            Err(error) if attempt < 10 => {
                eprintln!("  {what} failed (attempt {attempt}), trying again: {error:#}");
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(error) => return Err(error.context(format!("{what} failed ten times"))),
        }
    }
}

/// Creates `object`, again after a failure; "already exists" after a lost answer is the
/// earlier attempt's success (the benchmark works in a namespace of its own).
pub async fn create<K>(api: &kube::Api<K>, object: &K) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    settled("create", 409, || async {
        api.create(&kube::api::PostParams::default(), object)
            .await
            .map(drop)
    })
    .await
}

/// Deletes the object `name`, again after a failure; "not found" after a lost answer is the
/// earlier attempt's success. One DELETE per object, as `kubectl delete -f` sends them: a single
/// `deletecollection` of thousands of objects holds one request open until every one is marked,
/// and the apiserver closed it before the end at N = 5000.
pub async fn delete<K>(api: &kube::Api<K>, name: &str) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    settled("delete", 404, || async {
        api.delete(name, &kube::api::DeleteParams::default())
            .await
            .map(drop)
    })
    .await
}

/// Runs the write `call` until it succeeds or answers `done_code` (what a repeat after a lost
/// answer gets), up to ten times; a refusal (invalid, forbidden) ends it at once.
async fn settled<F, Fut>(what: &str, done_code: u16, mut call: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), kube::Error>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(()) => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == done_code => return Ok(()),
            Err(kube::Error::Api(status)) if status.code < 500 && status.code != 429 => {
                anyhow::bail!("{what} refused: {}", status.message)
            }
            Err(error) if attempt < 10 => {
                eprintln!("  {what} an object failed (attempt {attempt}), trying again: {error}");
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(error) => {
                return Err(anyhow::Error::from(error).context(format!("{what} failed ten times")));
            }
        }
    }
}

/// Calls per `category/action`, or writes per `resource[/subresource] VERB`.
pub type Counts = BTreeMap<String, u64>;

/// `after - before`, without the keys that did not move.
pub fn diff(after: &Counts, before: &Counts) -> Counts {
    after
        .iter()
        .map(|(key, n)| {
            (
                key.clone(),
                n.saturating_sub(*before.get(key).unwrap_or(&0)),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

pub fn total(counts: &Counts) -> u64 {
    counts.values().sum()
}

/// The simulator's admin endpoints.
#[derive(Clone)]
pub struct Sim {
    pub base: String,
    http: reqwest::Client,
}

impl Sim {
    pub fn new(base: String) -> Self {
        Self {
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> Result<Value> {
        retrying(&format!("GET /_sim/{path}"), || async {
            Ok(self
                .http
                .get(format!("{}/_sim/{path}", self.base))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?)
        })
        .await
    }

    /// Calls answered so far, per action.
    pub async fn calls(&self) -> Result<Counts> {
        let stats = self.get("stats").await?;
        let actions = stats["actions"].as_object().context("stats.actions")?;
        Ok(actions
            .iter()
            .map(|(action, counts)| (action.clone(), counts["calls"].as_u64().unwrap_or(0)))
            .collect())
    }

    /// Everything the simulator holds (`/_sim/state`).
    pub async fn state(&self) -> Result<Value> {
        self.get("state").await
    }

    /// How many VMs the account holds.
    pub async fn vm_count(&self, api_id: &str) -> Result<usize> {
        let state = self.get("state").await?;
        Ok(match &state["accounts"][api_id]["vms"] {
            Value::Object(vms) => vms.len(),
            Value::Array(vms) => vms.len(),
            _ => 0,
        })
    }

    /// A lifecycle duration of the simulator, in seconds (`/_sim/state` `timing`).
    pub async fn timing(&self, name: &str) -> Result<Option<f64>> {
        let state = self.get("state").await?;
        Ok(state["timing"][name].as_f64())
    }
}

/// The apiserver's `/metrics`, as the admin (token from `tokens.csv`, CA from `certs/`).
pub struct Apiserver {
    url: String,
    token: String,
    http: reqwest::Client,
}

/// The resources whose writes count as "Kubernetes writes": every kind (from the registry),
/// Secrets, Events and Leases.
fn resources() -> Vec<String> {
    let mut resources = lunanode_operator::api::kinds::plurals();
    resources.extend(["secrets", "events", "leases"].map(str::to_owned));
    resources
}

/// The operator's `lunanode_reconciles_total` for `kind`, all outcomes, from its `/metrics` on
/// loopback port `port`.
pub async fn reconciles(port: u16, kind: &str) -> Result<u64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(parse_reconciles(&text, kind))
}

fn parse_reconciles(text: &str, kind: &str) -> u64 {
    text.lines()
        .filter_map(|line| line.strip_prefix("lunanode_reconciles_total{"))
        .filter_map(|rest| rest.rsplit_once("} "))
        .filter(|(labels, _)| parse_labels(labels).get("kind").map(String::as_str) == Some(kind))
        .map(|(_, value)| value.trim().parse::<f64>().unwrap_or(0.0) as u64)
        .sum()
}
const WRITE_VERBS: [&str; 6] = [
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "DELETECOLLECTION",
    "APPLY",
];

impl Apiserver {
    pub fn new(dir: &Path) -> Result<Self> {
        let env = std::fs::read_to_string(dir.join("env")).context("read the testenv env file")?;
        let url = env
            .lines()
            .find_map(|line| line.strip_prefix("APISERVER_URL="))
            .context("APISERVER_URL in env")?
            .trim_matches('"')
            .to_owned();
        let tokens = std::fs::read_to_string(dir.join("tokens.csv"))?;
        let token = tokens
            .lines()
            .find(|line| line.contains(",admin,admin,"))
            .and_then(|line| line.split(',').next())
            .context("admin token in tokens.csv")?
            .to_owned();
        let ca = std::fs::read(dir.join("certs/apiserver.crt"))?;
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
            .build()?;
        Ok(Self { url, token, http })
    }

    /// Writes so far to the counted resources, per `resource[/subresource] VERB`.
    pub async fn writes(&self) -> Result<Counts> {
        let text = retrying("GET the apiserver's /metrics", || async {
            Ok(self
                .http
                .get(format!("{}/metrics", self.url))
                .bearer_auth(&self.token)
                .send()
                .await?
                .error_for_status()?
                .text()
                .await?)
        })
        .await?;
        Ok(parse_writes(&text))
    }
}

fn parse_writes(text: &str) -> Counts {
    let mut counts = Counts::new();
    let resources = resources();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let labels = parse_labels(labels);
        let label = |name: &str| labels.get(name).map(String::as_str).unwrap_or("");
        let (resource, subresource, verb) =
            (label("resource"), label("subresource"), label("verb"));
        if !resources.iter().any(|known| known == resource) || !WRITE_VERBS.contains(&verb) {
            continue;
        }
        let n = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
        let key = if subresource.is_empty() {
            format!("{resource} {verb}")
        } else {
            format!("{resource}/{subresource} {verb}")
        };
        *counts.entry(key).or_default() += n;
    }
    counts
}

/// `a="x",b="y"` (Prometheus text format, with `\"` and `\\` escapes).
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() || chars.next() != Some('"') {
            break;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                '"' => break,
                _ => value.push(c),
            }
        }
        labels.insert(name.trim_start_matches(',').to_owned(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_counts() {
        let text = "apiserver_request_total{code=\"200\",resource=\"lunavms\",subresource=\"status\",verb=\"PATCH\"} 7\n\
                    apiserver_request_total{code=\"201\",resource=\"events\",subresource=\"\",verb=\"POST\"} 3\n\
                    apiserver_request_total{code=\"200\",resource=\"lunavms\",subresource=\"\",verb=\"LIST\"} 9\n";
        let counts = parse_writes(text);
        assert_eq!(counts.get("lunavms/status PATCH"), Some(&7));
        assert_eq!(counts.get("events POST"), Some(&3));
        assert_eq!(counts.len(), 2);
    }

    #[test]
    fn sums_reconciles_of_one_kind() {
        let text = "lunanode_reconciles_total{kind=\"LunaVM\",outcome=\"ok\"} 7\n\
                    lunanode_reconciles_total{kind=\"LunaVM\",outcome=\"api\"} 2\n\
                    lunanode_reconciles_total{kind=\"LunaVolume\",outcome=\"ok\"} 5\n";
        assert_eq!(parse_reconciles(text, "LunaVM"), 9);
        assert_eq!(parse_reconciles(text, "LunaNetwork"), 0);
    }
}
