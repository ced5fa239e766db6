# Sluice — one non-recursive Makefile.
#   make               build every binary into build/
#   make test          unit tests (Criterion) + integration tests + browser tests
#   make run           build, start a sluice-sink on :2526 and sluiced on :2525
#   make bench         benchmarks against Postfix on the same machine (WHAT="intake
#                      relay source sizes slow tls tenants ctl cluster" picks)
#   make SAN=address|undefined|thread   sanitizer build into build-$(SAN)/
#   make valgrind      a delivery scenario with sluiced under memcheck
#   make fuzz          libFuzzer targets (clang) into build-fuzz/
#   make fuzz-long     every fuzz target for FUZZ_LONG_SECONDS, with a summary
#   make deps          install the Debian packages (run automatically when missing)
#   make man           the manual pages (docs/man/*.scd, scdoc) into build/man/
#   make install       sluiced, sluicectl, man pages, the dashboard (www/), /etc/sluice/
#                      sluice.yaml, the systemd unit, tmpfiles.d and sysusers.d files
#                      (PREFIX, DESTDIR, SYSCONFDIR, LOCALSTATEDIR, RUNSTATEDIR); make uninstall
#   make deb           the Debian package, into build-deb/ (debian/)
#   make test-package  tests of the shipped files, install and the package (in make test)
#   make test-service  the package's service booted under systemd (nspawn; in make test)
#   make test-browser  the dashboard in headless Chromium against sluiced (in make test)
#   make portability   library and unit tests built by clang without SSE4.2 (in make test)
#   make WOLFSSL=system   link Debian's libwolfssl instead of the wolfSSL built for speed
#                      (the default, scripts/wolfssl.sh, once, into build-wolfssl/);
#                      objects in build-syswolfssl*/

SAN     ?=
COV     ?=
comma   := ,
CC      ?= gcc
PKGS    := liburing wolfssl libcares yaml-0.1 jansson libmicrohttpd sqlite3
# WOLFSSL=private (the default): scripts/wolfssl.sh's static build, made
# once when missing, after the packages it needs (pkg-config then finds it
# first); system: Debian's libwolfssl (the .deb uses it, so that Debian's
# security updates reach it).  make deps and make clean need neither.  If
# the private build fails (no network to fetch the source, say), the build
# says so and links Debian's library, until build-wolfssl/failed is removed.
WOLFSSL ?= private
WOLFSSL_PREFIX := $(CURDIR)/build-wolfssl/prefix
WOLFSSL_FAILED := $(CURDIR)/build-wolfssl/failed
WOLFSSL_USE := $(WOLFSSL)
ifeq ($(WOLFSSL),private)
ifneq ($(words $(wildcard $(WOLFSSL_PREFIX)/.sluice-wolfssl $(WOLFSSL_PREFIX)/include/wolfssl/options.h)),2)
ifneq ($(wildcard $(WOLFSSL_FAILED)),)
$(warning wolfSSL could not be built ($(WOLFSSL_FAILED)): linking Debian's instead; remove that file to try again)
WOLFSSL_USE := system
else ifneq ($(filter-out deps clean,$(or $(MAKECMDGOALS),all)),)
$(info building wolfSSL into $(WOLFSSL_PREFIX) (once; scripts/wolfssl.sh))
ifeq ($(shell ./scripts/deps.sh >&2 && ./scripts/wolfssl.sh $(WOLFSSL_PREFIX) >&2 && echo ok),)
$(shell mkdir -p $(dir $(WOLFSSL_FAILED)) && date > $(WOLFSSL_FAILED))
$(warning scripts/wolfssl.sh failed: linking Debian's wolfSSL instead; remove $(WOLFSSL_FAILED) to try again)
WOLFSSL_USE := system
endif
endif
endif
endif
ifeq ($(WOLFSSL_USE),private)
PKG_CONFIG := PKG_CONFIG_PATH=$(WOLFSSL_PREFIX)/lib/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH)) pkg-config
else
PKG_CONFIG := pkg-config
endif
BUILD   := build$(if $(filter system,$(WOLFSSL_USE)),-syswolfssl)$(if $(SAN),-$(subst $(comma),-,$(SAN)))$(if $(COV),-cov)
TOOLS   ?= /opt/sluice-tools
FUZZ_SMOKE ?= 12

