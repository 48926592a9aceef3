//! The custom resource types of the `lunanode.com` group, and the generation of their CRD YAML.

pub mod crdgen;
