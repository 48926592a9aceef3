//! Time-bounded fuzzing of everything that parses what arrives from outside: the client's
//! response decoding (alone and behind a real HTTP connection), the simulator's request
//! handling, and the request signature.
//!
//! Each target loops proptest cases until its time is up: `LUNANODE_FUZZ_SECONDS` per target
//! (default 3, so the normal test run stays short; the long mode sets 600). Batches of cases
//! are seeded from one seed, printed at the start; `LUNANODE_FUZZ_SEED` replays a run. Every
//! target prints how many cases it ran. A panic, or a broken property, fails the target with
//! the smallest input proptest could shrink it to; so does an error message that quotes the
//! API key.
//!
//! ```text
//! LUNANODE_FUZZ_SECONDS=600 cargo test --release --test fuzz -- --nocapture --test-threads 1
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::body::{Body, Bytes};
use lunanode_operator::{
    lunanode::{
        Client, Credentials, Error, RetryPolicy, actions, decode, decode_response,
        response::{interpret, parse_retry_after},
        sign,
        types::{
            DnsRecord, DnsZone, DynEntry, FloatingIp, Image, ImageDetails, LbInfo, LoadBalancer,
            MonitorCheck, Network, Plan, Region, Script, SshKey, VmAddress, VmCreate, VmDetails,
            VmInfo, VmListEntry, VmVolume, Volume, created_id, credit_from_response,
            decode_keyed_list, decode_list, decode_object, records_from_response,
            zones_from_response,
        },
    },
    sim::{SimConfig, Simulator, router},
};
use proptest::{
    prelude::*,
    test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner},
};
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use support::{
    secrets::{Shown, find_secrets_with_window},
    sim_process::api_client,
};
use tower::ServiceExt;

// ------------------------------------------------------------------------------------------
// The time-bounded runner.
// ------------------------------------------------------------------------------------------

/// Seconds each target runs.
fn budget() -> Duration {
    let seconds = std::env::var("LUNANODE_FUZZ_SECONDS")
        .ok()
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
        .unwrap_or(3.0);
    Duration::from_secs_f64(seconds)
}

/// The seed of the whole run: `LUNANODE_FUZZ_SEED`, or the clock.
fn master_seed() -> u64 {
    std::env::var("LUNANODE_FUZZ_SEED")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|since| since.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// Runs `test` on values of `strategy` in batches of `batch` cases until the budget is spent.
/// A proptest runner counts its successes for its whole life, so every batch gets a fresh
/// runner, seeded from the master seed and the batch number.
fn fuzz<S>(
    name: &str,
    batch: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let budget = budget();
    let seed = master_seed();
    println!(
        "fuzz {name}: seed {seed}, {:.0} s (LUNANODE_FUZZ_SEED={seed} replays it)",
        budget.as_secs_f64()
    );
    let started = Instant::now();
    let mut cases: u64 = 0;
    let mut batch_number: u64 = 0;
    while batch_number == 0 || started.elapsed() < budget {
        let batch_seed = seed.wrapping_add(batch_number.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut runner = TestRunner::new(Config {
            cases: batch,
            failure_persistence: None,
            rng_seed: RngSeed::Fixed(batch_seed),
            max_shrink_time: 120_000,
            ..Config::default()
        });
        match runner.run(&strategy, &test) {
            Ok(()) => cases += u64::from(batch),
            Err(TestError::Fail(reason, value)) => panic!(
                "fuzz {name}: failed after {cases} cases (batch seed {batch_seed}): {reason}\nminimal input: {value:#?}"
            ),
            Err(TestError::Abort(reason)) => panic!("fuzz {name}: aborted: {reason}"),
        }
        batch_number += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "fuzz {name}: {cases} cases in {seconds:.1} s ({:.0}/s), no panic",
        cases as f64 / seconds.max(0.001)
    );
}

// ------------------------------------------------------------------------------------------
// Response-shaped JSON, PHP quirks included.
// ------------------------------------------------------------------------------------------

/// Field and collection names the decoders look for, so that generated objects reach them.
const FIELDS: &[&str] = &[
    "success",
    "error",
    "vms",
    "vm_id",
    "name",
    "hostname",
    "plan_id",
    "primaryip",
    "privateip",
    "ram",
    "vcpu",
    "storage",
    "bandwidth",
    "region",
    "os_status",
    "status",
    "status_nohtml",
    "status_raw",
    "status_color",
    "task_state",
    "info",
    "extra",
    "ip",
    "ipv6",
    "addresses",
    "addr",
    "version",
    "external",
    "reverse",
    "login_details",
    "volumes",
    "volume_id",
    "size",
    "images",
    "image_id",
    "plans",
    "price",
    "regions",
    "slug",
    "display_name",
    "ips",
    "floating_id",
    "attached_id",
    "attached_name",
    "attached_type",
    "networks",
    "net_id",
    "subnet",
    "scripts",
    "script_id",
    "checks",
    "check_type",
    "enabled",
    "credit",
    "zones",
    "zone_id",
    "records",
    "record_id",
    "type",
    "data",
    "ttl",
    "lb",
    "lbs",
    "load_balancers",
    "lb_id",
    "members",
    "member_id",
    "port",
    "vip",
    "vip_address",
    "details",
    "dns",
    "dyns",
    "keys",
    "label",
    "key_id",
    "security_groups",
    "bandwidthUsedGB",
    "time_created",
    "metadata",
    "checksum",
    "disk_format",
    "id",
    "0",
    "1",
    "value",
    "origin",
    "target",
    "method",
    "protocol",
    "connection_limit",
    "user",
    "aux",
    "price_monthly_nice",
    "regions_nice",
];

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(FIELDS).prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
        1 => "[0-9]{1,4}",
        1 => ".{0,8}",
    ]
}

