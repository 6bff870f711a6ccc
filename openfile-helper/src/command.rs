//! The helper's command line, parsed once, before anything else happens. It is a fixed protocol
//! spoken by the library (and by the book's C client), not an interface for people, and it comes
//! from a caller who may be hostile: parsing is pure, and no argv makes it panic.

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use myopen::wire::{self, ArgumentError, OneShotRequest};

use crate::policy::{Access, AccessSet};

/// What the helper was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `<sockfd#> <pathname> <mode>`, the book's one-shot request. `request` is an error when
    /// the socket number parsed but the rest did not: that refusal still goes out on the socket.
    OneShot {
        socket: RawFd,
        request: Result<OneShotRequest, ArgumentError>,
    },
    /// `--session <sockfd#>`: many requests over one seqpacket socket.
    Session { socket: RawFd },
    /// `--check [FILE]`: validate the installed policy, or FILE.
    Check { file: Option<PathBuf> },
    /// `--compile`: store the installed policy compiled (root only).
    Compile,
    /// `--explain [--user NAME] [--access WORDS] PATH`.
    Explain {
        user: Option<String>,
        access: AccessSet,
        path: PathBuf,
    },
    /// `--help`.
    Help,
    /// `--version`.
    Version,
    /// A request with no socket to answer on: refused with its errno as the exit status.
    BadRequest(ArgumentError),
    /// An administrator's command used wrongly: the reason, for a usage message (exit status 2).
    BadUsage(String),
}

impl Command {
    /// Parses argv without the program name.
    pub fn parse(args: &[OsString]) -> Command {
        let Some(first) = args.first() else {
            return Command::BadRequest(ArgumentError::WrongCount(0));
        };
        let rest = &args[1..];
        match first.as_bytes() {
            b"--help" => Command::Help,
            b"--version" => Command::Version,
            b"--check" => match rest {
                [] => Command::Check { file: None },
                [file] => Command::Check {
                    file: Some(PathBuf::from(file)),
                },
                _ => Command::BadUsage("--check takes at most one policy file".to_owned()),
            },
            b"--compile" => match rest {
                [] => Command::Compile,
                _ => Command::BadUsage("--compile takes no arguments".to_owned()),
            },
            b"--explain" => parse_explain(rest),
            flag if flag == wire::session::FLAG.as_bytes() => match rest {
                [socket] => match wire::parse_socket_fd(socket) {
                    Ok(socket) => Command::Session { socket },
                    Err(error) => Command::BadRequest(error),
                },
                _ => Command::BadRequest(ArgumentError::WrongCount(rest.len())),
            },
            _ => match wire::parse_socket_fd(first) {
                Ok(socket) => Command::OneShot {
                    socket,
                    request: wire::parse_one_shot(args),
                },
                // Report what is wrong with the whole line when there is more than the number.
                Err(socket_error) => {
                    Command::BadRequest(wire::parse_one_shot(args).err().unwrap_or(socket_error))
                }
            },
        }
    }

    /// The inherited descriptor start-up hardening must keep open: the socket to answer on.
    pub fn inherited_socket(&self) -> Option<RawFd> {
        match self {
            Command::OneShot { socket, .. } | Command::Session { socket } => Some(*socket),
            _ => None,
        }
    }
}

fn parse_explain(args: &[OsString]) -> Command {
    let mut user = None;
    let mut access = AccessSet::EMPTY.with(Access::Read);
    let mut path = None;
    let mut rest = args.iter();
    let usage = |why: &str| Command::BadUsage(why.to_owned());
    while let Some(arg) = rest.next() {
        match arg.as_bytes() {
            b"--user" => match rest.next().and_then(|name| name.to_str()) {
                Some(name) => user = Some(name.to_owned()),
                None => return usage("--user needs a user name"),
            },
            b"--access" => match rest
                .next()
                .and_then(|words| words.to_str())
                .map(parse_access_words)
            {
                Some(Ok(words)) => access = words,
                Some(Err(word)) => return usage(&format!("unknown access word {word:?}")),
                None => return usage("--access needs words such as read,write"),
            },
            _ if path.is_none() => path = Some(PathBuf::from(arg)),
            _ => return usage("--explain takes one PATH"),
        }
    }
    match path {
        Some(path) => Command::Explain { user, access, path },
        None => usage("--explain needs a PATH"),
    }
}

