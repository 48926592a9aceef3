//! The `sim` subcommand: run the simulator as its own process.

use clap::Args;

/// Arguments of `lunanode-operator sim`.
#[derive(Debug, Args)]
pub struct SimArgs {}

impl SimArgs {
    /// Runs the simulator until interrupted; returns the process exit code.
    pub async fn run(self) -> anyhow::Result<i32> {
        anyhow::bail!("not implemented yet")
    }
}
