//! One helper for many opens: prints the size of every file named, opened through a `Session`,
//! and which opens the policy refused.
//!
//! ```sh
//! MYOPEN_HELPER=target/debug/openfile-helper cargo run --example session -- /var/log/*.log
//! ```

use std::process::ExitCode;

use myopen::{Error, Session};

fn main() -> ExitCode {
    let session = match Session::new() {
        Ok(session) => session,
        Err(error) => {
            eprintln!("session: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "helper {} (privileged: {:?})",
        session.helper().program().display(),
        session.helper_is_privileged()
    );
    for path in std::env::args_os().skip(1) {
        match session.open(&path, libc::O_RDONLY) {
            Ok(fd) => {
                let size = std::fs::File::from(fd)
                    .metadata()
                    .map(|metadata| metadata.len())
                    .unwrap_or(0);
                println!("{}: {size} bytes", path.to_string_lossy());
            }
            Err(error @ Error::PolicyRefused { .. }) => println!("refused by policy: {error}"),
            Err(error) => println!("error: {error}"),
        }
    }
    ExitCode::SUCCESS
}