/// Strings as a PHP server writes them: numbers as text, HTML entities, flags, empties.
fn php_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ".{0,24}",
        2 => "-?[0-9]{1,25}",
        2 => "-?[0-9]{0,6}\\.?[0-9]{0,6}([eE][-+]?[0-9]{1,4})?",
        2 => "([a-z ]{0,4}&(#[0-9]{1,12}|#[xX][0-9a-fA-F]{1,10}|[a-z]{1,6});?){1,4}",
        1 => prop::sample::select(&[
            "yes", "no", "1", "0", "true", "false", "", "[]", "{}", "null", "NaN", "inf",
            "-0", "1e999", "0x1f", "  42  ", "Online", "BUILD", "active", "&amp;lt;b&amp;gt;",
            "username: ubuntu; password: p4ss", "0.0.0.0", "::1", "\u{feff}", "\\/",
        ][..]).prop_map(str::to_owned),
        1 => "\\PC{0,40}",
    ]
}

fn php_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        2 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| json!(f)),
        6 => php_text().prop_map(Value::from),
    ]
}

fn php_value() -> impl Strategy<Value = Value> {
    php_scalar().prop_recursive(4, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(field_name(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A whole response: the `success` field (mostly a success) and response-shaped fields.
fn php_response() -> impl Strategy<Value = Value> {
    let success = prop_oneof![
        6 => Just(Some(json!("yes"))),
        1 => Just(Some(json!("no"))),
        1 => Just(Some(json!(true))),
        1 => Just(None),
        1 => php_scalar().prop_map(Some),
    ];
    (
        success,
        prop::collection::btree_map(field_name(), php_value(), 0..8),
    )
        .prop_map(|(success, fields)| {
            let mut map: Map<String, Value> = fields.into_iter().collect();
            if let Some(success) = success {
                map.insert("success".into(), success);
            }
            Value::Object(map)
        })
}

/// A response body as text: valid JSON with PHP's escapes, or damaged JSON, or anything.
fn body_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (php_response(), any::<bool>(), any::<bool>(), 0usize..8).prop_map(
            |(value, slashes, bom, pad)| {
                let mut text = value.to_string();
                if slashes {
                    text = text.replace('/', "\\/");
                }
                if bom {
                    text.insert(0, '\u{feff}');
                }
                text.push_str(&" ".repeat(pad));
                text
            }
        ),
        2 => (php_response(), any::<prop::sample::Index>()).prop_map(|(value, cut)| {
            // Truncated JSON, cut at a character boundary.
            let text = value.to_string();
            let chars: Vec<char> = text.chars().collect();
            let end = cut.index(chars.len().max(1));
            chars[..end].iter().collect()
        }),
        1 => ".{0,400}",
        1 => "\\PC{0,200}",
        1 => Just("<html><body><h1>502 Bad Gateway</h1></body></html>".to_owned()),
    ]
}

// ------------------------------------------------------------------------------------------
// Every typed decoder of the client.
// ------------------------------------------------------------------------------------------

/// Runs every typed decoder of `src/lunanode/types` on `value`, as the client's methods do,
/// and formats whatever comes out (formatting is part of what must not panic).
fn decode_everything(value: &Value) {
    fn show<T: std::fmt::Debug>(result: Result<T, Error>) {
        match result {
            Ok(decoded) => drop(format!("{decoded:?}")),
            Err(error) => drop(format!("{error} {error:?} {}", error.category())),
        }
    }
    show(decode_list::<VmListEntry>(value, &["vms"]));
    show(decode_response::<VmInfo>("vm", "info", value.clone()));
    show(decode_response::<VmDetails>("vm", "info", value.clone()));
    show(decode_object::<VmDetails>(value, &["info"]));
    show(decode_list::<VmAddress>(value, &["addresses"]));
    show(decode_list::<VmVolume>(value, &["volumes"]));
    show(decode_list::<Plan>(value, &["plans"]));
    show(decode_list::<Image>(value, &["images"]));
    show(decode_object::<ImageDetails>(value, &["details"]));
    show(Ok::<_, Error>(Region::list_from_response(value)));
    show(decode_list::<FloatingIp>(value, &["ips"]));
    show(decode_list::<Network>(value, &["networks"]));
    show(decode_list::<Volume>(value, &["volumes"]));
    show(decode_object::<Volume>(value, &["volume", "info"]));
    show(decode_keyed_list::<Script>(value, &["scripts"]));
    show(decode_response::<Script>("script", "get", value.clone()));
    show(decode_keyed_list::<MonitorCheck>(value, &["checks"]));
    show(decode_keyed_list::<DynEntry>(value, &["dyns"]));
    show(decode_list::<lunanode_operator::lunanode::types::RdnsEntry>(value, &["dns"]));
    show(SshKey::list_from_response(value));
    show(credit_from_response(value));
    show(Ok::<_, Error>(zones_from_response(value)));
    show(Ok::<_, Error>(records_from_response(value)));
    show(decode_list::<DnsZone>(value, &["zones"]));
    show(decode_list::<DnsRecord>(value, &["records"]));
    show(decode_list::<LoadBalancer>(
        value,
        &["lb", "lbs", "load_balancers"],
    ));
    show(Ok::<_, Error>(LbInfo::from_response(value)));
    show(Ok::<_, Error>(created_id(value, &["vm_id", "id", "ip"])));
    // The lenient scalar helpers on every value inside.
    let mut stack = vec![value];
    while let Some(item) = stack.pop() {
        let _ = decode::scalar_text(item);
        let _ = decode::flag_value(item);
        if let Some(text) = item.as_str() {
            let _ = decode::html_unescape(text);
            let _ = decode::parse_number::<u64>(text);
            let _ = decode::parse_number::<i64>(text);
            let _ = decode::parse_number::<f64>(text);
        }
        let _ = decode::entries(item.clone());
        match item {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
}

fn show_error(error: &Error) -> String {
    let text = format!("{error} {error:?}");
    let _ = (
        error.category(),
        error.is_retryable(),
        error.may_have_taken_effect(),
        error.is_not_found(),
        error.retry_after(),
    );
    text
}

/// (a) The envelope (`interpret`) on any status, `Retry-After` and body, then every typed
/// decoder on whatever it accepts.
#[test]
fn fuzz_response_decoding() {
    let strategy = (
        prop_oneof![3 => Just(200u16), 1 => 100u16..600],
        proptest::option::of(prop_oneof![".{0,12}", "[0-9]{1,22}"]),
        body_text(),
    );
    fuzz(
        "response_decoding",
        256,
        strategy,
        |(status, retry, body)| {
            let _ = retry.as_deref().map(parse_retry_after);
            match interpret(status, retry.as_deref(), &body) {
                Ok(value) => {
                    prop_assert!(value.get("success").is_some());
                    decode_everything(&value);
                }
                Err(error) => {
                    show_error(&error);
                }
            }
            let _ = Error::from_api_text(&body);
            Ok(())
        },
    );
}

/// (a) Every typed decoder on response-shaped JSON (no text round trip: deeper shapes).
#[test]
fn fuzz_typed_decoding() {
    fuzz("typed_decoding", 256, php_response(), |value| {
        decode_everything(&value);
        Ok(())
    });
}

// ------------------------------------------------------------------------------------------
// The whole client against an HTTP server that answers anything.
// ------------------------------------------------------------------------------------------

/// How many consecutive characters of the key count as a leak in an error message: stricter
/// than the operator-wide grep's [`support::secrets::WINDOW`], since this file probes the
/// client's redaction itself, body excerpts cut short inside the key included.
const KEY_WINDOW: usize = 24;

/// A 128-character key without repeats, so that any [`KEY_WINDOW`] characters of it are
/// unmistakable.
fn fuzz_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..128)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

const FUZZ_API_ID: &str = "fuzzapiid0000000";

/// What the fake server answers.
#[derive(Debug, Clone)]
enum Answer {
    /// These bytes.
    Bytes(Vec<u8>),
    /// A JSON response, PHP-style.
    Text(String),
    /// The request's own body, between two texts (a proxy's error page that quotes the request).
    Echo { before: String, after: String },
    /// A JSON response that quotes the request in `field`.
    EchoInJson { success: String, field: String },
    /// A few bytes, then a broken connection.
    Broken(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    retry_after: Option<String>,
    content_type: Option<String>,
    answer: Answer,
}

fn reply() -> impl Strategy<Value = Reply> {
    let answer = prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Answer::Bytes),
        4 => body_text().prop_map(Answer::Text),
        2 => (".{0,260}", ".{0,40}").prop_map(|(before, after)| Answer::Echo { before, after }),
        2 => (
            prop::sample::select(&["yes", "no"][..]).prop_map(str::to_owned),
            prop::sample::select(&["error", "vms", "info", "images", "name", "plans"][..])
                .prop_map(str::to_owned),
        )
            .prop_map(|(success, field)| Answer::EchoInJson { success, field }),
        1 => prop::collection::vec(any::<u8>(), 0..100).prop_map(Answer::Broken),
    ];
    (
        prop_oneof![4 => Just(200u16), 1 => 200u16..600],
        proptest::option::of(prop_oneof!["[0-9]{1,22}", "[ -~]{0,16}"]),
        proptest::option::of(prop_oneof![
            Just("application/json".to_owned()),
            Just("text/html; charset=UTF-8".to_owned()),
            "[ -~]{0,30}",
        ]),
        answer,
    )
        .prop_map(|(status, retry_after, content_type, answer)| Reply {
            status,
            retry_after,
            content_type,
            answer,
        })
}

/// Which client method to call.
#[derive(Debug, Clone)]
struct Call {
    method: u8,
    argument: String,
}

fn call() -> impl Strategy<Value = Call> {
    (0u8..26, "[a-z0-9-]{1,12}").prop_map(|(method, argument)| Call { method, argument })
}

async fn run_call(client: &Client, call: &Call) -> Result<String, Error> {
    let a = call.argument.as_str();
    fn dbg<T: std::fmt::Debug>(value: T) -> String {
        format!("{value:?}")
    }
    Ok(match call.method {
        0 => dbg(client.vm_list().await?),
        1 => dbg(client.vm_info(a).await?),
        2 => dbg(client.image_list(None).await?),
        3 => dbg(client.image_list(Some("toronto")).await?),
        4 => dbg(client.image_details(a).await?),
        5 => dbg(client.plan_list().await?),
        6 => dbg(client.region_list().await?),
        7 => dbg(client.floating_list().await?),
        8 => dbg(client.floating_add("toronto").await?),
        9 => dbg(client.volume_list("toronto").await?),
        10 => dbg(client.volume_info("toronto", a).await?),
        11 => dbg(client.network_list(None).await?),
        12 => dbg(client.script_list().await?),
        13 => dbg(client.script_get(a).await?),
        14 => dbg(client.monitor_check_list().await?),
        15 => dbg(client.billing_credit().await?),
        16 => dbg(client.sshkey_list().await?),
        17 => dbg(client.dns_list().await?),
        18 => dbg(client.dns_dyn_list().await?),
        19 => dbg(client.dns_zone_list().await?),
        20 => dbg(client.dns_record_list(a).await?),
        21 => dbg(client.lb_list("toronto", None).await?),
        22 => dbg(client.lb_info("toronto", a).await?),
        23 => dbg(client
            .vm_create(&VmCreate {
                hostname: a.to_owned(),
                plan_id: "m.1".into(),
                image_id: Some("1001".into()),
                ..VmCreate::default()
            })
            .await?),
        24 => dbg(client.vm_vnc(a).await?),
        _ => dbg(client.request("vm", "list", &[]).await?),
    })
}

/// What the fake server must answer next.
#[derive(Default)]
struct Exchange {
    reply: Option<Reply>,
}

async fn fake_server(
    axum::extract::State(exchange): axum::extract::State<Arc<Mutex<Exchange>>>,
    body: Bytes,
) -> axum::response::Response {
    let reply = exchange
        .lock()
        .unwrap()
        .reply
        .clone()
        .expect("a reply is set before each call");
    let request = String::from_utf8_lossy(&body).into_owned();
    let bytes: Vec<u8> = match &reply.answer {
        Answer::Bytes(bytes) | Answer::Broken(bytes) => bytes.clone(),
        Answer::Text(text) => text.clone().into_bytes(),
        Answer::Echo { before, after } => format!("{before}{request}{after}").into_bytes(),
        Answer::EchoInJson { success, field } => {
            json!({"success": success, field.as_str(): request})
                .to_string()
                .into_bytes()
        }
    };
    let body = match reply.answer {
        Answer::Broken(_) => Body::from_stream(futures::stream::iter([
            Ok::<_, std::io::Error>(Bytes::from(bytes)),
            Err(std::io::Error::other("connection broken on purpose")),
        ])),
        _ => Body::from(bytes),
    };
    let mut response = axum::response::Response::new(body);
    *response.status_mut() = axum::http::StatusCode::from_u16(reply.status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Some(value) = reply
        .retry_after
        .as_deref()
        .and_then(|text| axum::http::HeaderValue::from_str(text).ok())
    {
        headers.insert(axum::http::header::RETRY_AFTER, value);
    }
    if let Some(value) = reply
        .content_type
        .as_deref()
        .and_then(|text| axum::http::HeaderValue::from_str(text).ok())
    {
        headers.insert(axum::http::header::CONTENT_TYPE, value);
    }
    response
}

/// (a) The real client (transport, envelope, typed decoding) against a server answering
/// anything: never a panic, and no error message ever quotes the key, even when the server
/// quotes the request (whose `req` holds the first 64 characters of the key).
#[test]
fn fuzz_client_over_http() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let exchange = Arc::new(Mutex::new(Exchange::default()));
    let key = fuzz_key();
    let client = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(fake_server)
            .with_state(exchange.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        api_client(
            &format!("http://{address}/api/"),
            FUZZ_API_ID,
            &key,
            |config| {
                config.timeout = Duration::from_secs(5);
                config.retry = RetryPolicy::none();
            },
        )
    });
    let secrets = [("the api key".to_owned(), key.clone())];
    fuzz(
        "client_over_http",
        128,
        (reply(), call()),
        |(reply, call)| {
            exchange.lock().unwrap().reply = Some(reply);
            let result = runtime.block_on(run_call(&client, &call));
            if let Err(error) = result {
                let shown = [Shown::new("the error message", show_error(&error))];
                let leaks = find_secrets_with_window(&shown, &secrets, KEY_WINDOW);
                if !leaks.is_empty() {
                    return Err(TestCaseError::fail(format!(
                        "{}: {}",
                        leaks.join("; "),
                        shown[0].text
                    )));
                }
            }
            Ok(())
        },
    );
}

// ------------------------------------------------------------------------------------------
// The simulator: signed, legacy, raw and admin requests.
// ------------------------------------------------------------------------------------------

const SIM_ID: &str = "abcdefghijklmnop";

fn sim_key() -> String {
    "k7".repeat(64)
}

/// A value for one parameter.
#[derive(Debug, Clone)]
enum Param {
    /// A value that makes sense for a parameter of this name (see [`plausible`]).
    Plausible(prop::sample::Index),
    /// An ID this case's earlier answers handed out.
    Known(prop::sample::Index),
    /// Any text.
    Text(String),
    /// Empty.
    Empty,
    /// A long run of one character.
    Long(usize),
    /// Not a string at all (the wire wants strings).
    Json(Value),
}

fn param() -> impl Strategy<Value = Param> {
    prop_oneof![
        10 => any::<prop::sample::Index>().prop_map(Param::Plausible),
        8 => any::<prop::sample::Index>().prop_map(Param::Known),
        2 => php_text().prop_map(Param::Text),
        1 => Just(Param::Empty),
        1 => (1usize..5000).prop_map(Param::Long),
        1 => php_value().prop_map(Param::Json),
    ]
}

fn plausible(name: &str) -> &'static [&'static str] {
    match name {
        "region" | "dst_region" => &["toronto", "montreal", "roubaix", "nowhere"],
        "plan_id" | "plan" => &["m.1", "m.2", "86", "s.half", "m.3"],
        "image_id" => &["1001", "1002", "2001", "3006", "1007"],
        "hostname" | "name" | "label" | "image_name" | "username" => {
            &["web-1", "a", "db.example.com", "x_y"]
        }
        "size" => &["10", "1", "0", "100000"],
        "ip" | "target" | "origin" | "private_ip" | "iplist" => {
            &["203.0.113.9", "10.0.0.5", "::1", "170.75.160.1"]
        }
        "port" | "port_min" | "port_max" | "ttl" | "delay" | "connection_limit"
        | "check_interval" | "weight" | "fail_count" | "success_count" | "prefer" => {
            &["80", "0", "65535", "-1", "3600"]
        }
        "protocol" => &["tcp", "udp", "http", "icmp", "any"],
        "method" => &["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"],
        "type" | "record_type" | "remote_type" => &["A", "AAAA", "CNAME", "MX", "TXT", "http"],
        "direction" => &["ingress", "egress"],
        "subnet" => &["10.0.0.0/24", "192.168.0.0/16", "10.0.0.0/33"],
        "data" | "content" | "key" => &["hello", "#!/bin/sh\necho hi", "ssh-ed25519 AAAA x"],
        "set_password" | "volume_virtio" | "keep" | "virtio" | "global" | "fairshare_nolend"
        | "charge_for_cpu" => &["yes", "no", "1"],
        "password" => &["hunter2hunter2"],
        _ => &["1", "x"],
    }
}

