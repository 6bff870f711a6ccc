# myopen: build, install, package, test, benchmark.
#
#   make install        build and install mycat, myopen-run, openfile-helper (privileged), the
#                       default policy, man pages, completions and libmyopen (the C ABI: .so, .a,
#                       myopen.h, myopen.pc) (PREFIX, DESTDIR, PRIVILEGE=caps|setuid|daemon|none,
#                       LIBDIR, SYSTEMDUNITDIR, ...)
#   make uninstall      remove them again (the policy only while it is still the default)
#   make demo           as root: build, install into a temporary prefix, show mycat at work, clean up
#   make deb, make rpm  the packages, in $(TARGET_DIR)/debian and $(TARGET_DIR)/rpm
#   make test           every test (installs missing test tools first when run as root)
#   make bench          the benchmarks (bench/fence-cost.sh: the kernel fence's cost;
#                       bench/daemon.sh: myopend against the helper, cat and sudo); figures go
#                       to BENCHMARKS.md by hand
#
# Paths are baked into the binaries at build time, like autotools' sysconfdir/libexecdir: the
# helper reads $(SYSCONFDIR)/myopen/policy.toml, mycat runs $(LIBEXECDIR)/openfile-helper.

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
LIBEXECDIR  ?= $(PREFIX)/libexec
# libmyopen and its pkg-config file (LIBDIR/pkgconfig). The GNU default; the packages pass the
# distribution's own: /usr/lib/<multiarch> for the .deb, /usr/lib64 (or %{_libdir}) for the .rpm.
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
SYSCONFDIR  ?= /etc
DATAROOTDIR ?= $(PREFIX)/share
MANDIR      ?= $(DATAROOTDIR)/man
BASHCOMPDIR ?= $(DATAROOTDIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(DATAROOTDIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATAROOTDIR)/fish/vendor_completions.d
DESTDIR     ?=
# caps: cap_dac_read_search,cap_dac_override+p (setuid root where the file system cannot hold
# capabilities); setuid: setuid root; daemon: no privileged helper, myopend and its systemd units
# (myopen.socket, myopen.service) instead; none: no privilege (for staging packages).
PRIVILEGE   ?= caps
# Where PRIVILEGE=daemon puts the systemd units.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
# Where myopend listens ($(RUNSTATEDIR)/myopen/socket), baked into the library and the daemon.
RUNSTATEDIR ?= /run
# Where the helper sends its audit lines; empty: the build's default, /dev/log.
SYSLOG_SOCKET ?=
TARGET_DIR  ?= target
CARGO       ?= cargo
# How the one-shot helper is linked (myopend is always a dynamic build against the system's C
# library, with every NSS source). static-musl (the default): a static PIE linked with musl (Rust
# target $(MUSL_TARGET)), without glibc's start-up CPU probing, whose 68 CPUID instructions at
# every exec each trap to the hypervisor in a virtual machine; the policy's user and group names
# then come from /etc/passwd and /etc/group only (DESIGN.md, myopen-policy(5)). static: a static
# glibc PIE; it has the `files` database built in, and other NSS sources (sss, ldap, systemd) are
# loaded at run time and need the glibc it was built with. dynamic: every NSS source, the
# distribution packages' choice, whose glibc is updated under them.
HELPER_LINK ?= static-musl
# static-musl: mycat is a static PIE linked with musl (Rust target $(MUSL_TARGET); `make deps`
# adds it): no dynamic loading and no glibc CPU probing at start-up, so a mycat that asks for no
# privilege takes a third of cat's time (BENCHMARKS.md). mycat looks up no names, so nothing is
# lost. dynamic: cargo's default build against the system's glibc (the .deb and the .rpm).
MYCAT_LINK  ?= static-musl
HOST        := $(shell rustc -vV | sed -n 's/^host: //p')
MUSL_TARGET := $(subst -gnu,-musl,$(HOST))
HELPER_TARGET = $(if $(filter static-musl,$(HELPER_LINK)),$(MUSL_TARGET),$(HOST))
HELPER_BUILT = $(if $(filter static static-musl,$(HELPER_LINK)),$(TARGET_DIR)/static/$(HELPER_TARGET)/release,$(TARGET_DIR)/release)
MYCAT_BUILT = $(if $(filter static-musl,$(MYCAT_LINK)),$(TARGET_DIR)/static/$(MUSL_TARGET)/release,$(TARGET_DIR)/release)
ifeq ($(filter static-musl dynamic,$(MYCAT_LINK)),)
$(error MYCAT_LINK=$(MYCAT_LINK): use static-musl or dynamic)
endif

BUILD_ENV = env $(if $(SYSLOG_SOCKET),MYOPEN_SYSLOG_SOCKET=$(SYSLOG_SOCKET),-u MYOPEN_SYSLOG_SOCKET) \
	MYOPEN_LIBEXECDIR=$(LIBEXECDIR) MYOPEN_SYSCONFDIR=$(SYSCONFDIR) MYOPEN_RUNSTATEDIR=$(RUNSTATEDIR)
INSTALL_ENV = DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) BINDIR=$(BINDIR) LIBEXECDIR=$(LIBEXECDIR) \
	LIBDIR=$(LIBDIR) INCLUDEDIR=$(INCLUDEDIR) \
	SYSCONFDIR=$(SYSCONFDIR) MANDIR=$(MANDIR) BASHCOMPDIR=$(BASHCOMPDIR) \
	ZSHCOMPDIR=$(ZSHCOMPDIR) FISHCOMPDIR=$(FISHCOMPDIR) PRIVILEGE=$(PRIVILEGE) \
	SYSTEMDUNITDIR=$(SYSTEMDUNITDIR) RUNSTATEDIR=$(RUNSTATEDIR) \
	BUILT=$(TARGET_DIR)/release HELPER_BUILT=$(HELPER_BUILT) MYCAT_BUILT=$(MYCAT_BUILT)

