//! Compiles the C side of the interop tests from `c/`: the book-style `my_open` as a static
//! library (linked in, for the benchmark's side-by-side run), and the book's client and helper as
//! programs in OUT_DIR.

use std::path::PathBuf;

fn main() {
    // Where the privileged tests install and create things (see src/install.rs).
    println!("cargo:rerun-if-env-changed=MYOPEN_IT_ROOT");
    let it_root = std::env::var("MYOPEN_IT_ROOT").unwrap_or_else(|_| "/tmp/myopen-it".to_owned());
    assert!(
        it_root.starts_with('/') && !it_root.contains(".."),
        "MYOPEN_IT_ROOT must be an absolute path"
    );
    println!("cargo:rustc-env=MYOPEN_IT_ROOT={it_root}");
    // The helper's musl target (`make install`'s HELPER_LINK=static-musl), the IT builds' default.
    let host = std::env::var("TARGET").expect("cargo sets TARGET");
    println!(
        "cargo:rustc-env=MYOPEN_IT_MUSL_TARGET={}",
        host.replace("-gnu", "-musl")
    );
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for file in [
        "c/unp_myopen.c",
        "c/unp_myopen.h",
        "c/unp_mycat.c",
        "c/unp_openfile.c",
        "c/myopen_run_race.c",
    ] {
        println!("cargo:rerun-if-changed={file}");
    }
    cc::Build::new()
        .file("c/unp_myopen.c")
        .warnings(true)
        .extra_warnings(true)
        .compile("unp_myopen");

    let compiler = cc::Build::new().get_compiler();
    for (program, sources) in [
        ("unp_mycat", &["c/unp_mycat.c", "c/unp_myopen.c"][..]),
        ("unp_openfile", &["c/unp_openfile.c"]),
        ("myopen_run_race", &["c/myopen_run_race.c"]),
    ] {
        let status = compiler
            .to_command()
            .args(["-O2", "-Wall", "-Wextra", "-o"])
            .arg(out_dir.join(program))
            .args(sources)
            .status()
            .expect("the C compiler runs");
        assert!(status.success(), "compiling {program} failed");
    }
}
