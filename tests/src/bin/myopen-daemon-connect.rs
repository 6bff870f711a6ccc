//! `myopen-daemon-connect <socket>`: connects to `myopend` at `socket` (as whoever runs it),
//! passes the connected socket, before the daemon's hello is read, over its standard input (a
//! Unix socket the test made) and exits: the test then speaks on a connection someone else made.
#![deny(unsafe_code)]

use std::os::fd::AsFd;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let [socket] = args.as_slice() else {
        eprintln!("usage: myopen-daemon-connect <socket>");
        return ExitCode::from(2);
    };
    let connection = match nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    ) {
        Ok(connection) => connection,
        Err(errno) => {
            eprintln!("socket: {errno}");
            return ExitCode::FAILURE;
        }
    };
    let connected =
        nix::sys::socket::UnixAddr::new(std::path::Path::new(socket)).and_then(|address| {
            nix::sys::socket::connect(std::os::fd::AsRawFd::as_raw_fd(&connection), &address)
        });
    if let Err(errno) = connected {
        eprintln!("connect: {errno}");
        return ExitCode::FAILURE;
    }
    let stdin = std::io::stdin();
    let sent = myopen::fdpass::send_with_fds(stdin.as_fd(), b"c", &[connection.as_fd()]);
    match sent {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("passing the connection: {error}");
            ExitCode::FAILURE
        }
    }
}