.PHONY: all build install uninstall demo deb rpm deps test bench clean

all: build

build:
	$(BUILD_ENV) $(CARGO) build --release --locked --target-dir $(TARGET_DIR) \
		-p mycat -p myopen-run -p openfile-helper -p myopen-completions --bins
	$(BUILD_ENV) $(CARGO) build --release --locked --target-dir $(TARGET_DIR) -p myopen-capi --lib
ifeq ($(HELPER_LINK),static-musl)
	@test -d "$$(rustc --print sysroot)/lib/rustlib/$(MUSL_TARGET)" || { echo "make: the Rust \
	target $(MUSL_TARGET) is missing (HELPER_LINK=static-musl): make deps adds it, or choose \
	HELPER_LINK=static" >&2; exit 1; }
endif
ifneq ($(filter static static-musl,$(HELPER_LINK)),)
	$(BUILD_ENV) RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked \
		--target $(HELPER_TARGET) --target-dir $(TARGET_DIR)/static -p openfile-helper --bins
endif
ifeq ($(MYCAT_LINK),static-musl)
	$(BUILD_ENV) RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked \
		--target $(MUSL_TARGET) --target-dir $(TARGET_DIR)/static -p mycat --bins
endif

install: build
	$(INSTALL_ENV) packaging/install.sh install

uninstall:
	$(INSTALL_ENV) packaging/install.sh uninstall

demo:
	scripts/demo.sh

deb:
	TARGET_DIR=$(TARGET_DIR) packaging/deb/build-deb.sh

rpm:
	TARGET_DIR=$(TARGET_DIR) packaging/rpm/build-rpm.sh

deps:
	scripts/install-deps.sh

# The privileged tests install a helper whose policy lives in a test tree; the policy location is
# fixed at build time (nothing at run time may change it), so they get a build of their own.
# IT_ROOT: where they install and create things; another one lets a second checkout run its
# privileged suite at the same time.
IT_ROOT ?= /tmp/myopen-it
IT_ENV  = MYOPEN_SYSCONFDIR=$(IT_ROOT)/etc MYOPEN_SYSLOG_SOCKET=$(IT_ROOT)/log.sock
# The helper the privileged tests run is linked as HELPER_LINK says (static-musl: the musl
# target; otherwise host, a plain cargo build), so that they test what `make install` ships;
# `make test IT_TARGET=host` tests the glibc helper the packages ship. myopend always comes from
# the plain build, as it is installed.
IT_TARGET ?= $(if $(filter static-musl,$(HELPER_LINK)),$(MUSL_TARGET),host)
IT_TARGET_ARGS = $(if $(filter host,$(IT_TARGET)),,--target $(IT_TARGET))
IT_RUSTFLAGS = $(if $(filter host,$(IT_TARGET)),,RUSTFLAGS="-C target-feature=+crt-static")

test: deps
	$(CARGO) build --workspace --bins --locked
	$(IT_ENV) $(CARGO) build -p openfile-helper --bins --locked --target-dir target/it
	$(IT_ENV) $(CARGO) build -p openfile-helper --bins --locked --features fault-injection \
		--target-dir target/it-fault
ifneq ($(IT_TARGET),host)
	$(IT_ENV) $(IT_RUSTFLAGS) $(CARGO) build -p openfile-helper --bins --locked \
		$(IT_TARGET_ARGS) --target-dir target/it
	$(IT_ENV) $(IT_RUSTFLAGS) $(CARGO) build -p openfile-helper --bins --locked \
		--features fault-injection $(IT_TARGET_ARGS) --target-dir target/it-fault
endif
	status=0; MYOPEN_IT_TARGET=$(IT_TARGET) MYOPEN_IT_ROOT=$(IT_ROOT) \
		$(CARGO) test --workspace --locked || status=$$?; \
	IT_ROOT=$(IT_ROOT) scripts/remove-test-users.sh; exit $$status

bench: deps
	$(CARGO) build --release --workspace --bins --locked
	$(CARGO) build --release -p myopen-capi --lib --locked
	$(CARGO) bench -p myopen-tests --locked
	bench/mycat-vs-cat.sh
	bench/mycat-throughput.sh
	@if [ "$$(id -u)" -eq 0 ]; then bench/myopen-run.sh; \
	else echo "NOT RUN: bench/myopen-run.sh needs root (it installs a setuid helper)"; fi
	@if [ "$$(id -u)" -eq 0 ]; then bench/user-case.sh; \
	else echo "NOT RUN: bench/user-case.sh needs root (it installs setuid and file-capability helpers)"; fi
	@if [ "$$(id -u)" -eq 0 ]; then bench/oneshot-static-vs-dynamic.sh; \
	else echo "NOT RUN: bench/oneshot-static-vs-dynamic.sh needs root (it installs setuid helpers)"; fi
	@if [ "$$(id -u)" -eq 0 ]; then bench/fence-cost.sh; \
	else echo "NOT RUN: bench/fence-cost.sh needs root (it installs a setuid helper)"; fi
	@if [ "$$(id -u)" -eq 0 ]; then bench/daemon.sh; \
	else echo "NOT RUN: bench/daemon.sh needs root (it runs myopend and installs a setuid helper)"; fi

clean:
	$(CARGO) clean
	scripts/remove-test-users.sh
