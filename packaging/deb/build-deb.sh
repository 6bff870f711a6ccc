#!/usr/bin/env bash
# Builds the myopen .debs from a staged `make install DESTDIR=...` with dpkg-deb (no debhelper,
# no source package): `make deb`. Writes, in $TARGET_DIR/debian/, and prints one path a line,
# myopen's last:
#
#   libmyopen0_<version>_<arch>.deb     the shared library (soname libmyopen.so.0): what programs
#                                       linked against libmyopen need at run time
#   libmyopen-dev_<version>_<arch>.deb  what building them needs: myopen.h, myopen.pc, the
#                                       libmyopen.so link, libmyopen.a, my_open(3)
#   myopen_<version>_<arch>.deb         /usr/bin/mycat, /usr/bin/myopen-run,
#                                       /usr/libexec/openfile-helper (shipped 0755
#                                       without privilege: the postinst gives it its capabilities,
#                                       or setuid root, unless dpkg-statoverride says otherwise),
#                                       /usr/libexec/myopend and its units myopen.socket,
#                                       myopen.service (the postinst enables the socket, and starts
#                                       it where systemd runs), /etc/myopen/policy.toml (a
#                                       conffile), /etc/myopen/policy.d/, man pages, completions
#
# The split is Debian's for shared libraries (policy 8.1, 8.4): the runtime package is named
# after the soname, so that a future libmyopen1 can be installed beside it.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
target_dir="${TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
out="$target_dir/debian"
stage="$out/stage"
debian_dir="$root/packaging/deb"

