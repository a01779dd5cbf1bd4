# tlsshim — build, test, install.  See README.md.
#
# The usual variables are honoured: CC, CPPFLAGS, CFLAGS (added after
# ours), LDFLAGS, PKG_CONFIG, PREFIX, DESTDIR.  A Debian-style hardened
# build:  eval "$$(dpkg-buildflags --export=sh)" && make
CC       ?= cc
PKG_CONFIG ?= pkg-config
PREFIX   ?= /usr/local
BUILD    ?= build
CSTD      = -std=gnu11
WARN      = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
OPT      ?= -O2 -g
SAN      ?=
# Deferred (=, not :=): "make check" installs missing packages first.
SSL_CFLAGS    = $(shell $(PKG_CONFIG) --cflags openssl)
SSL_LIBS      = $(shell $(PKG_CONFIG) --libs openssl)
CONFIG_CFLAGS = $(shell $(PKG_CONFIG) --cflags libconfig)
# -fno-semantic-interposition: a call from one of the library's entry
# points to another defined in the same file (__sigaction to sigaction,
# __read to read, ...) is bound when the library is built, never looked up
# by name in the program: Erlang's beam.smp exports sigaction() and
# forwards it to the next __sigaction, ours, which called the program's
# sigaction again, until the stack overflowed (docs/design.md, "Private
# dependencies").
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) $(SAN) -fPIC -fvisibility=hidden -fno-semantic-interposition -D_GNU_SOURCE -I. \
	     $(SSL_CFLAGS) $(CONFIG_CFLAGS) $(CPPFLAGS) $(CFLAGS)

# libconfig is linked statically, its symbols hidden (--exclude-libs), so
# that no name the program exports can take the place of one of its
# functions (docs/design.md, "Private dependencies").  Debian's libconfig.a
# is position-independent executable code: a copy of it gets its three
# references to the C library's stdin, stdout and stderr renamed to
# variables of ours, and its fopen() to ours, which opens regular files
# only (policy/libconfig_link.c).  It needs nothing but libc.
OBJCOPY  ?= objcopy
LIBCONFIG_A = $(shell $(PKG_CONFIG) --variable=libdir libconfig)/libconfig.a
LIBCONFIG_RENAME = $(foreach s,stdin stdout stderr fopen,--redefine-sym $(s)=tlsshim_libconfig_$(s))
CONFIG_LIB = $(BUILD)/libconfig/libconfig.a
LIBS      = $(CONFIG_LIB) -Wl,--exclude-libs,libconfig.a $(SSL_LIBS) -ldl -lpthread

