# Sluice — one non-recursive Makefile.
#   make               build every binary into build/
#   make test          unit tests (Criterion) + integration tests
#   make run           build, start a sluice-sink on :2526 and sluiced on :2525
#   make bench         benchmarks against Postfix on the same machine
#   make SAN=address|undefined|thread   sanitizer build into build-$(SAN)/
#   make valgrind      a delivery scenario with sluiced under memcheck
#   make fuzz          libFuzzer targets (clang) into build-fuzz/
#   make fuzz-long     every fuzz target for FUZZ_LONG_SECONDS, with a summary
#   make deps          install the Debian packages (run automatically when missing)

SAN     ?=
COV     ?=
comma   := ,
BUILD   := build$(if $(SAN),-$(subst $(comma),-,$(SAN)))$(if $(COV),-cov)
CC      ?= gcc
PKGS    := liburing wolfssl libcares yaml-0.1 jansson
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
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LDFLAGS += -pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhiredis -lpthread -lm
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

JOBS    ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all test unit integration run bench clean deps fuzz fuzz-long lint valgrind coverage layers
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
$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion $(LDLIBS)
$(BUILD)/tests/bench/%: $(BUILD)/tests/unit/bench/%.o $(BENCH_COMMON_OBJS) $(BUILD)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion $(LDLIBS)

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

# Unit tests also run under ASan+UBSan, and every fuzz target gets a short run.
test: deps
	@./scripts/lint.sh
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@$(MAKE) --no-print-directory layers
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory -j$(JOBS) SAN=address,undefined $(UNIT_BINS:$(BUILD)/%=build-address-undefined/%)
	@$(MAKE) --no-print-directory SAN=address,undefined unit
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SMOKE)
	@$(MAKE) --no-print-directory valgrind
	@$(MAKE) --no-print-directory integration

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
	rm -rf build build-* 

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
