# myopen: build, install, test, benchmark.
#
#   make install        build and install mycat and openfile-helper (PREFIX, DESTDIR, ...)
#   make test           every test (installs missing test tools first when run as root)
#   make bench          the benchmarks; figures go to BENCHMARKS.md by hand
#
# Paths are baked into the binaries at build time, like autotools' sysconfdir/libexecdir.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec
SYSCONFDIR ?= /etc
DESTDIR    ?=
CARGO      ?= cargo

BUILD_ENV = MYOPEN_LIBEXECDIR=$(LIBEXECDIR) MYOPEN_SYSCONFDIR=$(SYSCONFDIR)

.PHONY: all build install uninstall deps test bench clean

all: build

build:
	$(BUILD_ENV) $(CARGO) build --release --locked --bins

install: build
	install -D -m 0755 target/release/mycat $(DESTDIR)$(BINDIR)/mycat
	install -D -m 0755 target/release/openfile-helper $(DESTDIR)$(LIBEXECDIR)/openfile-helper

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mycat $(DESTDIR)$(LIBEXECDIR)/openfile-helper

deps:
	scripts/install-deps.sh

# The privileged tests install a helper whose policy lives in a test tree; the policy location is
# fixed at build time (nothing at run time may change it), so they get a build of their own.
IT_ROOT = /tmp/myopen-it
IT_ENV  = MYOPEN_SYSCONFDIR=$(IT_ROOT)/etc MYOPEN_SYSLOG_SOCKET=$(IT_ROOT)/log.sock

test: deps
	$(CARGO) build --workspace --bins --locked
	$(IT_ENV) $(CARGO) build -p openfile-helper --bins --locked --target-dir target/it
	status=0; $(CARGO) test --workspace --locked || status=$$?; \
	scripts/remove-test-users.sh; exit $$status

bench: deps
	$(CARGO) build --release --workspace --bins --locked
	$(CARGO) bench -p myopen-tests --locked
	bench/mycat-vs-cat.sh
	bench/mycat-throughput.sh
	@if [ "$$(id -u)" -eq 0 ]; then bench/policy-cost.sh; \
	else echo "NOT RUN: bench/policy-cost.sh needs root (it installs a setuid helper)"; fi

clean:
	$(CARGO) clean
	scripts/remove-test-users.sh