OPT     ?= $(if $(COV),-O0,-O2)
WERROR  ?= -Werror
# Hardening (checked by tests/integration/test_hardening.py): canaries,
# PIE, full RELRO, no executable stack, and format checks that catch a
# truncated or overflowing printf at compile time.  gcc only knows the
# -Wformat-truncation/-overflow levels; other compilers skip them.
HARDEN  := -fstack-protector-strong -fPIE -Wformat=2 -Wformat-security \
           $(shell $(CC) -Werror -Wformat-truncation=2 -Wformat-overflow=2 -E -x c \
             /dev/null >/dev/null 2>&1 && echo -Wformat-truncation=2 -Wformat-overflow=2)
CFLAGS  := -std=gnu11 $(OPT) -g -pipe -fno-strict-aliasing -D_GNU_SOURCE \
           -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter $(WERROR) -I. $(HARDEN) -MMD -MP \
           $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LDFLAGS += -pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack
LDLIBS  := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lhiredis -lpthread -lm
# FORTIFY needs the optimiser and gets in the sanitizers' way.
ifeq ($(SAN)$(filter -O0,$(OPT)),)
CFLAGS  += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3
endif
ifneq ($(COV),)
CFLAGS  += --coverage -fprofile-update=atomic
LDFLAGS += --coverage
endif
ifneq ($(SAN),)
CFLAGS  += -fsanitize=$(SAN) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SAN)
MALLOC  :=
else
MALLOC  := -ljemalloc
endif

# Everything in the module folders is library code, except the programs' mains.
MAINS     := core/daemon/sluiced.c core/ctl/sluicectl.c
LIB_SRCS  := $(filter-out $(MAINS),$(shell find core net tls queue -name '*.c' | sort))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
# The bench programs: each is its main file plus its own files by prefix
# (sink_*.c for sluice-sink, bs_*.c for sluice-bench), over the bench
# common code bench_*.c, which the unit tests in tests/unit/bench/ link too.
BENCH_COMMON := $(sort $(wildcard bench/bench_*.c))
BENCH_COMMON_OBJS := $(BENCH_COMMON:%.c=$(BUILD)/%.o)
SINK_SRCS := bench/sluice_sink.c $(sort $(wildcard bench/sink_*.c))
SINK_OBJS := $(SINK_SRCS:%.c=$(BUILD)/%.o)
LOADGEN_SRCS := bench/sluice_bench.c $(sort $(wildcard bench/bs_*.c))
LOADGEN_OBJS := $(LOADGEN_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(shell find tests/unit -name '*_test.c' | sort)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/%.o)
.SECONDARY: $(UNIT_OBJS)

BINS := $(BUILD)/sluiced $(BUILD)/sluice-bench $(BUILD)/sluice-sink
BINS += $(if $(wildcard core/ctl/sluicectl.c),$(BUILD)/sluicectl)
BINS += $(if $(wildcard bench/wheel_bench.c),$(BUILD)/wheel-bench)
BINS += $(BUILD)/sluice-spoolgen
BINS += $(if $(wildcard bench/directory_bench.c),$(BUILD)/directory-bench)
BINS += $(if $(wildcard bench/quota_bench.c),$(BUILD)/quota-bench)
BINS += $(BUILD)/tls-bench

JOBS    ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all test unit integration run bench clean deps fuzz fuzz-long lint valgrind coverage layers \
	man install uninstall deb package test-package test-service test-browser portability FORCE
all: $(BINS) $(UNIT_BINS)

