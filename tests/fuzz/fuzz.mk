SHELL := /bin/bash
# `make fuzz`: libFuzzer targets built with clang, ASan and UBSan into
# build-fuzz/, each run for FUZZ_SECONDS (default 60) from its corpus in
# tests/fuzz/corpus/<target>.  `make fuzz FUZZ_SECONDS=0` only builds.
# `make fuzz-long`: each for FUZZ_LONG_SECONDS (default 90: 20 minutes for
# the thirteen), with a summary of the executions per target.
FUZZ_SECONDS ?= 60
FUZZ_LONG_SECONDS ?= 90
FB      := build-fuzz
# Any clang with libFuzzer (Debian: clang and libclang-rt-N-dev of its
# version N); FCC=clang-16 picks another.  Libraries through pkg-config.
FCC     ?= clang
FCFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -Wall -Wextra -Wno-unused-parameter \
           -Werror -fsanitize=fuzzer-no-link,address,undefined \
           -fno-sanitize-recover=undefined -MMD -MP \
           $(shell pkg-config --cflags liburing yaml-0.1 wolfssl jansson 2>/dev/null)
FLIBS   := $(shell pkg-config --libs liburing yaml-0.1 wolfssl jansson sqlite3 2>/dev/null) \
           -lhiredis -lpthread
# every core/config*.c, tls/*.c and queue/spool*.c: the loader's sections
# and those modules' files come and go, and a file missing here only shows
# as a link error of the fuzz smoke
SRCS    := net/smtp_proto.c net/smtp_ehlo.c net/smtp_hops.c net/proxy_proto.c core/buf.c core/strb.c core/log.c core/log_sink.c \
           core/utf8.c core/addr.c $(sort $(wildcard core/config*.c)) \
           core/file.c core/tenant/directory.c core/tenant/tenant.c core/tenant/cluster.c core/tenant/redis_link.c core/mpsc.c \
           core/mfi/mfi.c core/mfi/mfi_status.c core/ctl/ctl_parse.c core/ctl/ctl_report.c core/ctl/ctl_table.c core/ctl/ctl_select.c \
           core/ctl/ctl_trace_parse.c core/trace/trace_rec.c core/trace/trace_sql.c \
           $(sort $(wildcard tls/*.c queue/spool*.c)) \
           queue/siphash.c queue/envelope.c \
           queue/crc32c.c queue/dsn.c core/http/http_route.c
OBJS    := $(SRCS:%.c=$(FB)/obj/%.o)
TARGETS := smtp reply dsn envelope ctl spool config directory logline select http trace proxy

.PHONY: all long
all: $(TARGETS:%=$(FB)/fuzz_%)
	@[ "$(FUZZ_SECONDS)" = 0 ] || tests/fuzz/run.sh $(FUZZ_SECONDS) $(FB) $(TARGETS)

long: $(TARGETS:%=$(FB)/fuzz_%)
	@tests/fuzz/run.sh $(FUZZ_LONG_SECONDS) $(FB) $(TARGETS)

# The library is instrumented once; each target links its harness to it.
$(FB)/obj/%.o: %.c tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FCC) $(FCFLAGS) -c -o $@ $<

$(FB)/fuzz_%: $(FB)/obj/tests/fuzz/fuzz_%.o $(OBJS)
	$(FCC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(FLIBS)

.SECONDARY: $(OBJS) $(TARGETS:%=$(FB)/obj/tests/fuzz/fuzz_%.o)
-include $(shell find $(FB)/obj -name '*.d' 2>/dev/null)
