//! The `lunanode-operator` command: a thin CLI over the library.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use lunanode_operator::{api, controller, export, kubectl, lunanode, sim, telemetry};

/// Kubernetes operator, API client and simulator for the Luna Node cloud.
#[derive(Debug, Parser)]
#[command(name = "lunanode-operator", version, about)]
struct Cli {
    #[command(flatten)]
    log: telemetry::LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the operator: reconcile the lunanode.com kinds against the Luna Node API.
    Run(controller::run::RunArgs),
    /// Call one Luna Node API action and print the JSON response.
    Api(lunanode::cli::ApiArgs),
    /// Run the local Luna Node API simulator.
    Sim(sim::cli::SimArgs),
    /// Print the CustomResourceDefinitions as YAML, or write one file per kind.
    Crds(api::crdgen::CrdsArgs),
    /// Write manifests for the objects an account holds, so that applying them adopts them.
    Export(export::ExportArgs),
    /// Print what applying manifests would do to the cloud, making no change.
    Plan(controller::plan::PlanArgs),
    /// Print an object, what it uses and what uses it, with their readiness.
    Tree(kubectl::TreeArgs),
    /// Print why an object is as it is: its conditions, identity and Events.
    Why(kubectl::WhyArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Installed as `kubectl-lunanode`, the binary is the kubectl plugin: `kubectl lunanode ...`.
    let plugin = std::env::args_os()
        .next()
        .and_then(|program| {
            std::path::Path::new(&program)
                .file_stem()
                .map(|stem| stem == "kubectl-lunanode")
        })
        .unwrap_or(false);
    let mut command = Cli::command();
    if plugin {
        command = command.bin_name("kubectl lunanode");
    }
    let cli = Cli::from_arg_matches(&command.get_matches())?;
    telemetry::init_logging(&cli.log)?;
    let code = match cli.command {
        Command::Run(args) => args.run().await?,
        Command::Api(args) => args.run().await?,
        Command::Sim(args) => args.run().await?,
        Command::Crds(args) => args.run()?,
        Command::Export(args) => args.run().await?,
        Command::Plan(args) => args.run().await?,
        Command::Tree(args) => args.run().await?,
        Command::Why(args) => args.run().await?,
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
