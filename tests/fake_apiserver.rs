//! The fake API server's own tests (`bench/tests/`, Python `unittest`): the end-to-end
//! suite runs against that fake in CI, so it must keep behaving as kube-apiserver does.

use std::path::Path;
use std::process::Command;

#[test]
fn fake_apiserver_behaves_like_kube_apiserver() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "bench/tests"])
        .current_dir(root)
        .output()
        .expect("running python3 -m unittest discover -s bench/tests");
    assert!(
        out.status.success(),
        "bench/tests failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
