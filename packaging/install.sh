#!/usr/bin/env bash
# Installs or uninstalls myopen: `make install` and `make uninstall` call this with the
# Makefile's variables in the environment. Run it through make, which builds the binaries first.
#
#   packaging/install.sh install | uninstall
#
# Environment (all set by the Makefile): DESTDIR PREFIX BINDIR LIBEXECDIR LIBDIR INCLUDEDIR
# SYSCONFDIR MANDIR BASHCOMPDIR ZSHCOMPDIR FISHCOMPDIR PRIVILEGE (caps, setuid, daemon or none)
# SYSTEMDUNITDIR RUNSTATEDIR BUILT
# (the directory holding the built mycat, myopen-run, openfile-helper, myopen-completions and
# libmyopen), HELPER_BUILT (the directory holding the helper, when it is built apart: static) and
# MYCAT_BUILT (the directory holding mycat, when it is built apart: static-musl).
#
# Promises: an existing policy is never overwritten; the helper is made privileged only as the
# last step, on a file that nobody else can have opened; a privileged helper is stripped of its
# privilege before it is replaced or removed (so no hard link keeps a privileged copy alive);
# a helper is never installed privileged on a nosuid mount (the kernel would ignore both the
# setuid bit and file capabilities there).
set -euo pipefail

readonly CAPABILITIES="cap_dac_read_search,cap_dac_override+p"
SOURCE_DIR="$(cd "$(dirname "$0")" && pwd)"
readonly SOURCE_DIR

say() { printf 'myopen: %s\n' "$*"; }
die() { printf 'myopen: error: %s\n' "$*" >&2; exit 1; }

for variable in PREFIX BINDIR LIBEXECDIR LIBDIR INCLUDEDIR SYSCONFDIR MANDIR BASHCOMPDIR ZSHCOMPDIR FISHCOMPDIR PRIVILEGE SYSTEMDUNITDIR RUNSTATEDIR; do
  [ -n "${!variable:-}" ] || die "$variable is not set (run this through 'make install')"
done
DESTDIR="${DESTDIR:-}"

bin="$DESTDIR$BINDIR"
libexec="$DESTDIR$LIBEXECDIR"
policy_dir="$DESTDIR$SYSCONFDIR/myopen"
man="$DESTDIR$MANDIR"
helper="$libexec/openfile-helper"
lib="$DESTDIR$LIBDIR"
include="$DESTDIR$INCLUDEDIR"
pkgconfig="$lib/pkgconfig"
# libmyopen's file names: the soname (ABI major, as myopen-capi/build.rs sets it) and the real
# file, named after the release.
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$SOURCE_DIR/../Cargo.toml" | head -n 1)"
readonly SONAME=libmyopen.so.0
readonly LIBRARY="libmyopen.so.$version"

is_root() { [ "$(id -u)" -eq 0 ]; }

# The mount options of the file system that holds $1 (or would, once created).
mount_options() {
  local path="$1"
  while [ ! -e "$path" ]; do path="$(dirname "$path")"; done
  findmnt --noheadings --output OPTIONS --target "$path" 2>/dev/null || true
}

# Takes every privilege off an installed helper: file capabilities and set-id bits.
strip_privilege() {
  local file="$1"
  [ -f "$file" ] && [ ! -L "$file" ] || return 0
  if command -v setcap >/dev/null 2>&1 && command -v getcap >/dev/null 2>&1 \
      && [ -n "$(getcap "$file" 2>/dev/null)" ]; then
    setcap -r "$file" || die "cannot remove the file capabilities of $file"
  fi
  chmod u-s,g-s "$file" || die "cannot clear the set-id bits of $file"
}

