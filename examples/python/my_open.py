#!/usr/bin/env python3
"""my_open from Python through ctypes: print a file the policy lets you read.

    python3 my_open.py /var/log/auth.log

libmyopen.so.0 is found the way the dynamic linker finds it (ldconfig's cache, LD_LIBRARY_PATH);
set MYOPEN_LIBRARY to a path to load another copy.
"""
import ctypes
import os
import sys

library = ctypes.CDLL(os.environ.get("MYOPEN_LIBRARY", "libmyopen.so.0"), use_errno=True)
library.my_open.argtypes = (ctypes.c_char_p, ctypes.c_int)
library.my_open.restype = ctypes.c_int


def my_open(path, flags=os.O_RDONLY):
    """A descriptor for path, or OSError with the helper's errno (EACCES: the policy refused)."""
    fd = library.my_open(os.fsencode(path), flags)
    if fd < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), path)
    return fd


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: my_open.py <pathname>")
    try:
        fd = my_open(sys.argv[1])
    except OSError as error:
        sys.exit(f"cannot open {error.filename}: {error.strerror}")
    with os.fdopen(fd, "rb") as file:
        sys.stdout.buffer.write(file.read())


if __name__ == "__main__":
    main()
