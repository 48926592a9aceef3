//! Generation of the CustomResourceDefinition YAML from the Rust types (`lunanode-operator crds`).
//! The committed files under `crds/` are checked against this output by a test.

use std::path::PathBuf;

use clap::Args;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD this operator serves, in the stable order of [`super::kinds`].
pub fn all() -> Vec<CustomResourceDefinition> {
    macro_rules! crds {
        ($($kind:ty),* $(,)?) => {
            vec![$(<$kind>::crd()),*]
        };
    }
    crate::for_each_kind!(crds)
        .into_iter()
        .map(unwrap_descriptions)
        .collect()
}

/// Joins the hard-wrapped lines of the `///` comments that became schema descriptions, keeping
/// paragraph breaks, so that `kubectl explain` can wrap the text itself; drops the `uint*`
/// formats the API server does not know.
fn unwrap_descriptions(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                // schemars names unsigned integers `uint32` and friends, a format the API server
                // does not know (it warns at install); the `minimum` it also sets says enough.
                if map
                    .get("format")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|format| format.starts_with("uint"))
                {
                    map.remove("format");
                }
                for (key, child) in map.iter_mut() {
                    match child {
                        serde_json::Value::String(text) if key == "description" => {
                            *text = unwrap_lines(text);
                        }
                        _ => walk(child),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    walk(&mut value);
    serde_json::from_value(value).unwrap_or(crd)
}

/// `"a\nb\n\nc"` becomes `"a b\n\nc"`.
fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            paragraph
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
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

#[cfg(test)]
mod tests {
    use super::unwrap_lines;

    #[test]
    fn descriptions_are_unwrapped_but_keep_paragraphs() {
        assert_eq!(
            unwrap_lines("one\ntwo\n three\n\nnext\nparagraph"),
            "one two three\n\nnext paragraph"
        );
        assert_eq!(unwrap_lines("single"), "single");
    }
}
