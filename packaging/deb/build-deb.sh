#!/usr/bin/env bash
# Builds the myopen .deb from a staged `make install DESTDIR=...` with dpkg-deb (no debhelper,
# no source package): `make deb`. Writes $TARGET_DIR/debian/myopen_<version>_<arch>.deb and
# prints its path last.
#
# Layout: /usr/bin/mycat, /usr/bin/myopen-run, /usr/libexec/openfile-helper (shipped 0755 without privilege: the
# postinst gives it its capabilities, or setuid root, unless dpkg-statoverride says otherwise),
# /etc/myopen/policy.toml (a conffile), /etc/myopen/policy.d/, man pages, completions.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
target_dir="${TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
out="$target_dir/debian"
stage="$out/stage"
debian_dir="$root/packaging/deb"

die() { printf 'build-deb: error: %s\n' "$*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (Debian: apt-get install dpkg-dev binutils)"
done

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
[ -n "$version" ] || die "no version in $root/Cargo.toml"
architecture="$(dpkg --print-architecture)"

rm -rf "$stage"
mkdir -p "$stage"
make --no-print-directory install DESTDIR="$stage" PREFIX=/usr SYSCONFDIR=/etc \
  LIBEXECDIR=/usr/libexec ZSHCOMPDIR=/usr/share/zsh/vendor-completions PRIVILEGE=none \
  TARGET_DIR="$target_dir"

# Debian's rules: stripped binaries, compressed man pages, the copyright and changelog in
# /usr/share/doc, everything owned by root (dpkg-deb --root-owner-group).
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
  "$stage/usr/bin/mycat" "$stage/usr/bin/myopen-run" "$stage/usr/libexec/openfile-helper"
gzip -9n "$stage"/usr/share/man/man*/*
doc="$stage/usr/share/doc/myopen"
install -d -m 0755 "$doc"
install -m 0644 "$debian_dir/copyright" "$doc/copyright"
gzip -9n <"$debian_dir/changelog" >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
changelog_version="$(sed -n '1s/^myopen (\([^)]*\)).*/\1/p' "$debian_dir/changelog")"
[ "$changelog_version" = "$version" ] \
  || die "$debian_dir/changelog starts with version $changelog_version, Cargo.toml says $version"

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
depends="$(cd "$shlibs_dir" && dpkg-shlibdeps -O "$stage/usr/bin/mycat" "$stage/usr/bin/myopen-run" \
  "$stage/usr/libexec/openfile-helper" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies"
installed_size="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"

sed -e "s/@VERSION@/$version/" -e "s/@ARCHITECTURE@/$architecture/" \
  -e "s/@DEPENDS@/$depends/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
  "$debian_dir/control.in" >"$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
  | xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

deb="$out/myopen_${version}_${architecture}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
