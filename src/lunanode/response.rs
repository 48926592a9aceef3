//! Reading an HTTP answer into a JSON value or a classified [`Error`].
//!
//! The order matters: HTTP 429 is throttling and 5xx/408 are transient whatever the body says;
//! then the body must be a JSON object with a `success` field; `"yes"` is the value, anything
//! else carries an `error` text (HTML entities decoded) that decides between auth, throttled and
//! plain API errors. API-level errors normally come with HTTP 200.

use std::time::Duration;

use serde_json::Value;

use super::{
    decode::{html_unescape, scalar_text},
    error::{Error, snippet},
};

/// Classifies one answer. `retry_after` is the raw `Retry-After` header, if any.
pub fn interpret(status: u16, retry_after: Option<&str>, body: &str) -> Result<Value, Error> {
    if status == 429 {
        return Err(Error::Throttled {
            retry_after: retry_after.and_then(parse_retry_after),
        });
    }
    if (300..400).contains(&status) {
        // Redirects are not followed: the request is signed for this endpoint.
        return Err(Error::decode(format!(
            "the API answered with a redirect (http status {status}), which is not followed: check the endpoint"
        )));
    }
    let parsed: Option<Value> = serde_json::from_str(body.trim_start_matches('\u{feff}')).ok();
    if status >= 500 || status == 408 {
        // Keep the server's own words when it sent the usual envelope.
        let detail = parsed
            .as_ref()
            .and_then(|value| value.get("error"))
            .and_then(scalar_text)
            .map(|text| format!(": {}", html_unescape(&text)))
            .unwrap_or_default();
        return Err(Error::Transient {
            message: format!("http status {status}{detail}"),
            status: Some(status),
            request_sent: true,
        });
    }
    let Some(Value::Object(map)) = parsed else {
        let message = if (200..300).contains(&status) {
            "the response is not a json object".to_owned()
        } else {
            format!("unexpected http status {status} and a response that is not a json object")
        };
        return Err(Error::Decode {
            message,
            snippet: snippet(body),
        });
    };
    let Some(success) = map.get("success") else {
        // No excerpt: a JSON body may hold secrets (login details); the keys are enough.
        let keys: Vec<&str> = map.keys().map(String::as_str).take(10).collect();
        return Err(Error::decode(format!(
            "the response has no success field (http status {status}, keys: {})",
            keys.join(", ")
        )));
    };
    let succeeded = match success {
        Value::String(text) => text == "yes",
        Value::Bool(flag) => *flag,
        _ => false,
    };
    if succeeded {
        return Ok(Value::Object(map));
    }
    let text = map
        .get("error")
        .and_then(scalar_text)
        .filter(|text| !text.trim().is_empty())
        .map(|text| html_unescape(&text))
        .unwrap_or_else(|| "unknown error".to_owned());
    Err(Error::from_api_text(&text))
}

/// `Retry-After` in seconds (the HTTP-date form is not used by APIs like this one and is
/// ignored).
pub fn parse_retry_after(header: &str) -> Option<Duration> {
    header.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn success_yes_is_the_value() {
        let value = interpret(200, None, r#"{"vms":[],"success":"yes"}"#).unwrap();
        assert_eq!(value, json!({"vms": [], "success": "yes"}));
        assert!(interpret(200, None, r#"{"success":true}"#).is_ok());
    }

    #[test]
    fn api_error_text_is_unescaped() {
        let error = interpret(
            200,
            None,
            r#"{"success":"no","error":"hostname, plan_id, and\/or image_id not set &amp; &quot;x&quot; &lt;y&gt;"}"#,
        )
        .unwrap_err();
        assert_eq!(
            error,
            Error::Api {
                message: r#"hostname, plan_id, and/or image_id not set & "x" <y>"#.into()
            }
        );
    }

    #[test]
    fn authentication_failure_is_auth() {
        let body = r#"{"success":"no","error":"authentication failure; common reasons: bad nonce (computer time off), source IP mismatch, invalid API id\/key"}"#;
        let error = interpret(200, None, body).unwrap_err();
        assert_eq!(error.category(), "auth");
        assert!(error.to_string().starts_with("authentication failure"));
    }

    #[test]
    fn a_missing_error_text_is_unknown_error() {
        let error = interpret(200, None, r#"{"success":"no"}"#).unwrap_err();
        assert_eq!(error.to_string(), "unknown error");
    }

    #[test]
    fn status_429_is_throttled_with_retry_after() {
        let error = interpret(429, Some("12"), "slow down").unwrap_err();
        assert_eq!(
            error,
            Error::Throttled {
                retry_after: Some(Duration::from_secs(12))
            }
        );
        let error = interpret(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), "").unwrap_err();
        assert_eq!(error, Error::Throttled { retry_after: None });
        let error = interpret(
            200,
            None,
            r#"{"success":"no","error":"rate limit exceeded"}"#,
        );
        assert_eq!(error.unwrap_err().category(), "throttled");
    }

    #[test]
    fn server_errors_are_transient() {
        let error = interpret(502, None, "<html>Bad Gateway</html>").unwrap_err();
        assert_eq!(
            error,
            Error::Transient {
                message: "http status 502".into(),
                status: Some(502),
                request_sent: true
            }
        );
        assert!(error.may_have_taken_effect());
        let error = interpret(
            500,
            None,
            r#"{"success":"no","error":"database &amp; down"}"#,
        );
        assert_eq!(
            error.unwrap_err().to_string(),
            "unable to call the api: http status 500: database & down"
        );
        assert_eq!(
            interpret(408, None, "").unwrap_err().category(),
            "transient"
        );
    }

    #[test]
    fn bodies_that_are_not_objects_are_decode_errors() {
        for body in ["<html>maintenance</html>", "[]", "\"yes\"", ""] {
            let error = interpret(200, None, body).unwrap_err();
            assert_eq!(error.category(), "decode", "{body}");
        }
        let long = format!("<html>{}</html>", "x".repeat(500));
        let Error::Decode { snippet, .. } = interpret(200, None, &long).unwrap_err() else {
            panic!("expected a decode error");
        };
        assert!(snippet.starts_with("<html>xxx"));
        assert!(snippet.chars().count() <= 203);
        let error = interpret(404, None, "Not Found").unwrap_err();
        assert!(
            error.to_string().contains("unexpected http status 404"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_success_field_is_a_decode_error_without_values() {
        let error = interpret(
            200,
            None,
            r#"{"info":{"login_details":"password: s3cret"}}"#,
        );
        let text = error.unwrap_err().to_string();
        assert!(text.contains("no success field"), "{text}");
        assert!(text.contains("keys: info"));
        assert!(!text.contains("s3cret"));
    }

    #[test]
    fn a_json_error_on_a_4xx_is_still_read() {
        let error = interpret(403, None, r#"{"success":"no","error":"invalid vm"}"#).unwrap_err();
        assert!(error.is_not_found());
    }
}
