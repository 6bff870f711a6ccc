// The identity of the code that gives a policy its meaning, shared by `build.rs` (which bakes it
// into the helper as MYOPEN_POLICY_CODE) and the test that checks it covers every such file
// (`policy::compiled_tests`). Included with `include!`, so it depends on nothing but std.

/// Whether `relative` (a path under `src/policy/`, `/`-separated) is code that gives rules their
/// meaning: Rust, neither tests nor the TOML reference the parser is checked against.
fn is_policy_code(relative: &str) -> bool {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    relative.ends_with(".rs") && !name.contains("tests") && name != "toml_reference.rs"
}

/// FNV-1a, 64 bits, over each file's relative name and contents, in name order: an identity for
/// equality, not a defence (only root writes a compiled policy).
fn policy_code_hash(files: &[(String, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|left, right| left.0.cmp(&right.0));
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, text) in sorted {
        for byte in name.bytes().chain([0]).chain(text.iter().copied()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Every file of policy code below `root`, at any depth, as (its `/`-separated path relative to
/// `root`, its contents); `visit` sees every directory and every file taken (build.rs asks cargo
/// to rerun when any of them changes).
fn collect_policy_code(
    root: &std::path::Path,
    visit: &mut dyn FnMut(&std::path::Path),
) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    let mut directories = vec![root.to_path_buf()];
    while let Some(directory) = directories.pop() {
        visit(&directory);
        for entry in std::fs::read_dir(&directory)? {
            let path = entry?.path();
            if path.is_dir() {
                directories.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(root)
                .map_err(std::io::Error::other)?
                .to_string_lossy()
                .replace('\\', "/");
            if is_policy_code(&relative) {
                visit(&path);
                files.push((relative, std::fs::read(&path)?));
            }
        }
    }
    Ok(files)
}
