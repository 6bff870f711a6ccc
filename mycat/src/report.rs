//! Diagnostics on standard error, worded as GNU cat words them.

use std::io::{self, Write};

use nix::errno::Errno;

/// The C library's text for `errno` ("Input/output error"), as cat prints it.
pub fn strerror(errno: Errno) -> String {
    myopen::strerror(errno as i32)
}

/// Prints `mycat: MESSAGE`.
pub fn report(message: &str) {
    let _ = writeln!(io::stderr(), "mycat: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_the_c_library_ones() {
        assert_eq!(strerror(Errno::EIO), "Input/output error");
        assert_eq!(strerror(Errno::EACCES), "Permission denied");
        assert_eq!(strerror(Errno::ENOSPC), "No space left on device");
        assert_eq!(strerror(Errno::EISDIR), "Is a directory");
    }
}
