//! `myopend`, the setuid-free install mode of myopen: a root daemon, started by systemd (socket
//! activation) or by hand, never installed setuid. Everything is in `openfile_helper::daemon`.
#![deny(unsafe_code)]

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::ExitCode::from(openfile_helper::daemon::main(&args))
}
