//! Authentication of API calls.
//!
//! Signed API (`POST /api/{category}/{action}/`): the form fields `req`, `signature` and
//! `nonce` (others, such as the Go clients' `handler`, are ignored; a repeated field counts
//! once, the last one wins, as in PHP). `req` must be a JSON object with string `api_id` and
//! `api_partialkey`; the partial key must be the first 64 characters of the account's key;
//! the nonce must be whole seconds within the window of the *real* clock; the signature is
//! checked over the raw `req` exactly as received.
//!
//! Legacy API (`/api.php`, `/api`): `api_id` and the full `api_key` as plain fields.

use std::collections::BTreeMap;

use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use super::{
    call::{ApiError, Params},
    clock::real_now_ms,
    simulator::Simulator,
};
use crate::lunanode::sign;

/// The real service's answer to every authentication failure.
pub(crate) const AUTH_FAILURE: &str = "authentication failure; common reasons: bad nonce (computer time off), source IP mismatch, invalid API id/key";

/// Why a call was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// Answered with [`AUTH_FAILURE`].
    Auth,
    /// `req` is there but is not a JSON object: answered with this message.
    Malformed(&'static str),
}

/// An authenticated call.
#[derive(Debug)]
pub(crate) struct Authenticated {
    /// The caller's account.
    pub api_id: String,
    /// The parameters, or why they cannot be used (an API error, after authentication).
    pub params: Result<Params, ApiError>,
}

/// Form fields, the last occurrence of each name winning.
pub(crate) fn form_fields(body: &[u8]) -> BTreeMap<String, String> {
    // Percent-decoding is lossy: invalid UTF-8 becomes U+FFFD (and then fails the signature).
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// Compares two strings in constant time (for equal lengths).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The first `PARTIAL_KEY_LEN` characters of a key.
fn partial(key: &str) -> &str {
    key.char_indices()
        .nth(sign::PARTIAL_KEY_LEN)
        .map_or(key, |(end, _)| &key[..end])
}

/// Checks a signed call.
pub(crate) fn signed(
    sim: &Simulator,
    category: &str,
    action: &str,
    body: &[u8],
) -> Result<Authenticated, Rejected> {
    let fields = form_fields(body);
    let (Some(req), Some(signature), Some(nonce)) = (
        fields.get("req"),
        fields.get("signature"),
        fields.get("nonce"),
    ) else {
        return Err(Rejected::Auth);
    };
    let request: Map<String, Value> = match serde_json::from_str::<Value>(req) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return Err(Rejected::Malformed(
                "invalid request: req must be a JSON object",
            ));
        }
        Err(_) => {
            return Err(Rejected::Malformed(
                "invalid request: req is not valid JSON",
            ));
        }
    };
    let (Some(api_id), Some(partial_key)) = (
        request.get("api_id").and_then(Value::as_str),
        request.get("api_partialkey").and_then(Value::as_str),
    ) else {
        return Err(Rejected::Auth);
    };
    let key = sim.key(api_id).ok_or(Rejected::Auth)?;
    let key = key.expose_secret();
    if !same(partial_key, partial(key)) {
        return Err(Rejected::Auth);
    }
    // Whole seconds only (milliseconds are rejected by the real service, and are far off).
    if nonce.is_empty() || nonce.len() > 18 || !nonce.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejected::Auth);
    }
    let nonce_secs: i64 = nonce.parse().map_err(|_| Rejected::Auth)?;
    let now_secs = real_now_ms() / 1000;
    let window = i64::try_from(sim.nonce_window().as_secs()).unwrap_or(i64::MAX);
    if nonce_secs.abs_diff(now_secs) > window.unsigned_abs() {
        return Err(Rejected::Auth);
    }
    let handler = sign::handler(category, action);
    if !sign::verify(key.as_bytes(), &handler, req, nonce, signature) {
        return Err(Rejected::Auth);
    }
    if !sim.accept_once(api_id, nonce_secs, signature, now_secs) {
        return Err(Rejected::Auth);
    }
    Ok(Authenticated {
        api_id: api_id.to_owned(),
        params: Params::from_request(&request),
    })
}

/// A legacy call: the category, the action and the authenticated caller.
#[derive(Debug)]
pub(crate) struct LegacyCall {
    /// `category` field.
    pub category: String,
    /// `action` field.
    pub action: String,
    /// The caller, or why not.
    pub caller: Result<Authenticated, Rejected>,
}

/// Reads a legacy call from the query string and the form body (the body wins, like PHP's
/// `$_REQUEST`).
pub(crate) fn legacy(sim: &Simulator, query: &str, body: &[u8]) -> LegacyCall {
    let mut fields = form_fields(query.as_bytes());
    fields.extend(form_fields(body));
    let category = fields.remove("category").unwrap_or_default();
    let action = fields.remove("action").unwrap_or_default();
    let api_id = fields.remove("api_id");
    let api_key = fields.remove("api_key");
    let caller = match (api_id, api_key) {
        (Some(api_id), Some(api_key)) => match sim.key(&api_id) {
            Some(key) if same(&api_key, key.expose_secret()) => Ok(Authenticated {
                api_id,
                params: Ok(Params::from_pairs(fields)),
            }),
            _ => Err(Rejected::Auth),
        },
        _ => Err(Rejected::Auth),
    };
    LegacyCall {
        category,
        action,
        caller,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_key_is_the_first_64_characters() {
        let key = "k".repeat(128);
        assert_eq!(partial(&key).len(), 64);
        assert_eq!(partial("short"), "short");
    }

    #[test]
    fn last_form_field_wins() {
        let fields = form_fields(b"a=1&a=2&b=x+y&c=%2F");
        assert_eq!(fields.get("a").map(String::as_str), Some("2"));
        assert_eq!(fields.get("b").map(String::as_str), Some("x y"));
        assert_eq!(fields.get("c").map(String::as_str), Some("/"));
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let fields = form_fields(b"req=%FF%FE&\xff\xfe=1");
        assert!(fields.contains_key("req"));
    }
}