/// How a signed call authenticates.
#[derive(Debug, Clone)]
enum Auth {
    /// Correctly.
    Valid,
    /// Correctly, with the signature in upper case.
    Uppercase,
    /// With this signature.
    Signature(String),
    /// With this nonce (signed over it).
    Nonce(String),
    /// With another partial key.
    PartialKey(String),
    /// With another API ID.
    ApiId(Value),
    /// Without one of the three form fields.
    Missing(u8),
    /// With this text as `req`.
    Req(String),
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        12 => Just(Auth::Valid),
        1 => Just(Auth::Uppercase),
        1 => "[0-9a-fA-F]{0,130}|.{0,20}".prop_map(Auth::Signature),
        1 => prop_oneof!["-?[0-9]{0,20}", ".{0,12}", Just("99999999999999999999".to_owned())]
            .prop_map(Auth::Nonce),
        1 => ".{0,70}".prop_map(Auth::PartialKey),
        1 => php_scalar().prop_map(Auth::ApiId),
        1 => (0u8..3).prop_map(Auth::Missing),
        1 => ".{0,80}".prop_map(Auth::Req),
    ]
}

/// One request to the simulator.
#[derive(Debug, Clone)]
enum SimOp {
    /// A signed call of a catalogued action (or an unknown one), with parameters.
    Signed {
        action: prop::sample::Index,
        /// The action is one that makes something (so that later calls find IDs to use).
        creating: bool,
        unknown: Option<(String, String)>,
        params: Vec<Param>,
        extra: Vec<(String, Param)>,
        ascii: bool,
        slash: bool,
        auth: Auth,
        junk_fields: Vec<(String, String)>,
    },
    /// A legacy call (`/api.php`), key in clear.
    Legacy {
        action: prop::sample::Index,
        params: Vec<Param>,
        right_key: bool,
        in_query: bool,
    },
    /// Any path, any body.
    Raw {
        path: String,
        body: Vec<u8>,
        content_type: Option<String>,
        get: bool,
    },
    /// The simulated clock moves (the admin endpoint, with any body).
    Clock(String),
}

