//! The `openfile-helper` program.
//!
//! `#![no_main]`: Rust's own start-up code (`lang_start`) must not run in a setuid program before
//! start-up hardening. It allocates an alternate signal stack, which fails under a tiny
//! RLIMIT_DATA the caller chose; the panic that follows runs with every capability effective and
//! honours the caller's `RUST_BACKTRACE` (`full` deadlocked it). The C runtime calls `main`
//! below directly, and it does only what the helper needs: argv, then the helper.
#![no_main]
#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod entry {
    use std::ffi::{CStr, OsString, c_char, c_int};
    use std::os::unix::ffi::OsStringExt;

    /// The process's entry point, called by the C runtime with the kernel's argv.
    // SAFETY: this is the only `main` symbol in the program; the C runtime calls it once, with
    // the signature it declares here.
    #[unsafe(no_mangle)]
    extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
        let count = usize::try_from(argc).unwrap_or(0);
        let args: Vec<OsString> = (1..count)
            .map_while(|index| {
                // SAFETY: the kernel passes `argc` pointers in `argv` (NULL-terminated); an index
                // below `argc` is in bounds. With argc == 0 (execve with an empty argv) the range
                // is empty and argv is not read at all.
                let arg = unsafe { *argv.add(index) };
                // SAFETY: each non-null entry is a NUL-terminated string the kernel copied in,
                // alive for the whole process.
                (!arg.is_null()).then(|| unsafe { CStr::from_ptr(arg) })
            })
            .map(|arg| OsString::from_vec(arg.to_bytes().to_vec()))
            .collect();
        c_int::from(openfile_helper::main(&args))
    }
}