CORE_SRC   = $(wildcard core/*.c)
POLICY_SRC = $(wildcard policy/*.c)
SHIM_SRC   = $(wildcard shim/*.c)
LIB_SRC    = $(CORE_SRC) $(POLICY_SRC) $(SHIM_SRC)
LIB_OBJ    = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
# The launcher validates policies with the same code the library uses
# (core/alloc.o: policy/resume.c asks alloc_exiting(); the launcher never
# installs its functions).
LAUNCH_OBJ = $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard launcher/*.c)) $(POLICY_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/core/self.o $(BUILD)/obj/core/lock.o $(BUILD)/obj/core/alloc.o
UNIT_SRC   = $(wildcard tests/unit/test_*.c)
UNIT_BIN   = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# tests/progs/preload_*.c are test-only fault injectors, shared objects
# preloaded after the library (preload_enfile: accept fails with ENFILE).
PRELOAD_SRC = $(wildcard tests/progs/preload_*.c)
PROG_SRC   = $(filter-out $(PRELOAD_SRC),$(wildcard tests/progs/*.c))
PROG_BIN   = $(PROG_SRC:tests/progs/%.c=$(BUILD)/progs/%) $(PRELOAD_SRC:tests/progs/%.c=$(BUILD)/progs/%.so)
# tests/progs/plugins/deep.c: a plug-in the deepbind program loads with
# RTLD_DEEPBIND, linked two ways (read-only GOT; lazy PLT slots).
PROG_BIN  += $(BUILD)/progs/plugdeep_now.so $(BUILD)/progs/plugdeep_lazy.so $(BUILD)/progs/plugdeep_textrel.so
# tests/progs/plugins/deepload.c: the dlopen of a library loaded by a
# library (libdeepmid.so, DT_RPATH $ORIGIN/lib) that needs it.
PROG_BIN  += $(BUILD)/progs/libdeepload.so $(BUILD)/progs/libdeepmid.so
# tests/tools/sanfirst.c is a shared object (preloaded by tests/run.sh
# for the ASan builds: it initialises the runtime before any constructor).
TOOL_SO_SRC = tests/tools/sanfirst.c
TOOL_SRC   = $(filter-out $(TOOL_SO_SRC),$(wildcard tests/tools/*.c))
TOOL_BIN   = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%) $(TOOL_SO_SRC:tests/tools/%.c=$(BUILD)/tools/%.so)
# bench/match.c links the policy code (as the unit tests do): its own rule.
BENCH_SRC  = $(filter-out bench/match.c,$(wildcard bench/*.c))
BENCH_BIN  = $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%) $(BUILD)/bench/match

.PHONY: all check check-fast check-asan check-stress check-tsan check-valgrind soak fuzz fuzz-build fuzz-targets clang-check test-build demo bench bench-uml install uninstall clean deps certs FORCE
all: $(BUILD)/libtlsshim.so $(BUILD)/tlsshim

# policy/pkcs11.c reads PKCS#11 token information (its diagnostics) with
# p11-kit's pkcs11.h (libp11-kit-dev); nothing links p11-kit.
$(BUILD)/obj/policy/pkcs11.o: CFLAGS_ALL += $(shell $(PKG_CONFIG) --cflags p11-kit-1)

# OpenSSL's allocation functions (core/alloc.c) call malloc and free about
# two thousand times a handshake: through the GOT, not a PLT stub's jump
# more (the library is linked -z now: the same binding).
$(BUILD)/obj/core/alloc.o: CFLAGS_ALL += -fno-plt

$(BUILD)/obj/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# Rebuilt when the archive or its path (make LIBCONFIG_A=...) changes.  The
# path is not required to exist when the Makefile is read: "make demo" and
# "make check" install libconfig-dev first.
$(BUILD)/libconfig.source: FORCE
	@mkdir -p $(dir $@)
	@echo "$(LIBCONFIG_A)" | cmp -s - $@ || echo "$(LIBCONFIG_A)" >$@

$(CONFIG_LIB): Makefile $(BUILD)/libconfig.source $(wildcard $(LIBCONFIG_A))
	@rm -rf $(BUILD)/libconfig && mkdir -p $(BUILD)/libconfig/obj
	@test -f "$(LIBCONFIG_A)" || { echo "libconfig.a not found ('$(LIBCONFIG_A)'): install libconfig-dev" >&2; exit 1; }
	cd $(BUILD)/libconfig/obj && $(AR) x "$(LIBCONFIG_A)"
	for o in $(BUILD)/libconfig/obj/*.o; do $(OBJCOPY) $(LIBCONFIG_RENAME) "$$o" || exit 1; done
	$(AR) rcs $@ $(BUILD)/libconfig/obj/*.o

$(BUILD)/libtlsshim.so: $(LIB_OBJ) $(CONFIG_LIB)
	$(CC) $(SAN) $(LDFLAGS) -shared -Wl,-z,now -Wl,-z,relro -Wl,--no-undefined -o $@ $(LIB_OBJ) $(LIBS)

$(BUILD)/tlsshim: $(LAUNCH_OBJ) $(CONFIG_LIB)
	$(CC) $(SAN) $(LDFLAGS) -o $@ $(LAUNCH_OBJ) $(LIBS)

# Unit tests link the core, the policy and the shim's pure files (no
# interposed entry point: the test's own libc calls stay libc's).
SHIM_PURE  = shim/ready.c shim/addr.c shim/verdict.c
UNIT_OBJ   = $(filter-out $(BUILD)/obj/shim/%,$(LIB_OBJ)) $(SHIM_PURE:%.c=$(BUILD)/obj/%.o)
$(BUILD)/tests/test_%: tests/unit/test_%.c $(UNIT_OBJ) $(wildcard tests/unit/*.h) $(CONFIG_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ $< $(UNIT_OBJ) $(LIBS)

# The allocation-failure test counts (and fails) the core's own allocations.
$(BUILD)/tests/test_engine_alloc: LDFLAGS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
# libFuzzer targets (tests/fuzz/README): clang, ASan+UBSan, in $(BUILD)/fuzz.
# They link what the unit tests link.
FUZZ_SRC   = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_CC   ?= clang
FUZZ_SAN   = -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_SECONDS ?= 300
$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(UNIT_OBJ) $(wildcard tests/unit/*.h) $(CONFIG_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(UNIT_OBJ) $(LIBS)
# These two include shim/resolve.c whole (its helpers are static).
$(BUILD)/tests/test_dnsparse $(BUILD)/fuzz_dnsanswer: shim/resolve.c shim/shim.h
# This one includes shim/init.c whole (go_object_cb is static).
$(BUILD)/fuzz_goobject: shim/init.c shim/shim.h shim/real.h

# Test programs are deliberately plain: no TLS, no knowledge of the shim.
$(BUILD)/progs/%: tests/progs/%.c $(wildcard tests/progs/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -D_GNU_SOURCE $(PROG_CFLAGS) $(CPPFLAGS) $(LDFLAGS) $(PROG_LDFLAGS) -o $@ $< $(PROG_LIBS) -lpthread

$(BUILD)/progs/plugdeep_now.so: tests/progs/plugins/deep.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -D_GNU_SOURCE -fPIC -shared $(CPPFLAGS) $(LDFLAGS) -Wl,-z,now -Wl,-z,relro \
		-Wl,-soname,plugdeep_now.so -o $@ $<
$(BUILD)/progs/plugdeep_lazy.so: tests/progs/plugins/deep.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -D_GNU_SOURCE -fPIC -shared $(CPPFLAGS) $(LDFLAGS) -Wl,-z,lazy -Wl,-z,norelro -o $@ $<
# send's address in its text (DT_TEXTREL).
$(BUILD)/progs/plugdeep_textrel.so: tests/progs/plugins/deep.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -D_GNU_SOURCE -DDEEP_TEXTREL -fPIC -shared $(CPPFLAGS) $(LDFLAGS) -Wl,-z,notext -o $@ $<
$(BUILD)/progs/libdeepload.so: tests/progs/plugins/deepload.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -D_GNU_SOURCE -fPIC -shared $(CPPFLAGS) $(LDFLAGS) -o $@ $< -ldl
$(BUILD)/progs/libdeepmid.so: tests/progs/plugins/deepload.c $(BUILD)/progs/libdeepload.so
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -D_GNU_SOURCE -DDEEP_MID -fPIC -shared $(CPPFLAGS) $(LDFLAGS) \
		-Wl,--disable-new-dtags -Wl,-rpath,'$$ORIGIN/lib' -o $@ $< -L$(BUILD)/progs -ldeepload
# Finds a plug-in named without a slash along its run path (DT_RUNPATH).
$(BUILD)/progs/deepbind: PROG_LDFLAGS = -Wl,-rpath,'$$ORIGIN:$$ORIGIN/deeplib' -Wl,--enable-new-dtags

$(BUILD)/progs/preload_%.so: tests/progs/preload_%.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -D_GNU_SOURCE -fPIC -shared $(CPPFLAGS) $(LDFLAGS) -o $@ $< -ldl -lpthread

# Uses OpenSSL's error queue itself, as curl or redis do (the library must
# leave it as found).
$(BUILD)/progs/errq_client: PROG_CFLAGS = $(SSL_CFLAGS)
$(BUILD)/progs/errq_client: PROG_LIBS = $(SSL_LIBS) -ldl
# Asks what the library's start did to OpenSSL's error state.
$(BUILD)/progs/startprobe: PROG_CFLAGS = $(SSL_CFLAGS)
$(BUILD)/progs/startprobe: PROG_LIBS = $(SSL_LIBS) -ldl
# Exports its config_* functions, as lighttpd does (-rdynamic for plugins).
$(BUILD)/progs/config_clash: PROG_LDFLAGS = -rdynamic
# Draws OpenSSL random bytes across forks (shim/getpid.c).
$(BUILD)/progs/randfork: PROG_CFLAGS = $(SSL_CFLAGS)
$(BUILD)/progs/randfork: PROG_LIBS = $(SSL_LIBS)
# Calls libresolv.so.2's compatibility res_gethostbyname (shim/dnsres.c).
$(BUILD)/progs/dns_tcp: PROG_LIBS = -lresolv
$(BUILD)/progs/name_client: PROG_LIBS = -lresolv
# Counts the library's getpid() calls with a getpid of its own.
$(BUILD)/progs/selfid: PROG_LDFLAGS = -rdynamic

# Test tools (the wire audit): never sanitized, they only read files.
# The audit hashes MPTCP keys (SHA-256: tokens, initial data sequence
# numbers) with OpenSSL's libcrypto, and reads the tests' policies with
# libconfig (the shared library: the tool is not the shim).
$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -D_GNU_SOURCE $(TOOL_CFLAGS) -o $@ $< $(TOOL_LIBS)
# DF_1_INITFIRST: its constructor runs before every other object's.
$(BUILD)/tools/sanfirst.so: tests/tools/sanfirst.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -fPIC -shared -Wl,-z,initfirst -o $@ $<
$(BUILD)/tools/wiremark: tests/progs/waitproc.h
$(BUILD)/tools/wireaudit: TOOL_CFLAGS = $(SSL_CFLAGS) $(CONFIG_CFLAGS)
$(BUILD)/tools/wireaudit: TOOL_LIBS = $(SSL_LIBS) $(shell $(PKG_CONFIG) --libs libconfig)

$(BUILD)/bench/%: bench/%.c tests/progs/stream.h tests/progs/common.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -g -D_GNU_SOURCE $(SSL_CFLAGS) $(CPPFLAGS) $(LDFLAGS) -o $@ $< $(SSL_LIBS) -lpthread

$(BUILD)/bench/match: bench/match.c $(UNIT_OBJ) $(CONFIG_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ $< $(UNIT_OBJ) $(LIBS)

# The test programs and tools are built without the sanitizer (SAN is not
# in their rules): the same binaries for every build.  PROGS_FROM=DIR (a
# build that made them) links DIR's progs and tools into $(BUILD) instead
# of compiling them again: make check's ASan and TSan builds take the
# default build's (16 s of CPU each, about a fifth of an ASan test-build).
PROGS_FROM ?=
ifeq ($(strip $(PROGS_FROM)),)
TEST_PROGS = $(PROG_BIN) $(TOOL_BIN)
else
TEST_PROGS = $(BUILD)/progs/.from $(BUILD)/tools/.from
# (a directory of our own compiling is replaced by the link; the link's
# target is absolute: tests copy and run the programs, never the link)
$(BUILD)/progs/.from $(BUILD)/tools/.from: FORCE
	@test -d "$(PROGS_FROM)/$(notdir $(@D))" || { echo "PROGS_FROM=$(PROGS_FROM): no $(notdir $(@D)) there (make test-build BUILD=$(PROGS_FROM) first)" >&2; exit 1; }
	@mkdir -p $(dir $(@D))
	@src=$$(cd "$(PROGS_FROM)/$(notdir $(@D))" && pwd -P); \
	 if [ "$$(readlink "$(@D)")" != "$$src" ]; then rm -rf "$(@D)" && ln -s "$$src" "$(@D)"; fi
endif
# UNITS=PATTERN... builds only the unit tests whose names match (make
# check's TSan build runs one of them).
UNITS ?=
TEST_UNITS = $(if $(strip $(UNITS)),$(filter $(addprefix $(BUILD)/tests/,$(UNITS)),$(UNIT_BIN)),$(UNIT_BIN))
test-build: all $(TEST_UNITS) $(TEST_PROGS)

# Run inside "make fuzz-build" (BUILD is then the fuzz directory).
fuzz-targets: $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/%)

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/fuzz CC=$(FUZZ_CC) SAN="$(FUZZ_SAN)" fuzz-targets

# clang (FUZZ_CC) reads every file of the library and the launcher with
# our warnings (-fsyntax-only: about 5 s of CPU; make check runs it), so
# that a fuzz target can include any of them: no GCC-only construct (an
# __atomic_* builtin on an _Atomic object, the copy attribute, a pragma
# naming a warning clang lacks).  CC=clang builds the library too.
CLANG_CHECK_SRC = $(LIB_SRC) $(wildcard launcher/*.c)
clang-check: $(CLANG_CHECK_SRC:%.c=$(BUILD)/clang-check/%.ok)
$(BUILD)/clang-check/%.ok: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_ALL) -fsyntax-only $< && touch $@
$(BUILD)/clang-check/policy/pkcs11.ok: CFLAGS_ALL += $(shell $(PKG_CONFIG) --cflags p11-kit-1)

# Each target for FUZZ_SECONDS, from its seeds and regression inputs in
# tests/fuzz/corpus/TARGET and the corpus earlier runs grew, kept in
# $(BUILD)/fuzz/corpus/TARGET.  A crash fails; its input is left in
# $(BUILD)/fuzz/artifacts.  (tests/fuzz/README)
fuzz: deps certs fuzz-build
	@sh tests/fuzz/run.sh --build $(BUILD)/fuzz --certs $(BUILD)/certs --seconds $(FUZZ_SECONDS) --corpus $(BUILD)/fuzz/corpus

# Installs missing Debian packages when run as root (see .ci/packages).
deps:
	@sh .ci/deps.sh

# The whole suite, then the whole suite again under AddressSanitizer+UBSan;
# a smoke run of the fuzz targets (tests/infra/fuzz.sh), clang's reading of
# every library file (clang-check); two of the threaded
# and fork tests under ThreadSanitizer (all of them: make check-tsan).
# The builds of make check and its kin run one compiler per CPU (make -j
# given on the command line wins: its job server is passed on instead).
comma := ,
BUILD_JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc 2>/dev/null || echo 2))
ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# The ASan pass of make check runs every test but interop scripts, and of
# those only ASAN_INTEROP: enough of them that every library line and
# branch an interop script reaches, and the unit, preload, launcher and
# attack tests do not, is still reached (ASan is there for memory errors
# on the library's paths; the default build runs every script, and so
# does make check-asan).  Chosen with gcov by tests/tools/asan_interop.sh
# (it prints what each script adds and this list; re-run it when tests
# or the library change much); nginx, nginx_proxy and httpd are kept by
# hand (their daemons' counts escape it), and so are icecast,
# legacy_clients, ncat_exec, nsd, bind9, proxies and small_httpd (not
# chosen with gcov: each costs under 10 s of CPU on the ASan build);
# docs/design.md, "Testing".
ASAN_INTEROP = alpn apache beanstalkd bind9 crl erlang exim git_daemon gnutls \
	haproxy_splice host httpd icecast keyupdate legacy_clients mariadb \
	memcached mosquitto ncat_exec nginx nginx_proxy nginx_proxyv2 ngircd \
	node nsd nutcracker ocsp openssl perl pkcs11 postgres proxies \
	redis_replication reload resume rsync rsyslog slapd small_httpd sni squid sshd \
	tinyproxy unbound varnish vsftpd
space := $(subst ,, )
ASAN_CHECK_TESTS = $(subst $(space),$(comma),$(strip tests/test_ launcher/ preload/ attack/ infra/ $(ASAN_INTEROP:%=interop/%.sh)))

check: deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) test-build
	@$(MAKE) --no-print-directory $(BUILD_JOBS) BUILD=$(BUILD)/asan SAN="$(ASAN_FLAGS)" PROGS_FROM=$(BUILD) test-build
	@$(MAKE) --no-print-directory $(BUILD_JOBS) BUILD=$(BUILD)/tsan SAN="$(TSAN_FLAGS)" PROGS_FROM=$(BUILD) \
		UNITS="$(filter test_%,$(subst tests/,,$(subst $(comma), ,$(TSAN_CHECK_TESTS))))" test-build
	@$(MAKE) --no-print-directory $(BUILD_JOBS) fuzz-build
	@$(MAKE) --no-print-directory $(BUILD_JOBS) clang-check
	@sh tests/run.sh --build $(BUILD) --build $(BUILD)/asan:$(ASAN_CHECK_TESTS) --build $(BUILD)/tsan:$(TSAN_CHECK_TESTS)

# make check, 5 times, beside another copy of the suite and a CPU hog.
check-stress: deps
	@sh tests/stress.sh

# The soak run (tests/preload/soak.sh) for SOAK_SECONDS (default 30
# minutes: two identical rounds of 15), on the default build; make check
# runs it for 20 s on the default build, 10 s on the ASan one.  Under
# ASan: make soak BUILD=build/asan SAN="$(ASAN_FLAGS)".
SOAK_SECONDS ?= 1800
soak: deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) test-build
	@SOAK_SECONDS=$(SOAK_SECONDS) TLSSHIM_TEST_TIMEOUT=$$(($(SOAK_SECONDS) + 900)) TLSSHIM_TEST_VERBOSE=1 \
		sh tests/run.sh --build $(BUILD) --only preload/soak

check-fast: test-build
	@sh tests/run.sh --build $(BUILD)

# ThreadSanitizer: the library (and the unit tests) built with
# -fsanitize=thread; the runner preloads libtsan before it (tests/run.sh).
# The threaded, fork and exec tests, the log's and the pump's fail-closed
# tests (about 7 s of CPU each under it) and the unit tests; any report
# fails.  Not failclosed_signal.sh: a handler's write() or close() on a TLS
# socket still allocates (docs/failclosed.md), which it reports.
# Suppressions, each with its reason: tests/tsan.supp.
TSAN_FLAGS = -fsanitize=thread -fno-omit-frame-pointer
TSAN_TESTS = tests/test_,preload/threads,preload/errq,preload/linger,preload/idlebufs,preload/fork.sh,preload/forking,preload/forklock,preload/exec,preload/socat_fork,preload/failclosed_log,preload/failclosed_pump,preload/systore
TSAN_CHECK_TESTS = preload/threads,preload/errq,preload/forklock,preload/linger,preload/idlebufs,tests/test_reload,preload/failclosed_log,preload/failclosed_pump
check-tsan: deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) BUILD=$(BUILD)/tsan SAN="$(TSAN_FLAGS)" test-build
	@sh tests/run.sh --build $(BUILD)/tsan:$(TSAN_TESTS)

# valgrind memcheck: the programs of a few preload tests (blocking server
# and client, epoll server, threads, fork) run under memcheck with the
# default build preloaded (tests/lib.sh SHIM_WRAP, set by tests/run.sh);
# a definite leak or a memory error with a frame in the shim fails
# (tests/tools/vgcheck.py).  Bounds are scaled for valgrind's slowness.
VALGRIND_TESTS = preload/server.sh,preload/client.sh,preload/asyncio.sh,preload/threads.sh,preload/fork.sh
check-valgrind: deps test-build
	@TLSSHIM_VALGRIND=1 TLSSHIM_TIME_SCALE=$${TLSSHIM_TIME_SCALE:-10} TLSSHIM_TEST_TIMEOUT=$${TLSSHIM_TEST_TIMEOUT:-1500} \
		sh tests/run.sh --build $(BUILD):$(VALGRIND_TESTS)

check-asan:
	@$(MAKE) --no-print-directory $(BUILD_JOBS) BUILD=$(BUILD)/asan SAN="$(ASAN_FLAGS)" test-build
	@sh tests/run.sh --build $(BUILD)/asan

certs: all
	@sh certs/mkcerts.sh $(BUILD)/certs >/dev/null

demo: deps all $(PROG_BIN)
	@BUILD=$(BUILD) sh tests/demo.sh

bench: deps all $(PROG_BIN) $(BENCH_BIN)
	@BUILD=$(BUILD) sh bench/run.sh

# The memory rows up to 100,000 connections, inside user-mode Linux where
# this machine's descriptor limit forbids them (bench/uml.sh).
bench-uml: deps all $(PROG_BIN) $(BENCH_BIN)
	@BUILD=$(BUILD) sh bench/uml.sh

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
	@test -n "$(BUILD)" && test "$(BUILD)" != / || { echo "make clean: refusing BUILD='$(BUILD)'" >&2; exit 1; }
	rm -rf -- "$(BUILD)"
