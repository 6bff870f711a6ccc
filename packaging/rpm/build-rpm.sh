#!/usr/bin/env bash
# Builds the myopen .rpms with rpmbuild from a staged `make install DESTDIR=...`: `make rpm`.
# Writes $TARGET_DIR/rpm/RPMS/<arch>/myopen-<version>-1.<arch>.rpm and, beside it, the library
# subpackages myopen-libs (libmyopen.so.0) and myopen-devel (header, pkg-config file, .so link,
# .a, my_open(3)), as Fedora splits a shared library; prints their paths, myopen's last.
# The helper carries its file capabilities in the package (see myopen.spec); show them with
#   rpm -qp --filecaps FILE.rpm      or      rpm -qlvp FILE.rpm (the modes)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
target_dir="${TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
out="$target_dir/rpm"
stage="$out/stage"

die() { printf 'build-rpm: error: %s\n' "$*" >&2; exit 1; }
for tool in rpmbuild strip gzip; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (Debian: apt-get install rpm binutils)"
done
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
[ -n "$version" ] || die "no version in $root/Cargo.toml"

rm -rf "$out"
mkdir -p "$stage" "$out/BUILD" "$out/BUILDROOT" "$out/RPMS" "$out/SPECS" "$out/SRPMS" "$out/SOURCES"
libdir="$(rpm --eval '%{_libdir}')"
# %{_unitdir} comes with systemd-rpm-macros (Fedora, openSUSE); rpm alone (Debian) lacks it.
unitdir="$(rpm --eval '%{?_unitdir}')"
unitdir="${unitdir:-/usr/lib/systemd/system}"
# PRIVILEGE=daemon stages the helper without privilege (the spec's %caps gives it its own) plus
# myopend and the units.
make --no-print-directory install HELPER_LINK=dynamic MYCAT_LINK=dynamic DESTDIR="$stage" PREFIX=/usr SYSCONFDIR=/etc \
  LIBEXECDIR=/usr/libexec LIBDIR="$libdir" RUNSTATEDIR=/run SYSTEMDUNITDIR="$unitdir" \
  PRIVILEGE=daemon TARGET_DIR="$target_dir"
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
  "$stage/usr/bin/mycat" "$stage/usr/bin/myopen-run" "$stage/usr/libexec/openfile-helper" \
  "$stage/usr/libexec/myopend" "$stage$libdir/libmyopen.so.$version"
strip --strip-debug --enable-deterministic-archives "$stage$libdir/libmyopen.a"
gzip -9n "$stage"/usr/share/man/man*/*

rpmbuild -bb --quiet \
  --define "_topdir $out" \
  --define "myopen_version $version" \
  --define "myopen_stage $stage" \
  --define "myopen_unitdir $unitdir" \
  packaging/rpm/myopen.spec
for package in myopen-libs myopen-devel myopen; do
  rpm="$(find "$out/RPMS" -name "$package-$version-1.*.rpm" | head -n 1)"
  [ -n "$rpm" ] || die "rpmbuild wrote no $package package under $out/RPMS"
  echo "$rpm"
done