fn sim_op() -> impl Strategy<Value = SimOp> {
    let signed = (
        (any::<prop::sample::Index>(), prop::bool::weighted(0.3)),
        proptest::option::weighted(0.05, ("[a-z0-9_-]{1,12}", "[a-z0-9_-]{1,12}")),
        prop_oneof![1 => prop::collection::vec(param(), 0..4), 4 => prop::collection::vec(param(), 4..12)],
        prop::collection::vec((field_name(), param()), 0..3),
        any::<bool>(),
        prop::bool::weighted(0.9),
        auth(),
        prop::collection::vec(("[a-z_]{1,10}", ".{0,12}"), 0..2),
    )
        .prop_map(
            |((action, creating), unknown, params, extra, ascii, slash, auth, junk_fields)| SimOp::Signed {
                action,
                creating,
                unknown,
                params,
                extra,
                ascii,
                slash,
                auth,
                junk_fields,
            },
        );
    let legacy = (
        any::<prop::sample::Index>(),
        prop::collection::vec(param(), 0..10),
        prop::bool::weighted(0.8),
        any::<bool>(),
    )
        .prop_map(|(action, params, right_key, in_query)| SimOp::Legacy {
            action,
            params,
            right_key,
            in_query,
        });
    let raw = (
        prop_oneof![
            "/api/[a-z0-9_%.-]{0,14}/[a-z0-9_%.-]{0,14}/?",
            "/api(\\.php)?(\\?[ -~]{0,40})?",
            "/_sim/[a-z/]{0,14}",
            "/[ -~]{0,30}",
        ],
        prop::collection::vec(any::<u8>(), 0..400),
        proptest::option::of(prop_oneof![
            Just("application/x-www-form-urlencoded".to_owned()),
            Just("application/json".to_owned()),
            "[ -~]{0,20}",
        ]),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(path, body, content_type, get)| SimOp::Raw {
            path,
            body,
            content_type,
            get,
        });
    let clock = prop_oneof![
        (0.0f64..100_000.0).prop_map(|s| format!("{{\"advance_seconds\": {s}}}")),
        ".{0,40}",
        php_value().prop_map(|value| json!({"advance_seconds": value}).to_string()),
    ]
    .prop_map(SimOp::Clock);
    prop_oneof![10 => signed, 2 => legacy, 2 => raw, 1 => clock]
}

