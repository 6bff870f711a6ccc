//! Gives libmyopen.so its soname, so that programs linked against it record `libmyopen.so.0`
//! (DT_NEEDED) and keep working across compatible library updates. packaging/install.sh installs
//! the library under that name, with the development symlink `libmyopen.so` beside it.

/// Bumped only when a change breaks programs built against the previous ABI (and then the
/// Debian runtime package's name, libmyopen0, with it).
const ABI_MAJOR: u32 = 0;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmyopen.so.{ABI_MAJOR}");
}
