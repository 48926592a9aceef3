//! Request signing for the Luna Node API: the `req` JSON, the nonce and the HMAC-SHA512
//! signature. Shared by the client (which signs) and the simulator (which verifies).
//!
//! The wire rules (see the API reference): `req` is a JSON object of string values plus
//! `api_id` and `api_partialkey` (the first 64 characters of the key), written ASCII-only with
//! every character above U+007F escaped as `\uXXXX`; the handler is `category/action/`; the
//! signature is the lowercase hex HMAC-SHA512, keyed by the whole 128-character key, of
//! `handler|req|nonce`.

use hmac::{Hmac, Mac};
use sha2::Sha512;

type HmacSha512 = Hmac<Sha512>;

/// Length of an API ID.
pub const API_ID_LEN: usize = 16;
/// Length of an API key.
pub const API_KEY_LEN: usize = 128;
/// How many leading characters of the key travel as `api_partialkey`.
pub const PARTIAL_KEY_LEN: usize = 64;

/// The handler string that is signed: `category/action/`, with the trailing slash.
pub fn handler(category: &str, action: &str) -> String {
    format!("{category}/{action}/")
}

/// The lowercase hex HMAC-SHA512 of `handler|req|nonce` keyed by the whole API key.
pub fn signature(key: &[u8], handler: &str, req: &str, nonce: &str) -> String {
    hex::encode(mac(key, handler, req, nonce).finalize().into_bytes())
}

/// Checks a received signature in constant time. Hex case is ignored; anything that is not hex
/// simply fails.
pub fn verify(key: &[u8], handler: &str, req: &str, nonce: &str, signature_hex: &str) -> bool {
    let Ok(expected) = hex::decode(signature_hex) else {
        return false;
    };
    mac(key, handler, req, nonce)
        .verify_slice(&expected)
        .is_ok()
}

#[allow(clippy::expect_used)]
fn mac(key: &[u8], handler: &str, req: &str, nonce: &str) -> HmacSha512 {
    // ok: HMAC accepts keys of any length (long keys are hashed), so this cannot fail.
    let mut mac = HmacSha512::new_from_slice(key).expect("HMAC takes keys of any length"); // ok: see above
    mac.update(handler.as_bytes());
    mac.update(b"|");
    mac.update(req.as_bytes());
    mac.update(b"|");
    mac.update(nonce.as_bytes());
    mac
}

/// Writes `value` as compact JSON with every non-ASCII character escaped as `\uXXXX` (surrogate
/// pairs beyond the BMP), as the official PHP and Python libraries do. Raw UTF-8 in `req` has been
/// seen to break signature checks on the real service.
pub fn ascii_json(value: &serde_json::Value) -> String {
    let compact = value.to_string();
    let mut out = String::with_capacity(compact.len());
    for ch in compact.chars() {
        if ch.is_ascii() {
            out.push(ch);
        } else {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Builds the `req` message: the parameters as strings plus `api_id` and `api_partialkey`.
/// Unset optionals are simply absent from `parameters`; they are never sent as `""` or `null`.
pub fn request_json<'a>(
    api_id: &str,
    partial_key: &str,
    parameters: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut map = serde_json::Map::new();
    for (name, value) in parameters {
        map.insert(name.to_owned(), serde_json::Value::String(value.to_owned()));
    }
    map.insert("api_id".into(), api_id.into());
    map.insert("api_partialkey".into(), partial_key.into());
    ascii_json(&serde_json::Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "abcdefghijklmnop";

    fn key() -> String {
        let mut key = "abcdefghijklmnopqrstuvwxyz".repeat(4);
        key.push_str("abcdefghijklmnopqrstuvwx");
        key
    }

    fn base_req() -> String {
        format!(r#"{{"api_id":"{ID}","api_partialkey":"{}"}}"#, &key()[..64])
    }

    #[test]
    fn reference_vector_vm_list() {
        assert_eq!(key().len(), API_KEY_LEN);
        let sig = signature(key().as_bytes(), "vm/list/", &base_req(), "775886400");
        assert_eq!(
            sig,
            "af5b7ba795e6a65fd12ea80343652ce3de1008972cff6e28185043915ac6c6152e50a931c8ec054f416226b162d21ad7c4461dc2953448f5e743bcf41cdd46c9"
        );
    }

    #[test]
    fn reference_vector_vm_create() {
        let sig = signature(key().as_bytes(), "vm/create/", &base_req(), "775886400");
        assert_eq!(
            sig,
            "183236c9a4635699e454236733a86045857818fa96f1631d1a68550a2277510ccd782fcfb15ea67d035fdfd2b3f7205258d15f72051a1e4d6f6d1d54a6b69997"
        );
    }

    #[test]
    fn reference_vector_vm_info() {
        let req = format!(
            r#"{{"api_id":"{ID}","api_partialkey":"{}","vm_id":"81ebdd9e-178f-49a4-816b-a1fc46fc5869"}}"#,
            &key()[..64]
        );
        let sig = signature(key().as_bytes(), &handler("vm", "info"), &req, "775886400");
        assert_eq!(
            sig,
            "b760bab0ef88b978a1fbed355a35b4a9d301e7152ee39d5aa0a1f35cb38403bafcaa240c4f4aee149bfcc8c06056b452464a333531d3c418344e0b55b4d67ca6"
        );
    }

    #[test]
    fn verify_accepts_uppercase_and_rejects_tampering() {
        let sig = signature(key().as_bytes(), "vm/list/", &base_req(), "1");
        assert!(verify(key().as_bytes(), "vm/list/", &base_req(), "1", &sig));
        assert!(verify(
            key().as_bytes(),
            "vm/list/",
            &base_req(),
            "1",
            &sig.to_uppercase()
        ));
        let tampered = [
            ("vm/list/", "2", sig.as_str()),
            ("vm/info/", "1", sig.as_str()),
            ("vm/list/", "1", "zz"),
        ];
        for (handler, nonce, signature) in tampered {
            assert!(
                !verify(key().as_bytes(), handler, &base_req(), nonce, signature),
                "{handler} {nonce} {signature}"
            );
        }
    }

    #[test]
    fn request_json_is_ascii_strings_only() {
        let req = request_json(ID, "p", [("hostname", "caf\u{e9}\u{1f600}"), ("ttl", "60")]);
        assert!(req.is_ascii());
        assert!(
            req.contains(r#""hostname":"caf\u00e9\ud83d\ude00""#),
            "{req}"
        );
        assert!(req.contains(r#""ttl":"60""#));
        let back: serde_json::Value = serde_json::from_str(&req).unwrap_or_default();
        assert_eq!(back["hostname"], "caf\u{e9}\u{1f600}");
        assert_eq!(back["api_id"], ID);
    }
}
