//! The client's error type and its classes.
//!
//! Callers decide what to do from the class, never from the text: [`Error::is_retryable`] for
//! "try again later", [`Error::may_have_taken_effect`] for "a create may have happened, look
//! before creating again", [`Error::is_not_found`] for "the object is gone", and
//! [`Error::category`] for metric labels and Event reasons. No variant ever holds the API key
//! or any part of it (see [`Error::redact`]).

use std::time::Duration;

/// Longest body excerpt kept in a [`Error::Decode`].
pub const SNIPPET_LEN: usize = 200;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The API answered `success: "no"`: usually terminal (invalid plan, invalid image,
    /// `<parameter> not set`). The message is the API's own text, HTML entities decoded.
    #[error("{message}")]
    Api {
        /// The API's error text.
        message: String,
    },
    /// The API refused the credentials (bad key, bad nonce, source IP mismatch).
    #[error("{message}")]
    Auth {
        /// The API's error text.
        message: String,
    },
    /// The API asked us to slow down (HTTP 429, or an error text about rate limits). The
    /// request was not carried out.
    #[error("unable to call the api: throttled{}", retry_after_text(.retry_after))]
    Throttled {
        /// How long the server asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The call failed on the way: HTTP 5xx, a timeout, a refused or reset connection.
    #[error("unable to call the api: {message}")]
    Transient {
        /// What happened (no secrets).
        message: String,
        /// The HTTP status, when the server answered.
        status: Option<u16>,
        /// Whether the request may have reached the server. `false` only when the connection
        /// was never made, so a create certainly did not happen.
        request_sent: bool,
    },
    /// The answer could not be understood: not a JSON object, no `success` field, or a shape the
    /// typed decoder cannot read.
    #[error("failed to decode the api response: {message}{}", snippet_text(.snippet))]
    Decode {
        /// What was wrong.
        message: String,
        /// The start of the body (at most [`SNIPPET_LEN`] characters) when it was not JSON;
        /// empty otherwise, because a JSON body may carry secrets such as login details.
        snippet: String,
    },
    /// The client refused to send the request (unknown action, missing or reserved parameter).
    #[error("invalid request: {message}")]
    InvalidRequest {
        /// What is wrong with it.
        message: String,
    },
    /// The credentials are malformed (wrong lengths); nothing was sent.
    #[error("invalid credentials: {message}")]
    InvalidCredentials {
        /// What is wrong, naming lengths only.
        message: String,
    },
    /// The client configuration is unusable (endpoint URL, rate).
    #[error("invalid client configuration: {message}")]
    InvalidConfig {
        /// What is wrong.
        message: String,
    },
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    retry_after
        .map(|after| format!(" (retry after {}s)", after.as_secs()))
        .unwrap_or_default()
}

fn snippet_text(snippet: &str) -> String {
    if snippet.is_empty() {
        String::new()
    } else {
        format!(" (body starts with {snippet:?})")
    }
}

impl Error {
    /// A decode error without a body excerpt.
    pub fn decode(message: impl Into<String>) -> Self {
        Self::Decode {
            message: message.into(),
            snippet: String::new(),
        }
    }

    /// An invalid-request error.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
        }
    }

    /// Classifies the error text of a `success: "no"` answer: authentication failures, rate
    /// limits, and everything else as [`Error::Api`].
    pub fn from_api_text(text: &str) -> Self {
        let lower = text.trim().to_ascii_lowercase();
        if lower.starts_with("authentication failure") {
            Self::Auth {
                message: text.to_owned(),
            }
        } else if ["rate limit", "ratelimit", "rate-limit", "too many requests"]
            .iter()
            .any(|needle| lower.contains(needle))
        {
            Self::Throttled { retry_after: None }
        } else {
            Self::Api {
                message: text.to_owned(),
            }
        }
    }

    /// Whether trying again later may succeed: throttling and transient failures. The client
    /// already retried these where that was safe; a create that fails with a retryable error may
    /// still have happened (see [`Error::may_have_taken_effect`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Transient { .. })
    }

    /// Whether the server may have carried the request out although the caller got an error:
    /// a timeout, a dropped connection or a 5xx after the request was sent, or a success answer
    /// that could not be decoded. After a create, this means "look before creating again".
    pub fn may_have_taken_effect(&self) -> bool {
        match self {
            Self::Transient { request_sent, .. } => *request_sent,
            Self::Decode { .. } => true,
            _ => false,
        }
    }

    /// Whether the API refused the request: it was not carried out, and asking again as it is
    /// will not help (neither retryable nor possibly taken effect). A condition, not a retry.
    pub fn is_refused(&self) -> bool {
        !self.is_retryable() && !self.may_have_taken_effect()
    }

    /// Whether the API said the object does not exist: `invalid vm`, `invalid volume`, ... (but
    /// not `invalid plan selection`, which is a bad argument), or a text saying "not found".
    pub fn is_not_found(&self) -> bool {
        let Self::Api { message } = self else {
            return false;
        };
        let lower = message.trim().to_ascii_lowercase();
        (lower.starts_with("invalid ") && !lower.contains("selection"))
            || lower.contains("not found")
            || lower.contains("does not exist")
    }

    /// How long the server asked to wait, for a throttled call.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// A static label for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Api { .. } => "api",
            Self::Auth { .. } => "auth",
            Self::Throttled { .. } => "throttled",
            Self::Transient { .. } => "transient",
            Self::Decode { .. } => "decode",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::InvalidCredentials { .. } => "invalid_credentials",
            Self::InvalidConfig { .. } => "invalid_config",
        }
    }

    /// Replaces every occurrence of the given secrets (the key, the partial key) in the texts
    /// this error carries. The server or a proxy could echo the request back in an error page.
    pub fn redact(self, secrets: &[&str]) -> Self {
        let clean = |mut text: String| {
            for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
                if text.contains(secret) {
                    text = text.replace(secret, "[redacted]");
                }
                // A body excerpt cut short (see [`snippet`]) may end inside a secret: drop any
                // tail that is the start of one (four characters or more).
                let ellipsis = text.ends_with("...");
                let body_len = if ellipsis { text.len() - 3 } else { text.len() };
                let cut = (4..secret.len())
                    .rev()
                    .filter(|end| secret.is_char_boundary(*end))
                    .find(|end| text[..body_len].ends_with(&secret[..*end]));
                if let Some(end) = cut {
                    text.truncate(body_len - end);
                    text.push_str("[redacted]");
                    if ellipsis {
                        text.push_str("...");
                    }
                }
            }
            text
        };
        match self {
            Self::Api { message } => Self::Api {
                message: clean(message),
            },
            Self::Auth { message } => Self::Auth {
                message: clean(message),
            },
            Self::Transient {
                message,
                status,
                request_sent,
            } => Self::Transient {
                message: clean(message),
                status,
                request_sent,
            },
            Self::Decode { message, snippet } => Self::Decode {
                message: clean(message),
                snippet: clean(snippet),
            },
            other => other,
        }
    }
}