# Gives the helper its privilege: capabilities, or setuid root when asked for or when the file
# system cannot hold capabilities.
make_privileged() {
  local file="$1" kind="$2"
  if [ "$kind" = caps ]; then
    if ! command -v setcap >/dev/null 2>&1; then
      say "setcap is not installed (Debian: libcap2-bin): falling back to setuid root"
      kind=setuid
    elif error="$(setcap "$CAPABILITIES" "$file" 2>&1)"; then
      chmod 0755 "$file"
      say "${file%/*}/openfile-helper: file capabilities $CAPABILITIES"
      return 0
    else
      say "cannot set file capabilities on $file (${error:-setcap failed}): the file system" \
        "cannot hold them; falling back to setuid root"
      kind=setuid
    fi
  fi
  chown root:root "$file"
  chmod 4755 "$file"
  say "${file%/*}/openfile-helper: setuid root (mode 4755)"
}

install_file() { # mode source destination
  install -D -m "$1" "$2" "$3"
}

# A systemd unit with this build's paths: the socket where the library and myopend look
# ($RUNSTATEDIR/myopen/socket, both built with the same RUNSTATEDIR), the daemon in $LIBEXECDIR.
install_unit() { # name
  local destination="$DESTDIR$SYSTEMDUNITDIR/$1"
  case "$LIBEXECDIR$RUNSTATEDIR" in
    *'|'* | *'&'* | *'\'*) die "LIBEXECDIR and RUNSTATEDIR may not hold |, & or \\" ;;
  esac
  sed -e "s|@LIBEXECDIR@|$LIBEXECDIR|g" -e "s|@RUNSTATEDIR@|$RUNSTATEDIR|g" \
    "$SOURCE_DIR/systemd/$1" >"$destination.new"
  chmod 0644 "$destination.new"
  mv -f "$destination.new" "$destination"
}

