//! Rewrites the generated manifests: the CRD from `common`'s types (in `crds/` and the
//! Helm chart's `crds/`), then the Kustomize renderings in `deploy/` (which include it). Run from anywhere in the workspace:
//! `cargo run -p sealed-manifests`.

use sealed_manifests::{CRD_FILES, RENDERINGS, crd_yaml, render, workspace_root};
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = workspace_root();
    let crd = match crd_yaml() {
        Ok(crd) => crd,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for file in CRD_FILES {
        if let Err(e) = std::fs::write(root.join(file), &crd) {
            eprintln!("error: cannot write {file}: {e}");
            return ExitCode::FAILURE;
        }
        println!("wrote {file}");
    }
    for (dir, file) in RENDERINGS {
        let text = match render(dir) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = std::fs::write(root.join(file), text) {
            eprintln!("error: cannot write {file}: {e}");
            return ExitCode::FAILURE;
        }
        println!("wrote {file}");
    }
    ExitCode::SUCCESS
}
