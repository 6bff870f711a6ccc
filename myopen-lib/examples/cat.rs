//! A minimal `cat` on top of myopen: each file is opened with your own rights, and through the
//! helper only when that is refused.
//!
//! ```sh
//! cargo run --example cat -- /etc/hostname /var/log/syslog
//! MYOPEN_HELPER=target/debug/openfile-helper cargo run --example cat -- FILE...
//! ```

use std::io::{self, Write};
use std::process::ExitCode;

use myopen::OpenOptions;

fn main() -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    let mut stdout = io::stdout().lock();
    for path in std::env::args_os().skip(1) {
        let copied = OpenOptions::new()
            .read(true)
            .open_fd(&path)
            .map_err(|error| error.to_string())
            .and_then(|fd| {
                io::copy(&mut std::fs::File::from(fd), &mut stdout)
                    .map_err(|error| error.to_string())
            });
        if let Err(message) = copied {
            let _ = writeln!(io::stderr(), "cat: {message}");
            status = ExitCode::FAILURE;
        }
    }
    status
}