do_install() {
  : "${BUILT:?BUILT is not set (run this through make install)}"
  : "${HELPER_BUILT:=$BUILT}"
  : "${MYCAT_BUILT:=$BUILT}"
  [ -x "$MYCAT_BUILT/mycat" ] || die "$MYCAT_BUILT/mycat is missing: build first (make build)"
  [ -x "$HELPER_BUILT/openfile-helper" ] ||
    die "$HELPER_BUILT/openfile-helper is missing: build first (make build)"
  for program in myopen-run myopen-completions; do
    [ -x "$BUILT/$program" ] || die "$BUILT/$program is missing: build first (make build)"
  done
  for library in libmyopen.so libmyopen.a; do
    [ -f "$BUILT/$library" ] || die "$BUILT/$library is missing: build first (make build)"
  done
  [ -n "$version" ] || die "no version in $SOURCE_DIR/../Cargo.toml"

  case "$PRIVILEGE" in
    caps | setuid | none | daemon) ;;
    *) die "PRIVILEGE=$PRIVILEGE: must be caps, setuid, daemon or none" ;;
  esac
  if [ "$PRIVILEGE" = daemon ]; then
    [ -x "$BUILT/myopend" ] || die "$BUILT/myopend is missing: build first (make build)"
  fi
  if [ "$PRIVILEGE" != none ] && [ "$PRIVILEGE" != daemon ]; then
    is_root || die "installing the helper privileged (PRIVILEGE=$PRIVILEGE) needs root;" \
      "run as root, or stage with PRIVILEGE=none"
    case ",$(mount_options "$libexec")," in
      *,nosuid,*)
        die "$libexec is on a file system mounted nosuid: the kernel would ignore the helper's" \
          "setuid bit and file capabilities there. Choose another LIBEXECDIR, or install" \
          "unprivileged with PRIVILEGE=none"
        ;;
    esac
  fi

  install_file 0755 "$MYCAT_BUILT/mycat" "$bin/mycat"
  install_file 0755 "$BUILT/myopen-run" "$bin/myopen-run"

  # The helper: copied under a temporary name, made privileged, then renamed into place, so the
  # installed name is never a half-written or half-configured file; the old one loses its
  # privilege first.
  install -d -m 0755 "$libexec"
  staged="$libexec/.openfile-helper.new.$$"
  trap 'rm -f "$staged"' EXIT
  install -m 0755 "$HELPER_BUILT/openfile-helper" "$staged"
  if is_root; then chown root:root "$staged"; fi # chown clears capabilities: before setcap.
  # PRIVILEGE=daemon: no privileged helper at all; myopend (run by systemd as root) serves.
  if [ "$PRIVILEGE" != none ] && [ "$PRIVILEGE" != daemon ]; then
    make_privileged "$staged" "$PRIVILEGE"
  fi
  strip_privilege "$helper"
  mv -f "$staged" "$helper"
  trap - EXIT

  # The policy: never overwritten.
  install -d -m 0755 "$policy_dir" "$policy_dir/policy.d"
  if [ -e "$policy_dir/policy.toml" ]; then
    say "kept the existing policy $policy_dir/policy.toml (the default is $SOURCE_DIR/policy.toml)"
  else
    install -m 0644 "$SOURCE_DIR/policy.toml" "$policy_dir/policy.toml"
  fi
  if is_root; then
    chown root:root "$policy_dir" "$policy_dir/policy.d"
    [ -L "$policy_dir/policy.toml" ] || chown root:root "$policy_dir/policy.toml"
  fi

  install_library

  if [ "$PRIVILEGE" = daemon ]; then
    install_file 0755 "$BUILT/myopend" "$libexec/myopend"
    install -d -m 0755 "$DESTDIR$SYSTEMDUNITDIR"
    install_unit myopen.socket
    install_unit myopen.service
    install_file 0644 "$SOURCE_DIR/man/myopend.8" "$man/man8/myopend.8"
    say "installed myopend in $libexec and myopen.socket, myopen.service in $SYSTEMDUNITDIR:" \
      "enable with systemctl daemon-reload && systemctl enable --now myopen.socket"
  fi

  install_file 0644 "$SOURCE_DIR/man/mycat.1" "$man/man1/mycat.1"
  install_file 0644 "$SOURCE_DIR/man/my_open.3" "$man/man3/my_open.3"
  install_file 0644 "$SOURCE_DIR/man/myopen-run.1" "$man/man1/myopen-run.1"
  install_file 0644 "$SOURCE_DIR/man/myopen-policy.5" "$man/man5/myopen-policy.5"
  install_file 0644 "$SOURCE_DIR/man/openfile-helper.8" "$man/man8/openfile-helper.8"

  local shell destination
  for shell in bash zsh fish; do
    case "$shell" in
      bash) destination="$DESTDIR$BASHCOMPDIR/mycat" ;;
      zsh) destination="$DESTDIR$ZSHCOMPDIR/_mycat" ;;
      fish) destination="$DESTDIR$FISHCOMPDIR/mycat.fish" ;;
    esac
    install -d -m 0755 "$(dirname "$destination")"
    "$BUILT/myopen-completions" "$shell" >"$destination.new" \
      || die "cannot write the $shell completions to $destination"
    chmod 0644 "$destination.new"
    mv -f "$destination.new" "$destination"
  done

  say "installed mycat and myopen-run in $bin, openfile-helper in $libexec, the policy in" \
    "$policy_dir, libmyopen in $lib, myopen.h in $include"
  if [ -z "$DESTDIR" ] && is_root; then
    refresh_linker_cache
    say "openfile-helper --check:"
    "$helper" --check | sed 's/^/    /' || say "the policy needs attention (see above)"
  fi
}