fn parse_access_words(words: &str) -> Result<AccessSet, String> {
    words
        .split(',')
        .filter(|word| !word.is_empty())
        .try_fold(AccessSet::EMPTY, |set, word| {
            Access::from_word(word.trim())
                .map(|access| set.with(access))
                .ok_or_else(|| word.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        Command::parse(&args)
    }

    fn read() -> AccessSet {
        AccessSet::EMPTY.with(Access::Read)
    }

    #[test]
    fn each_command_and_the_socket_it_keeps() {
        let one_shot = parse(&["3", "/etc/hosts", "0"]);
        assert!(
            matches!(&one_shot, Command::OneShot { socket: 3, request: Ok(request) }
            if request.path == "/etc/hosts" && request.flags == 0)
        );
        assert_eq!(one_shot.inherited_socket(), Some(3));
        assert_eq!(parse(&["--session", "5"]), Command::Session { socket: 5 });
        assert_eq!(parse(&["--session", "5"]).inherited_socket(), Some(5));
        assert_eq!(parse(&["--check"]), Command::Check { file: None });
        assert_eq!(parse(&["--compile"]), Command::Compile);
        assert!(matches!(
            parse(&["--compile", "/tmp/p.toml"]),
            Command::BadUsage(_)
        ));
        assert_eq!(
            parse(&["--check", "/tmp/p.toml"]),
            Command::Check {
                file: Some("/tmp/p.toml".into())
            }
        );
        assert_eq!(
            parse(&[
                "--explain",
                "--user",
                "alice",
                "--access",
                "read,write",
                "/x"
            ]),
            Command::Explain {
                user: Some("alice".into()),
                access: read().with(Access::Write),
                path: "/x".into()
            }
        );
        assert_eq!(
            parse(&["--explain", "/x"]),
            Command::Explain {
                user: None,
                access: read(),
                path: "/x".into()
            }
        );
        for command in [
            parse(&["--help"]),
            parse(&["--version"]),
            parse(&["--check"]),
        ] {
            assert_eq!(command.inherited_socket(), None, "{command:?}");
        }
    }

    #[test]
    fn a_one_shot_refusal_keeps_its_socket_when_the_number_parsed() {
        // The socket number is good, the flags are not: the refusal goes out on fd 4.
        let command = parse(&["4", "/etc/hosts", "0x0"]);
        assert_eq!(
            command,
            Command::OneShot {
                socket: 4,
                request: Err(ArgumentError::BadFlagsNumber)
            }
        );
        assert_eq!(command.inherited_socket(), Some(4));
        assert_eq!(
            parse(&["4", ""]),
            Command::OneShot {
                socket: 4,
                request: Err(ArgumentError::WrongCount(2))
            }
        );
    }

    #[test]
    fn garbage_is_refused_with_an_errno_or_a_usage_message() {
        assert_eq!(
            parse(&[]),
            Command::BadRequest(ArgumentError::WrongCount(0))
        );
        assert_eq!(
            parse(&["x", "/etc/hosts", "0"]),
            Command::BadRequest(ArgumentError::BadSocketNumber)
        );
        assert_eq!(
            parse(&["-1", "/a", "0", "extra"]),
            Command::BadRequest(ArgumentError::WrongCount(4))
        );
        assert_eq!(
            parse(&["--session"]),
            Command::BadRequest(ArgumentError::WrongCount(0))
        );
        assert_eq!(
            parse(&["--session", "3", "4"]),
            Command::BadRequest(ArgumentError::WrongCount(2))
        );
        assert_eq!(
            parse(&["--session", "+3"]),
            Command::BadRequest(ArgumentError::BadSocketNumber)
        );
        for (args, why) in [
            (
                &["--check", "a", "b"][..],
                "--check takes at most one policy file",
            ),
            (&["--explain"], "--explain needs a PATH"),
            (&["--explain", "/a", "/b"], "--explain takes one PATH"),
            (&["--explain", "--user"], "--user needs a user name"),
            (
                &["--explain", "--access", "exec", "/a"],
                "unknown access word \"exec\"",
            ),
        ] {
            assert_eq!(parse(args), Command::BadUsage(why.to_owned()), "{args:?}");
        }
    }
}