$(BUILD)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libsluice.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sluiced: $(BUILD)/core/daemon/sluiced.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC)
$(BUILD)/sluicectl: $(BUILD)/core/ctl/sluicectl.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/sluice-bench: $(LOADGEN_OBJS) $(BENCH_COMMON_OBJS) $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC)
$(BUILD)/sluice-sink: $(SINK_OBJS) $(BENCH_COMMON_OBJS) $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC)
$(BUILD)/wheel-bench: $(BUILD)/bench/wheel_bench.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/sluice-spoolgen: $(BUILD)/bench/spoolgen.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/directory-bench: $(BUILD)/bench/directory_bench.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/quota-bench: $(BUILD)/bench/quota_bench.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/tls-bench: $(BUILD)/bench/tls_bench.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC)
$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion $(LDLIBS)
$(BUILD)/tests/bench/%: $(BUILD)/tests/unit/bench/%.o $(BENCH_COMMON_OBJS) $(BUILD)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion $(LDLIBS)

# ------------------------------------------------------------------------
# Installation.  The relay's configuration, spool and socket live in /etc,
# /var and /run whatever PREFIX is; the unit, tmpfiles.d and sysusers.d
# files go where systemd looks under PREFIX (/usr/local/lib/... by default;
# the Debian package uses PREFIX=/usr and UNITDIR=/lib/systemd/system).
# sluiced goes to sbin; sluicectl to bin, for the members of the control
# group; the dashboard's files (www/) to WWWDIR, which the installed
# sluiced serves by default (http: static_dir).  sluice-sink and
# sluice-bench are test tools: not installed.
PREFIX        ?= /usr/local
BINDIR        ?= $(PREFIX)/bin
SBINDIR       ?= $(PREFIX)/sbin
MANDIR        ?= $(PREFIX)/share/man
WWWDIR        ?= $(PREFIX)/share/sluice/www
SYSCONFDIR    ?= /etc
LOCALSTATEDIR ?= /var
RUNSTATEDIR   ?= /run
UNITDIR       ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR   ?= $(PREFIX)/lib/tmpfiles.d
SYSUSERSDIR   ?= $(PREFIX)/lib/sysusers.d
CTL_SOCKET    ?= $(RUNSTATEDIR)/sluice/sluice.sock
INSTALL       ?= install

