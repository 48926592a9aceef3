//! The `api` subcommand: call one action and print the JSON response.
//!
//! `lunanode-operator api [--endpoint URL] CATEGORY ACTION [key=value ...]`, with the credentials
//! from `LUNANODE_API_ID` and `LUNANODE_API_KEY`. The response goes to standard output as pretty
//! JSON; a failure prints the API's own error text to standard error and exits with 1.
//! `api --list` prints every catalogued action.

use std::{fmt, io::Write, time::Duration};

use anyhow::Context;
use clap::Args;
use secrecy::SecretString;

use super::{Client, ClientConfig, Credentials, DEFAULT_ENDPOINT, actions, check_parameters};

/// How a command reaches the API: the endpoint, the credentials and the transport settings
/// (shared by `api` and `export`).
#[derive(Args)]
pub struct Connection {
    /// Base URL of the API, e.g. a simulator's `http://127.0.0.1:8080/api/`.
    #[arg(long, env = "LUNANODE_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    pub endpoint: String,
    /// The API ID (16 characters).
    #[arg(long, env = "LUNANODE_API_ID")]
    pub api_id: Option<String>,
    /// The API key (128 characters). Prefer the environment variable: command-line arguments
    /// are visible to other users of the machine.
    #[arg(long, env = "LUNANODE_API_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub api_key: Option<SecretString>,
    /// Use the legacy API, which sends the whole API key in clear text (over HTTPS). The key
    /// needs legacy access enabled in the panel.
    #[arg(long)]
    pub legacy: bool,
    /// Accept a plain `http://` endpoint (a simulator): the API ID and half of the API key then
    /// travel without TLS.
    #[arg(long, env = "LUNANODE_ALLOW_INSECURE_ENDPOINT")]
    pub allow_insecure_endpoint: bool,
    /// Time limit of one HTTP attempt, in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout_seconds: u64,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::debug_fields!(f, self, "Connection" {
            endpoint, api_id, api_key, legacy, allow_insecure_endpoint, timeout_seconds,
        })
    }
}

impl Connection {
    /// The client these settings describe; an error names what is missing.
    pub fn client(self) -> anyhow::Result<Client> {
        let (credentials, config) = self.parts()?;
        Ok(Client::new(credentials, config)?)
    }

    /// The credentials and the client configuration these settings describe.
    pub fn parts(self) -> anyhow::Result<(Credentials, ClientConfig)> {
        let api_id = self
            .api_id
            .context("no API ID: set LUNANODE_API_ID (or pass --api-id)")?;
        let api_key = self.api_key.context("no API key: set LUNANODE_API_KEY")?;
        let credentials = Credentials::new(api_id, api_key)?;
        let config = ClientConfig {
            endpoint: self.endpoint,
            timeout: Duration::from_secs(self.timeout_seconds.max(1)),
            legacy: self.legacy,
            allow_insecure: self.allow_insecure_endpoint,
            ..ClientConfig::default()
        };
        Ok((credentials, config))
    }
}

/// Arguments of `lunanode-operator api`.
#[derive(Args)]
pub struct ApiArgs {
    /// Where and how to call.
    #[command(flatten)]
    pub connection: Connection,
    /// Print every known action as `category/action` and exit.
    #[arg(long)]
    pub list: bool,
    /// The category, e.g. `vm`.
    #[arg(required_unless_present = "list")]
    pub category: Option<String>,
    /// The action, e.g. `list`.
    #[arg(required_unless_present = "list")]
    pub action: Option<String>,
    /// The action's parameters, e.g. `vm_id=81ebdd9e-...`.
    #[arg(value_name = "KEY=VALUE", value_parser = parse_parameter)]
    pub parameters: Vec<(String, String)>,
}

impl fmt::Debug for ApiArgs {
    // Parameter values may be passwords; only their names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .parameters
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        super::debug_fields!(f, self, "ApiArgs" {
            connection, list, category, action, parameters: names,
        })
    }
}

fn parse_secret(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(text))
}

/// `key=value`; the value may be empty or contain `=`, the key may not be empty.
fn parse_parameter(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err("expected key=value, e.g. vm_id=123".to_owned()),
    }
}