/// Admin fault settings with any body, last in a case (a latency or timeout fault would slow
/// the calls after it down).
fn faults_body() -> impl Strategy<Value = Vec<u8>> {
    let key = prop::sample::select(
        &[
            "latency_ms",
            "latency_jitter_ms",
            "http_5xx_rate",
            "api_error_rate",
            "timeout_rate",
            "timeout_ms",
            "throttle_rate",
            "drop_after_commit_rate",
            "list_omit_rate",
            "list_empty_rate",
            "actions",
            "throttle_burst",
            "seed",
            "per_second",
            "burst",
        ][..],
    );
    prop_oneof![
        prop::collection::btree_map(key, php_value(), 0..5).prop_map(|map| Value::Object(
            map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
        )
        .to_string()
        .into_bytes()),
        prop::collection::vec(any::<u8>(), 0..100),
    ]
}

/// IDs handed out in answers, by the name they came under (`vm_id`, `volume_id`, `id`, `ip`,
/// ...), to refer to in later calls.
type Known = BTreeMap<String, Vec<String>>;

fn collect_ids(value: &Value, known: &mut Known) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                if key == "id" || key.ends_with("_id") || key == "ip" {
                    if let Some(text) = decode::scalar_text(item) {
                        let ids = known.entry(key.clone()).or_default();
                        if !text.is_empty() && ids.len() < 32 && !ids.contains(&text) {
                            ids.push(text);
                        }
                    }
                }
                collect_ids(item, known);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_ids(item, known)),
        _ => {}
    }
}