MAN_SRCS := $(sort $(wildcard docs/man/*.scd))
WWW_FILES := $(sort $(wildcard www/*.html www/*.css www/*.svg www/js/*.js))
MANS     := $(MAN_SRCS:docs/man/%.scd=$(BUILD)/man/%)
INST     := $(BUILD)/install
# The files the paths are written into, from etc/*.in.
INST_GEN := $(INST)/sluice.service $(INST)/tmpfiles.conf $(INST)/sysusers.conf \
	    $(INST)/sluice.yaml
INST_SUBST := -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	      -e 's|@LOCALSTATEDIR@|$(LOCALSTATEDIR)|g' -e 's|@RUNSTATEDIR@|$(RUNSTATEDIR)|g'

# Where a page goes: build/man/sluiced.8 -> $(MANDIR)/man8/sluiced.8
man_dest = $(MANDIR)/man$(patsubst .%,%,$(suffix $(1)))/$(notdir $(1))

man: $(MANS)
$(BUILD)/man/%: docs/man/%.scd
	@mkdir -p $(dir $@)
	scdoc < $< > $@.tmp && mv $@.tmp $@

# The paths above, rewritten only when they change: what is built from
# them is rebuilt then, and only then.
INST_PATHS := $(SBINDIR) $(SYSCONFDIR) $(LOCALSTATEDIR) $(RUNSTATEDIR) $(CTL_SOCKET) $(WWWDIR)
$(INST)/paths: FORCE
	@mkdir -p $(dir $@)
	@echo '$(INST_PATHS)' | cmp -s - $@ || echo '$(INST_PATHS)' > $@
$(INST)/sluice.service: etc/systemd/sluice.service.in $(INST)/paths
	sed $(INST_SUBST) $< > $@
$(INST)/tmpfiles.conf: etc/tmpfiles.d/sluice.conf.in $(INST)/paths
	sed $(INST_SUBST) $< > $@
$(INST)/sysusers.conf: etc/sysusers.d/sluice.conf.in $(INST)/paths
	sed $(INST_SUBST) $< > $@
# The shipped file names the default places; they follow LOCALSTATEDIR and
# RUNSTATEDIR (the file itself is checked with sluiced -t by the tests).
$(INST)/sluice.yaml: etc/sluice/sluice.yaml $(INST)/paths
	sed -e 's|/var/spool/sluice|$(LOCALSTATEDIR)/spool/sluice|g' \
	    -e 's|/run/sluice/|$(RUNSTATEDIR)/sluice/|g' \
	    -e 's|/usr/share/sluice/www|$(WWWDIR)|g' $< > $@
# sluicectl as installed: its default socket is the installed one.
$(INST)/sluicectl.o: core/ctl/sluicectl.c Makefile $(INST)/paths
	$(CC) $(CFLAGS) -DSLUICE_CTL_SOCKET='"$(CTL_SOCKET)"' -c -o $@ $<
$(INST)/sluicectl: $(INST)/sluicectl.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# sluiced as installed: the dashboard is where install puts it by default
# (this object comes before the library's, which the link then leaves out).
$(INST)/config_http.o: core/config_http.c Makefile $(INST)/paths
	$(CC) $(CFLAGS) -DHTTP_STATIC_DIR='"$(WWWDIR)"' -c -o $@ $<
$(INST)/sluiced: $(BUILD)/core/daemon/sluiced.o $(INST)/config_http.o $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC)

# Everything make install copies; the Debian package builds only this.
package: $(INST)/sluiced $(INST)/sluicectl $(MANS) $(INST_GEN) $(WWW_FILES)

# The configuration is never overwritten: a changed one stays, and the
# shipped file is put beside it as sluice.yaml.dist.
install: package
	$(INSTALL) -D -m 0755 $(INST)/sluiced $(DESTDIR)$(SBINDIR)/sluiced
	$(INSTALL) -D -m 0755 $(INST)/sluicectl $(DESTDIR)$(BINDIR)/sluicectl
	$(foreach m,$(MANS),$(INSTALL) -D -m 0644 $m $(DESTDIR)$(call man_dest,$m);)
	$(foreach f,$(WWW_FILES),$(INSTALL) -D -m 0644 $f $(DESTDIR)$(WWWDIR)/$(f:www/%=%);)
	$(INSTALL) -D -m 0644 $(INST)/sluice.service $(DESTDIR)$(UNITDIR)/sluice.service
	$(INSTALL) -D -m 0644 $(INST)/tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/sluice.conf
	$(INSTALL) -D -m 0644 $(INST)/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/sluice.conf
	@conf=$(DESTDIR)$(SYSCONFDIR)/sluice/sluice.yaml; \
	if [ -e $$conf ] && ! cmp -s $(INST)/sluice.yaml $$conf; then \
		$(INSTALL) -m 0644 $(INST)/sluice.yaml $$conf.dist; \
		echo "install: $$conf kept; the shipped one is $$conf.dist"; \
	else \
		$(INSTALL) -D -m 0644 $(INST)/sluice.yaml $$conf; \
	fi
	@[ -n "$(DESTDIR)" ] || echo "install: now create the user and the directories:" \
		"systemd-sysusers; systemd-tmpfiles --create; systemctl daemon-reload"

# Removes what install put there, except a configuration that was changed
# and the spool (queued mail).
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/sluiced $(DESTDIR)$(BINDIR)/sluicectl \
		$(foreach m,$(MANS),$(DESTDIR)$(call man_dest,$m)) \
		$(DESTDIR)$(UNITDIR)/sluice.service $(DESTDIR)$(TMPFILESDIR)/sluice.conf \
		$(DESTDIR)$(SYSUSERSDIR)/sluice.conf $(DESTDIR)$(SYSCONFDIR)/sluice/sluice.yaml.dist \
		$(WWW_FILES:www/%=$(DESTDIR)$(WWWDIR)/%)
	rmdir $(DESTDIR)$(WWWDIR)/js $(DESTDIR)$(WWWDIR) $(dir $(DESTDIR)$(WWWDIR)) 2>/dev/null || true
	@conf=$(DESTDIR)$(SYSCONFDIR)/sluice/sluice.yaml; \
	if [ -e $$conf ] && ! cmp -s $(INST)/sluice.yaml $$conf 2>/dev/null; then \
		echo "uninstall: $$conf was changed: kept"; \
	else \
		rm -f $$conf; rmdir $(DESTDIR)$(SYSCONFDIR)/sluice 2>/dev/null || true; \
	fi

# The Debian package (debian/): a copy of the tree, its tracked and new
# files, in build-deb/src/, built there by dpkg-buildpackage; the .deb
# lands in build-deb/.  The copy keeps its build-pkg/ from run to run, so
# only what changed is compiled again (everything when debian/rules, which
# sets the flags, changed).
DEB_DIR := build-deb
deb: deps
	@mkdir -p $(DEB_DIR)/src
	@rm -f $(DEB_DIR)/sluice*_*
	@[ ! debian/rules -nt $(DEB_DIR)/src/build-pkg/install/sluiced ] || rm -rf $(DEB_DIR)/src/build-pkg
	@find $(DEB_DIR)/src -mindepth 1 -maxdepth 1 ! -name build-pkg -exec rm -rf {} +
	@{ git ls-files -z --cached --others --exclude-standard 2>/dev/null || \
	   find . \( -name 'build*' -o -name .git -o -name var \) -prune -o -type f -print0; } | \
		tar --null --ignore-failed-read -T - -cf - | tar -xf - -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b -nc -j$(JOBS)
	@ls $(DEB_DIR)/*.deb

# Line coverage of the library by the unit and integration tests (gcovr),
# in build-cov/: make coverage [COVERAGE_INTEGRATION=0 for unit tests only].
COVERAGE_INTEGRATION ?= 1
coverage: deps
	@find build-cov -name '*.gcda' -delete 2>/dev/null || true
	@$(MAKE) --no-print-directory -j$(JOBS) COV=1 all
	@$(MAKE) --no-print-directory COV=1 unit || true
	@[ "$(COVERAGE_INTEGRATION)" = 0 ] || $(MAKE) --no-print-directory COV=1 integration || true
	@gcovr -r . --object-directory build-cov -e 'tests/' -e 'bench/' --print-summary \
		-o build-cov/coverage.txt >/dev/null && cat build-cov/coverage.txt | tail -n 60

# Idioms the compiler does not catch and the tree has replaced (see the script).
lint:
	@./scripts/lint.sh

# The layering of docs/ARCHITECTURE.md: no folder includes one above it, and
# no two files call each other even through others (symbols of the objects).
layers: $(BINS)
	@./scripts/layers.py --objects $(BUILD)

# Install the Debian packages when something is missing (cheap when all is there).
deps:
	@./scripts/deps.sh

unit: $(UNIT_BINS)
	@./tests/run-unit.sh $(UNIT_BINS)

integration: $(BINS)
	@BUILD=$(BUILD) TOOLS=$(TOOLS) python3 tests/integration/run.py

# The edge cluster (docs/CLUSTER.md): PROXY protocol through HAProxy, Redis
# Sentinel failover, organisation-wide settings and the cluster view, the
# node-loss test.  make test runs them within make integration.
cluster-test: $(BINS)
	@BUILD=$(BUILD) TOOLS=$(TOOLS) TESTS="test_proxy test_sentinel test_cluster \
	test_node_loss test_tenants.ClusterTest" python3 tests/integration/run.py

# The shipped files, make install/uninstall, the unit, the Debian package
# (tests/package/; 40 s when make deb has little to compile, 100 s when it
# compiles everything).  As root with CI or SLUICE_PKG_INSTALL=1 set, apt
# installs the package here, then purges it.
test-package: $(BUILD)/sluiced $(BUILD)/sluicectl
	@BUILD=$(BUILD) python3 tests/integration/run.py tests/package package

# The package's service under a real systemd: a Debian 12 root (debootstrap,
# kept in build-deb/root: 1 to 3 minutes the first time, then 5 s) booted
# with systemd-nspawn (tests/package/service.sh; root only).
test-service: deb
	@./tests/package/service.sh

# The dashboard (www/) in a real browser: headless Chromium driven by
# Selenium against sluiced's HTTP listener (tests/browser/; skipped with a
# message when Chromium, chromium-driver or python3-selenium is missing,
# a failure on CI).  Debian's python3-selenium is for Debian's python3, so
# that one runs the tests even when another python3 comes first in PATH.
# Screenshots of every view: $(BUILD)/screenshots/.
BROWSER_PY ?= $(firstword $(wildcard /usr/bin/python3) python3)
test-browser: $(BINS)
	@BUILD=$(BUILD) TOOLS=$(TOOLS) $(BROWSER_PY) tests/integration/run.py tests/browser browser

# Portability: the library and the unit tests built by clang for an x86-64
# without SSE4.2 (CRC32C takes its table path at run time on such a CPU:
# queue/crc32c.c), into build-portable/, and run.  With qemu-user there,
# the CRC32C, spool and TLS tests run again on an emulated CPU without
# SSE4.2, AES-NI or AVX, so that the table path itself is exercised, and
# the wolfSSL built for speed shows it picks its code by the CPU at run time.
PORT_BUILD  := build-portable
PORT_CFLAGS := $(if $(filter x86_64,$(shell uname -m)),-mno-sse4.2)
PORT_UNITS  := $(UNIT_BINS:$(BUILD)/%=$(PORT_BUILD)/%)
portability:
	@$(MAKE) --no-print-directory -j$(JOBS) CC=clang BUILD=$(PORT_BUILD) \
		EXTRA_CFLAGS="$(PORT_CFLAGS)" $(PORT_UNITS)
	@./tests/run-unit.sh $(PORT_UNITS)
	@if [ -n "$(PORT_CFLAGS)" ] && command -v qemu-x86_64 >/dev/null; then \
		echo "portability: on an emulated CPU without SSE4.2, AES-NI or AVX (qemu64):"; \
		RUN="qemu-x86_64 -cpu qemu64" ./tests/run-unit.sh \
			$(filter %/crc32c_test %/spool_test %/tls_test,$(PORT_UNITS)); \
	else echo "portability: qemu-user not installed, table path of CRC32C not run"; fi

# Unit tests also run under ASan+UBSan, and every fuzz target gets a short run.
test: deps
	@./scripts/lint.sh
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@$(MAKE) --no-print-directory layers
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory test-package
	@$(MAKE) --no-print-directory test-service
	@$(MAKE) --no-print-directory portability
	@$(MAKE) --no-print-directory -j$(JOBS) SAN=address,undefined $(UNIT_BINS:$(BUILD)/%=build-address-undefined/%)
	@$(MAKE) --no-print-directory SAN=address,undefined unit
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SMOKE)
	@$(MAKE) --no-print-directory valgrind
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory test-browser

# Uninitialised reads, which ASan does not see: sluiced under valgrind's
# memcheck through a short delivery scenario (tests/valgrind/scenario.py),
# built without jemalloc so that memcheck sees every allocation.
VG_BUILD := build-valgrind
valgrind: deps
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=$(VG_BUILD) MALLOC= \
		$(VG_BUILD)/sluiced $(VG_BUILD)/sluice-sink $(VG_BUILD)/sluicectl
	@BUILD=$(VG_BUILD) TOOLS=$(TOOLS) python3 tests/valgrind/scenario.py

run: deps
	@$(MAKE) --no-print-directory $(BINS)
	@BUILD=$(BUILD) ./scripts/run.sh

bench: deps
	@$(MAKE) --no-print-directory $(BINS)
	@BUILD=$(BUILD) TOOLS=$(TOOLS) ./bench/run.sh

fuzz:
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk

# Every fuzz target for FUZZ_LONG_SECONDS (default 90), executions summed up.
fuzz-long:
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk long

clean:
	rm -rf build $(filter-out build-wolfssl,$(wildcard build-*))

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