impl ApiArgs {
    /// Runs the command and returns the process exit code.
    pub async fn run(self) -> anyhow::Result<i32> {
        let mut stdout = std::io::stdout().lock();
        let mut stderr = std::io::stderr().lock();
        self.run_with(&mut stdout, &mut stderr).await
    }

    /// Runs the command writing to the given streams (for tests).
    pub async fn run_with(self, out: &mut impl Write, err: &mut impl Write) -> anyhow::Result<i32> {
        let Self {
            connection,
            list,
            category,
            action,
            parameters,
        } = self;
        if list {
            for spec in actions::ACTIONS {
                writeln!(out, "{}", spec.path())?;
            }
            return Ok(0);
        }
        let (Some(category), Some(action)) = (category, action) else {
            anyhow::bail!("CATEGORY and ACTION are required (see --list)");
        };
        let Some(spec) = actions::find(&category, &action) else {
            writeln!(err, "unknown action {category}/{action} (see --list)")?;
            return Ok(1);
        };
        let pairs: Vec<(&str, &str)> = parameters
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        for (name, _) in &pairs {
            if !spec.accepts(name) {
                writeln!(
                    err,
                    "warning: {} does not list the parameter {name}",
                    spec.path()
                )?;
            }
        }
        // Missing parameters are reported before credentials are even looked at.
        if let Err(error) = check_parameters(spec, &pairs) {
            writeln!(err, "{error}")?;
            return Ok(1);
        }
        let client = connection.client()?;
        match client.request(&category, &action, &pairs).await {
            Ok(response) => {
                writeln!(out, "{}", serde_json::to_string_pretty(&response)?)?;
                Ok(0)
            }
            Err(error) => {
                writeln!(err, "{error}")?;
                Ok(1)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Test {
        #[command(flatten)]
        api: ApiArgs,
    }

    #[test]
    fn the_command_is_consistent_and_hides_the_key() {
        Test::command().debug_assert();
        let command = Test::command();
        let key = command
            .get_arguments()
            .find(|argument| argument.get_id() == "api_key")
            .unwrap();
        assert!(key.is_hide_env_values_set());
    }

    #[test]
    fn parameters_are_key_value() {
        let parsed =
            Test::try_parse_from(["t", "vm", "info", "vm_id=1", "name=a=b", "x="]).unwrap();
        assert_eq!(
            parsed.api.parameters,
            [
                ("vm_id".to_owned(), "1".to_owned()),
                ("name".to_owned(), "a=b".to_owned()),
                ("x".to_owned(), String::new())
            ]
        );
        let error = Test::try_parse_from(["t", "vm", "info", "vm_id"]).unwrap_err();
        assert!(error.to_string().contains("expected key=value"), "{error}");
        assert!(Test::try_parse_from(["t", "vm", "info", "=1"]).is_err());
        assert!(Test::try_parse_from(["t", "vm"]).is_err());
    }

    #[test]
    fn debug_hides_parameter_values_and_the_key() {
        let parsed = Test::try_parse_from([
            "t",
            "--api-key",
            "topsecretkey",
            "email",
            "user-add",
            "password=hunter2",
        ])
        .unwrap();
        let debug = format!("{parsed:?}");
        assert!(debug.contains("password"));
        assert!(!debug.contains("hunter2"));
        assert!(!debug.contains("topsecretkey"));
    }

    #[tokio::test]
    async fn list_prints_every_action() {
        let parsed = Test::try_parse_from(["t", "--list"]).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = parsed.api.run_with(&mut out, &mut err).await.unwrap();
        assert_eq!(code, 0);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), actions::ACTIONS.len());
        assert!(text.lines().any(|line| line == "vm/create"));
        assert!(text.lines().any(|line| line == "lb/member_add"));
    }

    #[tokio::test]
    async fn missing_parameters_and_unknown_actions_fail_before_sending() {
        let parsed = Test::try_parse_from(["t", "vm", "info"]).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = parsed.api.run_with(&mut out, &mut err).await.unwrap();
        assert_eq!(code, 1);
        assert_eq!(
            String::from_utf8(err).unwrap().trim(),
            "invalid request: vm_id not set"
        );

        let parsed = Test::try_parse_from(["t", "vm", "explode"]).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(parsed.api.run_with(&mut out, &mut err).await.unwrap(), 1);
        assert!(
            String::from_utf8(err)
                .unwrap()
                .contains("unknown action vm/explode")
        );
    }
}
