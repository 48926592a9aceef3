//! The `api` subcommand: call one action and print the JSON response.

use clap::Args;

/// Arguments of `lunanode-operator api`.
#[derive(Debug, Args)]
pub struct ApiArgs {}

impl ApiArgs {
    /// Runs the command and returns the process exit code.
    pub async fn run(self) -> anyhow::Result<i32> {
        anyhow::bail!("not implemented yet")
    }
}
