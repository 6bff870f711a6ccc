//! A protocol-level client for tests: `myopen-probe <helper> <path> <flags> [data]`.
//! `<helper>` may be `daemon:SOCKET`: then the request goes to `myopend` at SOCKET alone; or
//! `env`: then it is `my_open`'s own choice (`MYOPEN_SOCKET`, `MYOPEN_HELPER`, the built-ins);
//! or `env-real:UID:GID`: the same from a process (started as root) whose real ids it first sets
//! to UID and GID, the effective ones staying root's, as in a set-ID program but without the
//! exec that would put it in secure-execution mode (where the environment is ignored).
//!
//! Opens through `helper` with the library; on success writes `data` (if given) to the file, then
//! copies what it can read to stdout, exit 0. On failure prints `errno N` (the errno the caller
//! sees: a system error, a policy refusal, or an unprivileged helper's refusal) or `error: ...`
//! to stderr and exits 1.
#![deny(unsafe_code)]

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let [helper, path, flags, rest @ ..] = args.as_slice() else {
        eprintln!("usage: myopen-probe <helper> <path> <flags> [data]");
        return ExitCode::from(2);
    };
    let Some(flags) = flags.to_str().and_then(|text| text.parse::<i32>().ok()) else {
        eprintln!("flags must be a decimal number");
        return ExitCode::from(2);
    };
    if let Some(ids) = helper.as_encoded_bytes().strip_prefix(b"env-real:") {
        let ids: Vec<u32> = String::from_utf8_lossy(ids)
            .split(':')
            .filter_map(|id| id.parse().ok())
            .collect();
        let [uid, gid] = ids[..] else {
            eprintln!("env-real:UID:GID");
            return ExitCode::from(2);
        };
        let root = (nix::unistd::Uid::from_raw(0), nix::unistd::Gid::from_raw(0));
        if let Err(errno) = nix::unistd::setresgid(nix::unistd::Gid::from_raw(gid), root.1, root.1)
            .and_then(|()| nix::unistd::setresuid(nix::unistd::Uid::from_raw(uid), root.0, root.0))
        {
            eprintln!("setting the real ids: {errno}");
            return ExitCode::from(2);
        }
    }
    if helper == "env" || helper.as_encoded_bytes().starts_with(b"env-real:") {
        return match myopen::my_open(path, flags) {
            Ok(fd) => {
                let mut content = Vec::new();
                let _ = std::fs::File::from(fd).read_to_end(&mut content);
                let _ = std::io::stdout().write_all(&content);
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!(
                    "errno {}\nerror: {error}",
                    error.raw_os_error().unwrap_or_default()
                );
                ExitCode::FAILURE
            }
        };
    }
    let opened = match helper.as_encoded_bytes().strip_prefix(b"daemon:") {
        Some(socket) => myopen::Daemon::at(std::ffi::OsStr::from_bytes(socket)).open(path, flags),
        None => myopen::Helper::at(helper).open(path, flags),
    };
    match opened {
        Ok(fd) => {
            let mut file = std::fs::File::from(fd);
            if let Some(data) = rest.first()
                && let Err(error) = file.write_all(data.as_encoded_bytes())
            {
                eprintln!("write: {error}");
                return ExitCode::FAILURE;
            }
            let mut content = Vec::new();
            if flags & libc::O_ACCMODE != libc::O_WRONLY {
                let _ = file.read_to_end(&mut content);
            }
            let _ = std::io::stdout().write_all(&content);
            ExitCode::SUCCESS
        }
        Err(error) if error.raw_os_error().is_some() => {
            // First line for tests that only want the errno; second, the library's own words
            // (which say whether the policy or an unprivileged helper refused).
            eprintln!(
                "errno {}\nerror: {error}",
                error.raw_os_error().unwrap_or_default()
            );
            ExitCode::FAILURE
        }
        Err(other) => {
            eprintln!("error: {other}");
            ExitCode::FAILURE
        }
    }
}