/// A known ID for a parameter: one handed out under its name, or else any.
fn known_id(name: &str, known: &Known, index: prop::sample::Index) -> Option<String> {
    let named = known.get(name).filter(|ids| !ids.is_empty());
    let all: Vec<&String> = known.values().flatten().collect();
    match named {
        Some(ids) => Some(ids[index.index(ids.len())].clone()),
        None if !all.is_empty() => Some(all[index.index(all.len())].clone()),
        None => None,
    }
}

fn param_text(name: &str, param: &Param, known: &Known) -> Value {
    match param {
        Param::Plausible(index) => {
            let options = plausible(name);
            Value::from(options[index.index(options.len())])
        }
        Param::Known(index) => {
            Value::from(known_id(name, known, *index).unwrap_or_else(|| "1".into()))
        }
        Param::Text(text) => Value::from(text.clone()),
        Param::Empty => Value::from(""),
        Param::Long(length) => Value::from("9".repeat(*length)),
        Param::Json(value) => value.clone(),
    }
}

fn as_form_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0)
}

fn form(fields: &[(String, String)]) -> Vec<u8> {
    serde_urlencoded::to_string(fields)
        .unwrap_or_default()
        .into_bytes()
}

/// The catalogued action of a signed call: any, or one that makes something.
fn signed_action(action: prop::sample::Index, creating: bool) -> &'static actions::ActionSpec {
    // Most actions act on a VM: `vm/create` weighs as much as all other makers together.
    let mut makers: Vec<&'static actions::ActionSpec> = actions::ACTIONS
        .iter()
        .filter(|spec| !spec.is_idempotent())
        .collect();
    if let Some(create) = actions::find("vm", "create") {
        makers.extend(std::iter::repeat_n(create, makers.len()));
    }
    if creating && !makers.is_empty() {
        makers[action.index(makers.len())]
    } else {
        &actions::ACTIONS[action.index(actions::ACTIONS.len())]
    }
}

/// The HTTP request for one operation.
fn build_request(op: &SimOp, known: &Known) -> axum::http::Request<Body> {
    let key = sim_key();
    let post = |path: &str, body: Vec<u8>, content_type: &str| {
        axum::http::Request::post(path)
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap()
    };
    match op {
        SimOp::Signed {
            action,
            creating,
            unknown,
            params,
            extra,
            ascii,
            slash,
            auth,
            junk_fields,
        } => {
            let spec = signed_action(*action, *creating);
            let (category, action_name) = match unknown {
                Some((category, action)) => (category.clone(), action.clone()),
                None => (spec.category.to_owned(), spec.action.to_owned()),
            };
            let mut request = Map::new();
            let names = spec.required.iter().chain(spec.optional.iter());
            for (name, param) in names.zip(params.iter()) {
                request.insert((*name).to_owned(), param_text(name, param, known));
            }
            for (name, param) in extra {
                request.insert(name.clone(), param_text(name, param, known));
            }
            let mut api_id = Value::from(SIM_ID);
            let mut partial = Value::from(&key[..sign::PARTIAL_KEY_LEN]);
            match auth {
                Auth::ApiId(value) => api_id = value.clone(),
                Auth::PartialKey(text) => partial = Value::from(text.clone()),
                _ => {}
            }
            request.insert("api_id".into(), api_id);
            request.insert("api_partialkey".into(), partial);
            let request = Value::Object(request);
            let mut req = if *ascii {
                sign::ascii_json(&request)
            } else {
                request.to_string()
            };
            if let Auth::Req(text) = auth {
                req = text.clone();
            }
            let nonce = match auth {
                Auth::Nonce(nonce) => nonce.clone(),
                _ => now_seconds().to_string(),
            };
            let handler = sign::handler(&category, &action_name);
            let mut signature = sign::signature(key.as_bytes(), &handler, &req, &nonce);
            match auth {
                Auth::Uppercase => signature = signature.to_ascii_uppercase(),
                Auth::Signature(text) => signature = text.clone(),
                _ => {}
            }
            let mut fields = vec![
                ("req".to_owned(), req),
                ("signature".to_owned(), signature),
                ("nonce".to_owned(), nonce),
            ];
            if let Auth::Missing(which) = auth {
                fields.remove(usize::from(*which));
            }
            fields.extend(junk_fields.iter().cloned());
            let path = format!(
                "/api/{category}/{action_name}{}",
                if *slash { "/" } else { "" }
            );
            // A path that is not a valid URI is the raw target's business.
            if path.parse::<axum::http::Uri>().is_err() {
                return post(
                    "/api/vm/list/",
                    form(&fields),
                    "application/x-www-form-urlencoded",
                );
            }
            post(&path, form(&fields), "application/x-www-form-urlencoded")
        }
        SimOp::Legacy {
            action,
            params,
            right_key,
            in_query,
        } => {
            let spec = &actions::ACTIONS[action.index(actions::ACTIONS.len())];
            let mut fields = vec![
                ("api_id".to_owned(), SIM_ID.to_owned()),
                (
                    "api_key".to_owned(),
                    if *right_key {
                        key.clone()
                    } else {
                        "nope".to_owned()
                    },
                ),
                ("category".to_owned(), spec.category.to_owned()),
                ("action".to_owned(), spec.action.to_owned()),
            ];
            let names = spec.required.iter().chain(spec.optional.iter());
            for (name, param) in names.zip(params.iter()) {
                fields.push((
                    (*name).to_owned(),
                    as_form_text(&param_text(name, param, known)),
                ));
            }
            if *in_query {
                let query = serde_urlencoded::to_string(&fields).unwrap_or_default();
                axum::http::Request::get(format!("/api.php?{query}"))
                    .body(Body::empty())
                    .unwrap()
            } else {
                post(
                    "/api.php",
                    form(&fields),
                    "application/x-www-form-urlencoded",
                )
            }
        }
        SimOp::Raw {
            path,
            body,
            content_type,
            get,
        } => {
            let path = if path.parse::<axum::http::Uri>().is_ok() {
                path.as_str()
            } else {
                "/api/vm/list/"
            };
            let builder = if *get {
                axum::http::Request::get(path)
            } else {
                axum::http::Request::post(path)
            };
            let builder = match content_type
                .as_deref()
                .and_then(|text| axum::http::HeaderValue::from_str(text).ok())
            {
                Some(value) => builder.header("content-type", value),
                None => builder,
            };
            builder.body(Body::from(body.clone())).unwrap()
        }
        SimOp::Clock(body) => post("/_sim/clock", body.clone().into_bytes(), "application/json"),
    }
}