/// The start of `body` for an error message: at most [`SNIPPET_LEN`] characters, with line breaks
/// and other control characters turned into spaces.
pub fn snippet(body: &str) -> String {
    let mut out: String = body
        .trim()
        .chars()
        .take(SNIPPET_LEN)
        .map(|ch| if ch.is_control() { ' ' } else { ch })
        .collect();
    if body.trim().chars().count() > SNIPPET_LEN {
        out.push_str("...");
    }
    out
}

/// What a serde error says, without the values it quotes: a decoding error must not carry data
/// from the answer (an echoed request could hold the key), only what was wrong and where.
pub fn decode_reason(error: &serde_json::Error) -> String {
    let mut reason = String::new();
    let mut quoted = false;
    for c in error.to_string().chars() {
        match c {
            '"' | '`' => {
                quoted = !quoted;
                if quoted {
                    reason.push_str("\"…\"");
                }
            }
            _ if quoted => {}
            _ => reason.push(c),
        }
    }
    reason.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn api_texts_are_classified() {
        let auth = Error::from_api_text(
            "authentication failure; common reasons: bad nonce (computer time off), source IP mismatch, invalid API id/key",
        );
        assert_eq!(auth.category(), "auth");
        assert!(!auth.is_retryable());
        assert!(!auth.is_not_found());

        let throttled = Error::from_api_text("Too many requests, slow down");
        assert_eq!(throttled, Error::Throttled { retry_after: None });
        assert!(throttled.is_retryable());
        assert_eq!(
            Error::from_api_text("rate limit exceeded").category(),
            "throttled"
        );

        let missing = Error::from_api_text("invalid vm");
        assert_eq!(missing.category(), "api");
        assert!(missing.is_not_found());
        assert!(Error::from_api_text("invalid volume").is_not_found());
        assert!(!Error::from_api_text("invalid plan selection").is_not_found());
        assert!(!Error::from_api_text("region not set").is_not_found());
        assert_eq!(missing.to_string(), "invalid vm");
    }

    #[test]
    fn classes_say_what_to_do() {
        let refused = Error::Transient {
            message: "connection refused".into(),
            status: None,
            request_sent: false,
        };
        assert!(refused.is_retryable());
        assert!(!refused.may_have_taken_effect());
        let timeout = Error::Transient {
            message: "timed out".into(),
            status: None,
            request_sent: true,
        };
        assert!(timeout.may_have_taken_effect());
        assert!(Error::decode("no vm_id").may_have_taken_effect());
        assert!(!Error::decode("no vm_id").is_retryable());
        assert!(!Error::from_api_text("invalid image").may_have_taken_effect());
        // Refused: only an answer that says no, not a failure to get one.
        assert!(Error::from_api_text("invalid image").is_refused());
        assert!(!refused.is_refused());
        assert!(!timeout.is_refused());
        assert!(!Error::decode("no vm_id").is_refused());
        assert_eq!(
            Error::Throttled {
                retry_after: Some(Duration::from_secs(7))
            }
            .retry_after(),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn categories_are_static_labels() {
        let all = [
            Error::from_api_text("x"),
            Error::Auth {
                message: "x".into(),
            },
            Error::Throttled { retry_after: None },
            Error::Transient {
                message: "x".into(),
                status: Some(502),
                request_sent: true,
            },
            Error::decode("x"),
            Error::invalid_request("x"),
            Error::InvalidCredentials {
                message: "x".into(),
            },
            Error::InvalidConfig {
                message: "x".into(),
            },
        ];
        let labels: Vec<&str> = all.iter().map(Error::category).collect();
        assert_eq!(
            labels,
            [
                "api",
                "auth",
                "throttled",
                "transient",
                "decode",
                "invalid_request",
                "invalid_credentials",
                "invalid_config"
            ]
        );
    }

    #[test]
    fn messages_are_lowercase_and_carry_the_snippet() {
        let error = Error::Decode {
            message: "the response is not a json object".into(),
            snippet: snippet("<html>\n<b>502</b></html>"),
        };
        assert_eq!(
            error.to_string(),
            "failed to decode the api response: the response is not a json object (body starts with \"<html> <b>502</b></html>\")"
        );
        let throttled = Error::Throttled {
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            throttled.to_string(),
            "unable to call the api: throttled (retry after 3s)"
        );
    }

    #[test]
    fn snippets_are_truncated() {
        let long = "x".repeat(1000);
        let cut = snippet(&long);
        assert_eq!(cut.len(), SNIPPET_LEN + 3);
        assert!(snippet("é".repeat(300).as_str()).starts_with('é'));
    }

    #[test]
    fn redact_removes_a_secret_cut_short_at_the_end() {
        let error = Error::Decode {
            message: "bad".into(),
            snippet: "<html>echo: api_key=ABCDEFGHIJ...".into(),
        }
        .redact(&["ABCDEFGHIJKLMNOP"]);
        assert_eq!(error.to_string().matches("ABCD").count(), 0, "{error}");
        assert!(error.to_string().contains("[redacted]"));
    }

    #[test]
    fn decode_reasons_do_not_quote_values() {
        let error = serde_json::from_str::<u64>("\"SECRETVALUE\"").unwrap_err();
        let reason = decode_reason(&error);
        assert!(!reason.contains("SECRETVALUE"), "{reason}");
        assert!(reason.contains("invalid type"), "{reason}");
    }

    #[test]
    fn redact_removes_secrets() {
        let error = Error::Api {
            message: "bad request api_partialkey=SECRETPART".into(),
        }
        .redact(&["SECRETPART", ""]);
        assert_eq!(error.to_string(), "bad request api_partialkey=[redacted]");
    }
}