# The pkg-config file, with the paths of this install; paths under the prefix are written
# relative to ${prefix}, so that pkg-config --define-prefix and sysroots work on a staged tree.
write_pkgconfig() {
  local relative_libdir="$LIBDIR" relative_includedir="$INCLUDEDIR"
  case "$LIBDIR" in "$PREFIX"/*) relative_libdir="\${prefix}${LIBDIR#"$PREFIX"}" ;; esac
  case "$INCLUDEDIR" in "$PREFIX"/*) relative_includedir="\${prefix}${INCLUDEDIR#"$PREFIX"}" ;; esac
  install -d -m 0755 "$pkgconfig"
  sed -e "s|@PREFIX@|$PREFIX|" -e "s|@LIBDIR@|$relative_libdir|" \
    -e "s|@INCLUDEDIR@|$relative_includedir|" -e "s|@VERSION@|$version|" \
    "$SOURCE_DIR/../myopen-capi/myopen.pc.in" >"$pkgconfig/myopen.pc.new"
  chmod 0644 "$pkgconfig/myopen.pc.new"
  mv -f "$pkgconfig/myopen.pc.new" "$pkgconfig/myopen.pc"
}

# libmyopen: the shared library under its release name with the soname link (what programs
# load) and the development link (what -lmyopen finds), the static library, the header and the
# pkg-config file. Shared and static libraries are not executables: mode 0644.
install_library() {
  install_file 0644 "$BUILT/libmyopen.so" "$lib/$LIBRARY"
  ln -sfn "$LIBRARY" "$lib/$SONAME"
  ln -sfn "$SONAME" "$lib/libmyopen.so"
  install_file 0644 "$BUILT/libmyopen.a" "$lib/libmyopen.a"
  install_file 0644 "$SOURCE_DIR/../myopen-capi/include/myopen.h" "$include/myopen.h"
  write_pkgconfig
}

# The dynamic linker's cache learns the new soname; only for the live system (not a DESTDIR
# stage, whose files the cache must never point at) and only as root.
refresh_linker_cache() {
  if command -v ldconfig >/dev/null 2>&1; then
    ldconfig || say "ldconfig failed: run it by hand before starting programs linked to libmyopen"
  fi
}

do_uninstall() {
  # The library the soname link points to: the release installed, which may not be this one.
  local installed_library
  installed_library="$(readlink "$lib/$SONAME" 2>/dev/null || true)"
  case "$installed_library" in
    */* | "") installed_library="$LIBRARY" ;;
    libmyopen.so.*) ;;
    *) installed_library="$LIBRARY" ;;
  esac
  if [ -e "$helper" ]; then
    strip_privilege "$helper"
    rm -f "$helper"
  fi
  rm -f "$libexec"/.openfile-helper.new.* "$bin/mycat" "$bin/myopen-run" \
    "$man/man1/mycat.1" "$man/man1/myopen-run.1" "$man/man5/myopen-policy.5" \
    "$man/man8/openfile-helper.8" "$man/man8/myopend.8" "$libexec/myopend" \
    "$DESTDIR$SYSTEMDUNITDIR/myopen.socket" "$DESTDIR$SYSTEMDUNITDIR/myopen.service" \
    "$man/man3/my_open.3" "$lib/$installed_library" "$lib/$SONAME" "$lib/libmyopen.so" \
    "$lib/libmyopen.a" "$include/myopen.h" "$pkgconfig/myopen.pc" \
    "$DESTDIR$BASHCOMPDIR/mycat" "$DESTDIR$ZSHCOMPDIR/_mycat" "$DESTDIR$FISHCOMPDIR/mycat.fish"
  # The policy is the administrator's: removed only while it is still the shipped default.
  if [ -f "$policy_dir/policy.toml" ]; then
    if cmp -s "$policy_dir/policy.toml" "$SOURCE_DIR/policy.toml"; then
      rm -f "$policy_dir/policy.toml"
    else
      say "kept $policy_dir/policy.toml: it differs from the default (remove it by hand)"
    fi
  fi
  rmdir "$policy_dir/policy.d" 2>/dev/null || true
  rmdir "$policy_dir" 2>/dev/null || true
  [ -d "$policy_dir/policy.d" ] && say "kept $policy_dir/policy.d: it holds drop-ins"
  if [ -z "$DESTDIR" ] && is_root; then
    refresh_linker_cache
  fi
  say "uninstalled"
}

case "${1:-}" in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *) die "usage: $0 install|uninstall" ;;
esac