/// (b) The simulator, fresh for every case, on a sequence of requests: mostly well-signed calls
/// of catalogued actions with plausible, known (IDs from earlier answers) or hostile
/// parameters, plus legacy calls, raw requests, clock moves and finally a fault setting. Every
/// answer is an HTTP response; every API answer with status 200 is the JSON envelope.
#[test]
fn fuzz_simulator_requests() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let strategy = (
        prop::collection::vec(sim_op(), 1..12),
        proptest::option::weighted(0.1, faults_body()),
    );
    // How deep the requests went: answers by kind, and the actions that succeeded at least once.
    let tally: Mutex<BTreeMap<&'static str, u64>> = Mutex::default();
    let succeeded: Mutex<BTreeSet<String>> = Mutex::default();
    fuzz("simulator_requests", 64, strategy, |(ops, faults)| {
        runtime.block_on(async {
            let sim = Simulator::new(SimConfig {
                seed: Some(7),
                ..SimConfig::default().with_account(SIM_ID, sim_key())
            });
            let app = router(sim.clone());
            let mut known = Known::new();
            let mut api_calls = 0u64;
            for op in &ops {
                let request = build_request(op, &known);
                let api = request.uri().path().starts_with("/api");
                let response = app.clone().oneshot(request).await.unwrap();
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), 64 << 20)
                    .await
                    .unwrap();
                if matches!(op, SimOp::Signed { .. } | SimOp::Legacy { .. }) {
                    api_calls += 1;
                    prop_assert_eq!(status.as_u16(), 200, "a call of the catalogue is answered");
                }
                if api && status == 200 {
                    let value: Value = serde_json::from_slice(&body).map_err(|error| {
                        TestCaseError::fail(format!(
                            "not JSON ({error}): {}",
                            String::from_utf8_lossy(&body)
                        ))
                    })?;
                    prop_assert!(value.get("success").is_some(), "no success: {}", value);
                    let error = value["error"].as_str().unwrap_or_default();
                    let kind = match (op, value["success"] == "yes") {
                        (SimOp::Signed { .. }, true) => "signed call, success",
                        (SimOp::Signed { .. }, false) if error.starts_with("authentication") => {
                            "signed call, authentication failure"
                        }
                        (SimOp::Signed { .. }, false) => "signed call, api error",
                        (SimOp::Legacy { .. }, true) => "legacy call, success",
                        (SimOp::Legacy { .. }, false) => "legacy call, error",
                        _ => "raw request, json answer",
                    };
                    *tally.lock().unwrap().entry(kind).or_default() += 1;
                    if value["success"] == "yes" {
                        collect_ids(&value, &mut known);
                        if let SimOp::Signed {
                            action,
                            unknown: None,
                            ..
                        } = op
                        {
                            let spec = &actions::ACTIONS[action.index(actions::ACTIONS.len())];
                            succeeded.lock().unwrap().insert(spec.path());
                        }
                    }
                } else {
                    *tally.lock().unwrap().entry("other answer").or_default() += 1;
                }
            }
            if let Some(faults) = faults {
                let request = axum::http::Request::post("/_sim/faults")
                    .body(Body::from(faults))
                    .unwrap();
                let response = app.clone().oneshot(request).await.unwrap();
                let _ = axum::body::to_bytes(response.into_body(), 1 << 20).await;
            }
            let _ = sim.state().to_string();
            let stats = sim.stats();
            let counted = stats["totals"]["calls"].as_u64().unwrap_or(0);
            prop_assert!(
                counted >= api_calls,
                "every call is counted: {} < {}",
                counted,
                api_calls
            );
            Ok(())
        })
    });
    let tally = tally.into_inner().unwrap();
    println!(
        "fuzz simulator_requests: answers: {}",
        tally
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "fuzz simulator_requests: {} of {} catalogued actions succeeded at least once",
        succeeded.into_inner().unwrap().len(),
        actions::ACTIONS.len()
    );
}

