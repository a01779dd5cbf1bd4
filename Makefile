# tlsshim — build, test, install.  See README.md.
CC       ?= cc
PREFIX   ?= /usr/local
BUILD    ?= build
CSTD      = -std=gnu11
WARN      = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
OPT      ?= -O2 -g
SAN      ?=
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) $(SAN) -fPIC -fvisibility=hidden -D_GNU_SOURCE -I. $(CFLAGS)
LIBS      = -lssl -lcrypto -lconfig -ldl -lpthread

CORE_SRC   = $(wildcard core/*.c)
POLICY_SRC = $(wildcard policy/*.c)
SHIM_SRC   = $(wildcard shim/*.c)
LIB_SRC    = $(CORE_SRC) $(POLICY_SRC) $(SHIM_SRC)
LIB_OBJ    = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
# The launcher validates policies with the same code the library uses.
LAUNCH_OBJ = $(BUILD)/obj/launcher/tlsshim.o $(CORE_SRC:%.c=$(BUILD)/obj/%.o) $(POLICY_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC   = $(wildcard tests/unit/test_*.c)
UNIT_BIN   = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
PROG_SRC   = $(wildcard tests/progs/*.c)
PROG_BIN   = $(PROG_SRC:tests/progs/%.c=$(BUILD)/progs/%)
TOOL_SRC   = $(wildcard tests/tools/*.c)
TOOL_BIN   = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
BENCH_SRC  = $(wildcard bench/*.c)
BENCH_BIN  = $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all check check-fast check-asan check-stress test-build demo bench install uninstall clean deps certs
all: $(BUILD)/libtlsshim.so $(BUILD)/tlsshim

$(BUILD)/obj/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libtlsshim.so: $(LIB_OBJ)
	$(CC) $(SAN) -shared -Wl,-z,now -Wl,-z,relro -Wl,--no-undefined -o $@ $^ $(LIBS)

$(BUILD)/tlsshim: $(LAUNCH_OBJ)
	$(CC) $(SAN) -o $@ $^ $(LIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(filter-out $(BUILD)/obj/shim/%,$(LIB_OBJ)) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(filter-out $(BUILD)/obj/shim/%,$(LIB_OBJ)) $(LIBS)

# Test programs are deliberately plain: no TLS, no knowledge of the shim.
$(BUILD)/progs/%: tests/progs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -D_GNU_SOURCE -o $@ $< -lpthread

# Test tools (the wire audit): never sanitized, they only read files.
$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -D_GNU_SOURCE -o $@ $<

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -D_GNU_SOURCE -o $@ $< -lssl -lcrypto -lpthread

test-build: all $(UNIT_BIN) $(PROG_BIN) $(TOOL_BIN)

# Installs missing Debian packages when run as root (see .ci/packages).
deps:
	@sh .ci/deps.sh

# The whole suite, then the whole suite again under AddressSanitizer+UBSan.
check: deps
	@$(MAKE) --no-print-directory test-build
	@$(MAKE) --no-print-directory BUILD=build/asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test-build
	@sh tests/run.sh --build build --build build/asan

# make check, 5 times, beside another copy of the suite and a CPU hog.
check-stress: deps
	@sh tests/stress.sh

check-fast: test-build
	@sh tests/run.sh --build build

check-asan:
	@$(MAKE) --no-print-directory BUILD=build/asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test-build
	@sh tests/run.sh --build build/asan

certs: all
	@sh certs/mkcerts.sh $(BUILD)/certs >/dev/null

demo: deps all $(PROG_BIN)
	@sh tests/demo.sh

bench: deps all $(PROG_BIN) $(BENCH_BIN)
	@sh bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7 $(DESTDIR)$(PREFIX)/share/tlsshim
	install -m 0755 $(BUILD)/libtlsshim.so $(DESTDIR)$(PREFIX)/lib/libtlsshim.so
	install -m 0755 $(BUILD)/tlsshim $(DESTDIR)$(PREFIX)/bin/tlsshim
	install -m 0644 man/tlsshim.1 $(DESTDIR)$(PREFIX)/share/man/man1/tlsshim.1
	install -m 0644 man/tlsshim.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/tlsshim.conf.5
	install -m 0644 man/libtlsshim.7 $(DESTDIR)$(PREFIX)/share/man/man7/libtlsshim.7
	install -m 0755 certs/mkcerts.sh $(DESTDIR)$(PREFIX)/share/tlsshim/mkcerts.sh

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libtlsshim.so $(DESTDIR)$(PREFIX)/bin/tlsshim \
	  $(DESTDIR)$(PREFIX)/share/man/man1/tlsshim.1 $(DESTDIR)$(PREFIX)/share/man/man5/tlsshim.conf.5 \
	  $(DESTDIR)$(PREFIX)/share/man/man7/libtlsshim.7 $(DESTDIR)$(PREFIX)/share/tlsshim/mkcerts.sh

clean:
	rm -rf build
