//! The identity of the code that gives a policy its meaning (`src/policy/`, tests aside), so that
//! a compiled policy is used only by a helper built from the same parser and decision code: a
//! helper upgraded with a parser fix must not go on serving rules the old parser compiled.

use std::fs;
use std::path::Path;

fn main() {
    let directory = Path::new("src/policy");
    println!("cargo:rerun-if-changed={}", directory.display());
    let mut names: Vec<String> = fs::read_dir(directory)
        .expect("src/policy is readable")
        .map(|entry| {
            entry
                .expect("src/policy lists")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| {
            name.ends_with(".rs") && !name.contains("tests") && name != "toml_reference.rs"
        })
        .collect();
    names.sort();
    // FNV-1a, 64 bits: an identity for equality, not a defence (only root writes the file).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for name in &names {
        let path = directory.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let text = fs::read(&path).expect("a policy source is readable");
        for byte in name.bytes().chain([0]).chain(text).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=MYOPEN_POLICY_CODE={hash:016x}");
}
