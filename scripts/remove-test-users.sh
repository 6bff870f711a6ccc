#!/usr/bin/env bash
# Removes what the privileged tests create (tests/src/install.rs): the test users and group and
# the /tmp/myopen-it tree, and the user an interrupted `make demo` left. Safe to run when none of
# it exists.
set -u
[ "$(id -u)" -eq 0 ] || exit 0
for user in myopen-alice myopen-bob; do
  id "$user" >/dev/null 2>&1 && userdel "$user" 2>/dev/null
done
for group in myopen-readers myopen-alice myopen-bob; do
  getent group "$group" >/dev/null 2>&1 && groupdel "$group" 2>/dev/null
done
rm -rf "${IT_ROOT:-/tmp/myopen-it}"
# The demo user of an interrupted `make demo` (scripts/demo.sh), recognised by its comment.
if [ "$(getent passwd myopen-demo | cut -d: -f5)" = "myopen demo user (make demo)" ]; then
  userdel myopen-demo 2>/dev/null
  getent group myopen-demo >/dev/null 2>&1 && groupdel myopen-demo 2>/dev/null
fi
exit 0
