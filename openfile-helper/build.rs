//! The identity of the code that gives a policy its meaning (`src/policy/` and every directory
//! below it, tests aside), so that a compiled policy is used only by a helper built from the same
//! parser and decision code: a helper upgraded with a parser fix must not go on serving rules the
//! old parser compiled.

use std::fs;
use std::path::Path;

include!("policy_code.rs");

fn collect(root: &Path, directory: &Path, files: &mut Vec<(String, Vec<u8>)>) {
    println!("cargo:rerun-if-changed={}", directory.display());
    for entry in fs::read_dir(directory).expect("a policy directory lists") {
        let path = entry.expect("a policy directory lists").path();
        if path.is_dir() {
            collect(root, &path, files);
            continue;
        }
        let relative = path
            .strip_prefix(root)
            .expect("below src/policy")
            .to_string_lossy()
            .replace('\\', "/");
        if is_policy_code(&relative) {
            println!("cargo:rerun-if-changed={}", path.display());
            files.push((
                relative,
                fs::read(&path).expect("a policy source is readable"),
            ));
        }
    }
}

fn main() {
    let root = Path::new("src/policy");
    let mut files = Vec::new();
    collect(root, root, &mut files);
    println!(
        "cargo:rustc-env=MYOPEN_POLICY_CODE={}",
        policy_code_hash(&files)
    );
}
