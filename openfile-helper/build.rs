//! The identity of the code that gives a policy its meaning (`src/policy/` and every directory
//! below it, tests aside), so that a compiled policy is used only by a helper built from the same
//! parser and decision code: a helper upgraded with a parser fix must not go on serving rules the
//! old parser compiled.

include!("policy_code.rs");

fn main() {
    let files = collect_policy_code(std::path::Path::new("src/policy"), &mut |path| {
        println!("cargo:rerun-if-changed={}", path.display());
    })
    .expect("src/policy is readable");
    println!(
        "cargo:rustc-env=MYOPEN_POLICY_CODE={}",
        policy_code_hash(&files)
    );
}
