//! Generation of the CustomResourceDefinition YAML from the Rust types (`lunanode-operator crds`).
//! The committed files under `crds/` are checked against this output by a test.

use std::path::PathBuf;

use clap::Args;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// Every CRD this operator serves, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    Vec::new()
}

/// The file name a CRD is written to under `crds/`: `<plural>.<group>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// Renders one CRD as a YAML document.
pub fn to_yaml(crd: &CustomResourceDefinition) -> anyhow::Result<String> {
    Ok(serde_norway::to_string(crd)?)
}

/// Arguments of `lunanode-operator crds`.
#[derive(Debug, Args)]
pub struct CrdsArgs {
    /// Write one file per kind into this folder instead of printing a multi-document stream.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

impl CrdsArgs {
    /// Prints or writes the CRDs; returns the process exit code.
    pub fn run(self) -> anyhow::Result<i32> {
        let crds = all();
        match self.out_dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                for crd in &crds {
                    std::fs::write(dir.join(file_name(crd)), to_yaml(crd)?)?;
                }
            }
            None => {
                for crd in &crds {
                    print!("---\n{}", to_yaml(crd)?);
                }
            }
        }
        Ok(0)
    }
}
