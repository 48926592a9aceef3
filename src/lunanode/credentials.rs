//! API credentials: the 16-character API ID and the 128-character API key.
//!
//! The key is a [`SecretString`]: it never shows in `Debug`, and validation errors name its
//! length only. The signed API sends only its first 64 characters (`api_partialkey`) and uses the
//! whole key as the HMAC key; only the opt-in legacy API sends it in clear.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::{
    error::Error,
    sign::{API_ID_LEN, API_KEY_LEN, PARTIAL_KEY_LEN},
};

/// An API ID and key, checked for shape.
#[derive(Clone)]
pub struct Credentials {
    /// The API ID (not secret).
    pub api_id: String,
    /// The API key (secret).
    pub api_key: SecretString,
}

impl Credentials {
    /// Checks the lengths (16 and 128 characters, printable ASCII) before anything is sent, as
    /// every official client does. Surrounding blanks (a trailing newline from a Secret file) are
    /// trimmed. Errors name the length found, never the key.
    pub fn new(api_id: impl Into<String>, api_key: SecretString) -> Result<Self, Error> {
        let api_id = api_id.into().trim().to_owned();
        let id_len = api_id.chars().count();
        if id_len != API_ID_LEN {
            return Err(Error::InvalidCredentials {
                message: format!("the api id must be {API_ID_LEN} characters long, not {id_len}"),
            });
        }
        if !api_id.chars().all(|ch| ch.is_ascii_graphic()) {
            return Err(Error::InvalidCredentials {
                message: "the api id must be printable ascii".to_owned(),
            });
        }
        let key = api_key.expose_secret().trim();
        let key_len = key.chars().count();
        if key_len != API_KEY_LEN {
            return Err(Error::InvalidCredentials {
                message: format!(
                    "the api key must be {API_KEY_LEN} characters long, not {key_len}"
                ),
            });
        }
        if !key.chars().all(|ch| ch.is_ascii_graphic()) {
            return Err(Error::InvalidCredentials {
                message: "the api key must be printable ascii".to_owned(),
            });
        }
        let api_key = if key.len() == api_key.expose_secret().len() {
            api_key
        } else {
            SecretString::from(key)
        };
        Ok(Self { api_id, api_key })
    }

    /// The first 64 characters of the key, sent as `api_partialkey`. The key is checked ASCII, so
    /// the byte slice is a character slice.
    pub(crate) fn partial_key(&self) -> &str {
        let key = self.api_key.expose_secret();
        key.get(..PARTIAL_KEY_LEN).unwrap_or(key)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("api_id", &self.api_id)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ID: &str = "abcdefghijklmnop";

    fn key() -> String {
        "Kq7".repeat(42) + "zz"
    }

    #[test]
    fn valid_credentials_are_accepted_and_trimmed() {
        let credentials = Credentials::new(ID, SecretString::from(format!("{}\n", key()))).unwrap();
        assert_eq!(credentials.api_key.expose_secret(), key());
        assert_eq!(credentials.partial_key(), &key()[..64]);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let credentials = Credentials::new(ID, SecretString::from(key())).unwrap();
        let debug = format!("{credentials:?} {credentials:#?}");
        assert!(debug.contains(ID));
        assert!(!debug.contains(&key()[..64]));
        assert!(!debug.contains("Kq7Kq7"));
    }

    #[test]
    fn wrong_lengths_are_named_without_the_key() {
        let short = Credentials::new("short", SecretString::from(key())).unwrap_err();
        assert_eq!(
            short.to_string(),
            "invalid credentials: the api id must be 16 characters long, not 5"
        );
        let secret = "Kq7".repeat(20);
        let error = Credentials::new(ID, SecretString::from(secret.clone())).unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(text.contains("128 characters long, not 60"), "{text}");
        assert!(!text.contains("Kq7"));
        assert_eq!(error.category(), "invalid_credentials");
    }

    #[test]
    fn non_ascii_keys_are_refused() {
        let key = "é".repeat(128);
        let error = Credentials::new(ID, SecretString::from(key)).unwrap_err();
        assert!(error.to_string().contains("printable ascii"));
    }
}