die() { printf 'build-deb: error: %s\n' "$*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps strip nm gzip; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (Debian: apt-get install dpkg-dev binutils)"
done

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
[ -n "$version" ] || die "no version in $root/Cargo.toml"
architecture="$(dpkg --print-architecture)"
multiarch="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)" \
  || die "dpkg-architecture is missing (Debian: apt-get install dpkg-dev)"
libdir="/usr/lib/$multiarch"
# The distribution's directory for packaged units, as systemd's pkg-config file says
# (/lib/systemd/system on bookworm, /usr/lib/systemd/system once /usr is merged for good).
unitdir="$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || true)"
unitdir="${unitdir:-/usr/lib/systemd/system}"

rm -rf "$stage" "$out/libmyopen0" "$out/libmyopen-dev"
mkdir -p "$stage"
# PRIVILEGE=daemon stages the helper without privilege (the postinst gives it its own) plus
# myopend and the units.
make --no-print-directory install HELPER_LINK=dynamic MYCAT_LINK=dynamic DESTDIR="$stage" PREFIX=/usr SYSCONFDIR=/etc \
  LIBEXECDIR=/usr/libexec LIBDIR="$libdir" ZSHCOMPDIR=/usr/share/zsh/vendor-completions \
  RUNSTATEDIR=/run SYSTEMDUNITDIR="$unitdir" PRIVILEGE=daemon TARGET_DIR="$target_dir"

# The library's files move out of myopen's tree into the two library packages' trees.
runtime="$out/libmyopen0"
dev="$out/libmyopen-dev"
move() { # package-tree path...
  local tree="$1" path
  shift
  for path in "$@"; do
    install -d -m 0755 "$tree$(dirname "$path")"
    mv "$stage$path" "$tree$path"
  done
}
move "$runtime" "$libdir/libmyopen.so.$version" "$libdir/libmyopen.so.0"
move "$dev" "$libdir/libmyopen.so" "$libdir/libmyopen.a" "$libdir/pkgconfig/myopen.pc" \
  /usr/include/myopen.h /usr/share/man/man3/my_open.3
rmdir "$stage$libdir/pkgconfig" "$stage$libdir" "$stage/usr/lib" "$stage/usr/include" \
  "$stage/usr/share/man/man3"
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
  "$runtime$libdir/libmyopen.so.$version"
strip --strip-debug --remove-section=.comment --remove-section=.note --enable-deterministic-archives \
  "$dev$libdir/libmyopen.a"
gzip -9n "$dev/usr/share/man/man3/my_open.3"

# Debian's rules: stripped binaries, compressed man pages, the copyright and changelog in
# /usr/share/doc, everything owned by root (dpkg-deb --root-owner-group).
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
  "$stage/usr/bin/mycat" "$stage/usr/bin/myopen-run" "$stage/usr/libexec/openfile-helper" \
  "$stage/usr/libexec/myopend"
gzip -9n "$stage"/usr/share/man/man*/*
changelog_version="$(sed -n '1s/^myopen (\([^)]*\)).*/\1/p' "$debian_dir/changelog")"
[ "$changelog_version" = "$version" ] \
  || die "$debian_dir/changelog starts with version $changelog_version, Cargo.toml says $version"
# /usr/share/doc/<package>: the copyright and the changelog, in every package.
add_doc() { # tree package
  local doc="$1/usr/share/doc/$2"
  install -d -m 0755 "$doc"
  install -m 0644 "$debian_dir/copyright" "$doc/copyright"
  gzip -9n <"$debian_dir/changelog" >"$doc/changelog.gz"
  chmod 0644 "$doc/changelog.gz"
}
add_doc "$stage" myopen
add_doc "$runtime" libmyopen0
add_doc "$dev" libmyopen-dev

install -d -m 0755 "$stage/DEBIAN"
for script in postinst prerm postrm; do
  install -m 0755 "$debian_dir/$script" "$stage/DEBIAN/$script"
done
install -m 0644 "$debian_dir/conffiles" "$stage/DEBIAN/conffiles"

# Shared library dependencies, as dpkg-shlibdeps computes them (it wants a debian/control).
shlibs_dir="$out/shlibdeps"
rm -rf "$shlibs_dir"
mkdir -p "$shlibs_dir/debian"
printf 'Source: myopen\n\nPackage: myopen\nArchitecture: any\n' >"$shlibs_dir/debian/control"
shlibdeps() { # files...
  (cd "$shlibs_dir" && dpkg-shlibdeps -O "$@" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
}
depends="$(shlibdeps "$stage/usr/bin/mycat" "$stage/usr/bin/myopen-run" \
  "$stage/usr/libexec/openfile-helper" "$stage/usr/libexec/myopend")"
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies"
library_depends="$(shlibdeps "$runtime$libdir/libmyopen.so.$version")"
[ -n "$library_depends" ] || die "dpkg-shlibdeps found no dependencies of libmyopen"

# libmyopen0's control data: the shlibs and symbols files that tell dpkg-shlibdeps which
# package programs linked against libmyopen.so.0 need (every symbol is there since 0.1.0),
# and the ldconfig trigger (policy 8.1.1).
install -d -m 0755 "$runtime/DEBIAN"
printf 'libmyopen 0 libmyopen0 (>= 0.1.0)\n' >"$runtime/DEBIAN/shlibs"
{
  printf 'libmyopen.so.0 libmyopen0 #MINVER#\n* Build-Depends-Package: libmyopen-dev\n'
  for symbol in $(nm -D --defined-only --format=posix "$runtime$libdir/libmyopen.so.$version" \
      | cut -d ' ' -f 1 | LC_ALL=C sort); do
    printf ' %s@Base 0.1.0\n' "$symbol"
  done
} >"$runtime/DEBIAN/symbols"
printf 'activate-noawait ldconfig\n' >"$runtime/DEBIAN/triggers"
install -d -m 0755 "$dev/DEBIAN"

# Writes a package's control file from $debian_dir/<template>, its md5sums, and builds it.
build_package() { # tree template package depends
  local tree="$1" template="$2" package="$3" package_depends="$4" size
  install -d -m 0755 "$tree/DEBIAN"
  size="$(du -sk --exclude=DEBIAN "$tree" | cut -f1)"
  sed -e "s/@VERSION@/$version/g" -e "s/@ARCHITECTURE@/$architecture/" \
    -e "s/@DEPENDS@/$package_depends/" -e "s/@INSTALLED_SIZE@/$size/" \
    "$debian_dir/$template" >"$tree/DEBIAN/control"
  (cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
    | xargs -0 md5sum >DEBIAN/md5sums)
  chmod 0644 "$tree"/DEBIAN/*
  for script in postinst prerm postrm; do
    [ -f "$tree/DEBIAN/$script" ] && chmod 0755 "$tree/DEBIAN/$script"
  done
  local deb="$out/${package}_${version}_${architecture}.deb"
  dpkg-deb --root-owner-group -Zxz --build "$tree" "$deb" >/dev/null
  echo "$deb"
}
build_package "$runtime" libmyopen0.control.in libmyopen0 "$library_depends"
build_package "$dev" libmyopen-dev.control.in libmyopen-dev ""
build_package "$stage" control.in myopen "$depends"
