//! Responses written the way the PHP server writes them (`json_encode` of arrays built from
//! database rows): every scalar a string, `/` escaped as `\/`, non-ASCII as `\uXXXX`, and an
//! empty associative array as `[]`. Handlers build ordinary `serde_json` values; this module
//! turns them into the quirky wire form, so the client's lenient decoders are exercised.

use serde_json::Value;

use crate::lunanode::sign;

/// The body of an API response.
pub(crate) fn php_json(value: &Value) -> String {
    // Outside strings JSON has no `/`, so escaping every `/` in the text is exactly PHP's
    // escaping of `/` inside strings.
    sign::ascii_json(&phpify(value)).replace('/', "\\/")
}

/// Scalars to strings (`true` → `"1"`, `false` → `""`, as PHP casts them); empty maps to `[]`.
fn phpify(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::Bool(true) => Value::String("1".into()),
        Value::Bool(false) => Value::String(String::new()),
        Value::Number(number) => Value::String(number.to_string()),
        Value::String(text) => Value::String(text.clone()),
        Value::Array(items) => Value::Array(items.iter().map(phpify).collect()),
        Value::Object(map) if map.is_empty() => Value::Array(Vec::new()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), phpify(item)))
                .collect(),
        ),
    }
}

/// PHP's `htmlspecialchars` with `ENT_QUOTES`.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#039;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scalars_become_strings_and_slashes_are_escaped() {
        let body = php_json(&json!({
            "success": "yes",
            "subnet": "172.20.0.0/16",
            "size": 100,
            "price": 0.005,
            "external": true,
            "internal": false,
            "metadata": {},
            "list": [1, "a/b"],
        }));
        assert_eq!(
            body,
            r#"{"external":"1","internal":"","list":["1","a\/b"],"metadata":[],"price":"0.005","size":"100","subnet":"172.20.0.0\/16","success":"yes"}"#
        );
    }

    #[test]
    fn non_ascii_is_escaped() {
        assert_eq!(
            php_json(&json!({"name": "caf\u{e9}"})),
            r#"{"name":"caf\u00e9"}"#
        );
    }

    #[test]
    fn status_html_matches_the_reference_sample() {
        let html = html_escape(r#"<font color="green"><b>Online</b></font>"#);
        assert_eq!(
            php_json(&json!({ "status": html })),
            r#"{"status":"&lt;font color=&quot;green&quot;&gt;&lt;b&gt;Online&lt;\/b&gt;&lt;\/font&gt;"}"#
        );
    }
}
