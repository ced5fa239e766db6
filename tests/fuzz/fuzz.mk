SHELL := /bin/bash
# `make fuzz`: libFuzzer targets built with clang, ASan and UBSan into
# build-fuzz/, each run for FUZZ_SECONDS (default 60) from its corpus in
# tests/fuzz/corpus/<target>.  `make fuzz FUZZ_SECONDS=0` only builds.
FUZZ_SECONDS ?= 60
FB      := build-fuzz
FCC     := clang
FCFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -msse4.2 -fsanitize=fuzzer,address,undefined \
           -fno-sanitize-recover=undefined
SRCS    := net/smtp_proto.c core/buf.c core/strb.c core/log.c core/config.c core/config_tls.c \
           core/directory.c core/tenant.c core/cluster.c core/mpsc.c \
           tls/tls.c queue/spool.c queue/spool_seal.c queue/spool_body.c queue/siphash.c \
           queue/envelope.c queue/crc32c.c
TARGETS := smtp spool config directory

.PHONY: all
all: $(TARGETS:%=$(FB)/fuzz_%)
	@for t in $(TARGETS); do \
	  [ "$(FUZZ_SECONDS)" = 0 ] && continue; \
	  mkdir -p tests/fuzz/corpus/$$t $(FB)/new-$$t; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS)s"; \
	  $(FB)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 \
	    -print_final_stats=1 -artifact_prefix=$(FB)/ $(FB)/new-$$t tests/fuzz/corpus/$$t 2>&1 | \
	    grep -E "^stat::number_of_executed_units|ERROR|SUMMARY|Done" ; \
	  [ $${PIPESTATUS[0]:-0} -eq 0 ] || exit 1; \
	done

$(FB)/fuzz_%: tests/fuzz/fuzz_%.c $(SRCS)
	@mkdir -p $(FB)
	$(FCC) $(FCFLAGS) -o $@ $^ -luring -lyaml -lwolfssl -lhiredis -lpthread
