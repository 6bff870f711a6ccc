//! File names in messages, quoted the way GNU coreutils quotes them (`quotef`).

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::Write;

/// Returns `name` as GNU `cat` prints it in an error: unchanged when plain; in single quotes when
/// a shell would treat a character specially (double quotes when the only such character is a
/// single quote); with `$'\NNN'` pieces for control characters and bytes that are not UTF-8.
pub fn quote(name: &OsStr) -> Cow<'_, str> {
    let bytes = name.as_encoded_bytes();
    let plain =
        |byte: &u8| byte.is_ascii_alphanumeric() || b"%+,-./:=@_^".contains(byte) || *byte >= 0x80;
    let text = match std::str::from_utf8(bytes) {
        Ok(text) if !text.is_empty() && bytes.iter().all(plain) => return Cow::Borrowed(text),
        Ok(text) if !text.chars().any(char::is_control) => text,
        _ => return Cow::Owned(quote_with_escapes(bytes)),
    };
    if text.contains('\'') && !text.contains(['"', '$', '`', '\\', '!']) {
        Cow::Owned(format!("\"{text}\""))
    } else {
        Cow::Owned(format!("'{}'", text.replace('\'', "'\\''")))
    }
}

fn quote_with_escapes(bytes: &[u8]) -> String {
    let mut quoted = String::from("'");
    let escape = |quoted: &mut String, escaped: &str| {
        let _ = write!(quoted, "'$'{escaped}''");
    };
    for chunk in bytes.utf8_chunks() {
        for character in chunk.valid().chars() {
            match character {
                '\'' => quoted.push_str("'\\''"),
                '\n' => escape(&mut quoted, "\\n"),
                '\t' => escape(&mut quoted, "\\t"),
                control if control.is_control() => {
                    escape(&mut quoted, &format!("\\{:03o}", u32::from(control)))
                }
                other => quoted.push(other),
            }
        }
        for byte in chunk.invalid() {
            escape(&mut quoted, &format!("\\{byte:03o}"));
        }
    }
    quoted.push('\'');
    quoted
        .strip_suffix("''")
        .map(str::to_owned)
        .unwrap_or(quoted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn quoting_matches_gnu_cat() {
        // Each expected text is what GNU cat 9.1 printed for `cat NAME` on a missing file.
        let cases: &[(&[u8], &str)] = &[
            (b"/etc/hosts", "/etc/hosts"),
            ("é".as_bytes(), "é"),
            (b"a b", "'a b'"),
            (b"a$b", "'a$b'"),
            (b"it's", "\"it's\""),
            (b"x\ny", "'x'$'\\n''y'"),
            (b"\xffz", "''$'\\377''z'"),
            (b"", "''"),
        ];
        for (input, expected) in cases {
            let name = OsString::from_vec(input.to_vec());
            assert_eq!(quote(&name), *expected, "{input:?}");
        }
    }
}