// ------------------------------------------------------------------------------------------
// The signature.
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Tamper {
    /// One hex digit of the signature changed.
    Digit(prop::sample::Index, u8),
    /// One more character at the end of `req`.
    Req(char),
    /// The nonce plus one character.
    Nonce(char),
    /// Another handler.
    Handler(String),
    /// Another key (one byte flipped).
    Key(prop::sample::Index),
    /// A signature that is not the right one: any text.
    Any(String),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1u8..16).prop_map(|(at, by)| Tamper::Digit(at, by)),
        any::<char>().prop_map(Tamper::Req),
        any::<char>().prop_map(Tamper::Nonce),
        "[a-z0-9]{0,10}/[a-z0-9-]{0,12}/?".prop_map(Tamper::Handler),
        any::<prop::sample::Index>().prop_map(Tamper::Key),
        prop_oneof!["[0-9a-fA-F]{0,140}", ".{0,140}"].prop_map(Tamper::Any),
    ]
}

/// (c) The signature check: the right signature verifies (in either hex case), any change to
/// the signature, `req`, nonce, handler or key fails, any text is answered without a panic; the
/// `req` JSON is ASCII and reads back as written; malformed credentials are refused without
/// naming the key.
#[test]
fn fuzz_signature_check() {
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..300),
        "[a-z0-9]{0,10}/[a-z0-9-]{0,12}/",
        prop_oneof![".{0,200}", "\\PC{0,100}"],
        prop_oneof!["[0-9]{0,20}", ".{0,10}"],
        tamper(),
        prop::collection::btree_map("\\PC{0,12}", "\\PC{0,40}", 0..6),
        ("\\PC{0,20}", prop_oneof!["[ -~]{0,140}", "\\PC{0,140}"]),
    );
    fuzz(
        "signature_check",
        256,
        strategy,
        |(key, handler, req, nonce, tamper, parameters, (id, secret))| {
            let signature = sign::signature(&key, &handler, &req, &nonce);
            prop_assert_eq!(signature.len(), 128);
            prop_assert!(
                signature
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
            prop_assert!(sign::verify(&key, &handler, &req, &nonce, &signature));
            prop_assert!(sign::verify(
                &key,
                &handler,
                &req,
                &nonce,
                &signature.to_ascii_uppercase()
            ));
            match tamper {
                Tamper::Digit(at, by) => {
                    let mut bytes = signature.clone().into_bytes();
                    let at = at.index(bytes.len());
                    let digit = u8::try_from((bytes[at] as char).to_digit(16).unwrap()).unwrap();
                    bytes[at] = char::from_digit(u32::from((digit + by) % 16), 16).unwrap() as u8;
                    let changed = String::from_utf8(bytes).unwrap();
                    prop_assert!(!sign::verify(&key, &handler, &req, &nonce, &changed));
                }
                Tamper::Req(extra) => {
                    let changed = format!("{req}{extra}");
                    prop_assert!(!sign::verify(&key, &handler, &changed, &nonce, &signature));
                }
                Tamper::Nonce(extra) => {
                    let changed = format!("{nonce}{extra}");
                    prop_assert!(!sign::verify(&key, &handler, &req, &changed, &signature));
                }
                Tamper::Handler(other) => {
                    prop_assert_eq!(
                        sign::verify(&key, &other, &req, &nonce, &signature),
                        other == handler
                    );
                }
                Tamper::Key(at) => {
                    let mut other = key.clone();
                    if other.is_empty() {
                        other.push(1);
                    } else {
                        let at = at.index(other.len());
                        other[at] ^= 0x01;
                    }
                    // One flipped bit is another HMAC key, padded (up to 128 bytes) or hashed.
                    prop_assert!(!sign::verify(&other, &handler, &req, &nonce, &signature));
                }
                Tamper::Any(text) => {
                    if !text.eq_ignore_ascii_case(&signature) {
                        prop_assert!(!sign::verify(&key, &handler, &req, &nonce, &text));
                    }
                }
            }
            // The `req` JSON: ASCII only, and it reads back as the parameters plus the ID and
            // the partial key.
            let pairs: Vec<(&str, &str)> = parameters
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            let json_text = sign::request_json(&id, "partial", pairs.iter().copied());
            prop_assert!(json_text.is_ascii(), "{}", json_text);
            let back: Value = serde_json::from_str(&json_text).unwrap();
            prop_assert_eq!(&back["api_id"], &Value::from(id.clone()));
            for (name, value) in &parameters {
                if name != "api_id" && name != "api_partialkey" {
                    prop_assert_eq!(&back[name.as_str()], &Value::from(value.clone()));
                }
            }
            let any = json!({"id": id, "parameters": parameters});
            let ascii = sign::ascii_json(&any);
            prop_assert!(ascii.is_ascii());
            prop_assert_eq!(serde_json::from_str::<Value>(&ascii).unwrap(), any);
            // Credentials: accepted exactly when well-formed; errors never quote the key.
            match Credentials::new(id.clone(), SecretString::from(secret.clone())) {
                Ok(credentials) => {
                    let debug = format!("{credentials:?}");
                    if secret.trim().len() >= 8 {
                        prop_assert!(!debug.contains(secret.trim()), "{}", debug);
                    }
                }
                Err(error) => {
                    let text = format!("{error} {error:?}");
                    if secret.trim().len() >= 8 {
                        prop_assert!(!text.contains(secret.trim()), "{}", text);
                    }
                }
            }
            Ok(())
        },
    );
}

/// The keys a simulator case signs with are what the fuzzer thinks they are.
#[test]
fn the_fuzz_accounts_are_well_formed() {
    assert_eq!(sim_key().len(), 128);
    assert_eq!(fuzz_key().len(), 128);
    let key = fuzz_key();
    let windows = key.len() - KEY_WINDOW + 1;
    let unique: BTreeSet<&str> = (0..windows)
        .map(|start| &key[start..start + KEY_WINDOW])
        .collect();
    assert_eq!(
        unique.len(),
        windows,
        "every {KEY_WINDOW}-character window of the key is unique"
    );
    assert!(Credentials::new(FUZZ_API_ID, SecretString::from(key.clone())).is_ok());
}
