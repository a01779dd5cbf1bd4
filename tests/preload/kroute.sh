#!/bin/sh
# tests/preload/kroute.sh — the kernel's own ways to a connection's wire:
#  - a BPF sockmap (root: CAP_BPF or CAP_NET_ADMIN) with an SK_MSG
#    program that sends what is written on a plain socket on to the TLS
#    connection's wire, past every wrapper: while the policy has TLS
#    rules, loading or attaching SK_MSG/SK_SKB programs is refused
#    (EPERM, a log line), and so is putting a TLS connection in a sockmap
#    or sockhash (one made, its program attached, before the library
#    ran: made by the test program, which then execs itself); so is
#    loading or attaching a SOCK_OPS program that would put it there
#    itself (bpf_sock_map_update, in a cgroup v2 of the test's own), also
#    through a tail call (a prog array's entry);
#    so is making an iterator (BPF_ITER_CREATE) of a link, made before
#    the library, whose tcp iterator program would put it there;
#    raced (a seccomp filter holds the bpf() between the library's check
#    and the kernel's work while another thread puts the TLS connection
#    at the number judged, or in the update's value, or at the number of
#    the library's own copy, which the held call names): the kernel gets
#    the library's copies, judged plain (dup2 onto a copy held: EBUSY);
#    without TLS rules a program's sockmap works as without the library;
#    also with bit 32 of bpf()'s size set, which the kernel does not read
#    (before h210 it went past the library: sockmap-high, made-high).
#  - a kernel ULP under a TLS connection (setsockopt TCP_ULP "tls" or
#    "espintcp", and SOL_TLS's options, which would hand the library's
#    kTLS keys to the program): refused with EOPNOTSUPP and a log line.
#  - a seccomp supervisor's SECCOMP_IOCTL_NOTIF_ADDFD (SETFD) of a TLS
#    connection onto the number of a plain socket (a thread of the
#    program notifies): refused (EPERM, a log line), also with a larger
#    struct (the kernel takes any size); raced as bpf() above (a dup2 of
#    the TLS connection onto the fd judged, or onto the library's copy):
#    the copy judged is given.  Also with bit 32 of the ioctl's request
#    set, which the kernel does not read (before h210 it went past the
#    library's check: addfd-high).
#  - KCM (SIOCKCMATTACH on an AF_KCM socket) and the NBD client
#    (NBD_SET_SOCK on /dev/nbd0), which take a TCP socket and move its
#    bytes themselves: a TLS connection is refused them (EPERM, a log
#    line), client and server side; and so is a 9p mount's "trans=fd"
#    on it (mount(2)), and through the new mount interface fsconfig()'s
#    "rfdno"/"wfdno" keys, whatever the number (the kernel looks it up
#    at FSCONFIG_CMD_CREATE), by the function and syscall(SYS_fsconfig)
#    (fs9p, fs9p-sys: before h213 not looked at, the Tattach naming the
#    sentinel went out in clear), and its FSCONFIG_SET_FD of a TLS
#    connection (the kernel takes the file at once: judged on a copy).  Without a kernel that has them,
#    tests/progs/preload_kcm.so stands in for the three (checked to work
#    without the library).  KCM and NBD also with bit 32 of the request
#    (and of NBD_SET_SOCK's descriptor) set (kcm-high, nbd-high).
#  - transmit time stamps without SOF_TIMESTAMPING_OPT_TSONLY, each with
#    a copy of the packet it stamps: recvmsg/recv(MSG_ERRQUEUE) on a TLS
#    connection (client and server) gives the stamps and none of the
#    packets' bytes (the library's records).
#  - TCP_REPAIR (root): a connect() in repair mode, no handshake, is
#    refused, and nothing written goes out (closed already; checked).
#  - an SK_LOOKUP program (root) that steers a TLS port's connections to
#    a plain listener: the accepted socket's own port picks the rule, so
#    they are TLS all the same (closed already; checked).
#  - SO_REUSEPORT: a TLS port's listener made before the library ran and
#    one made under it, each given the group's connection in turn by a
#    classic BPF program: TLS on both (closed already; checked).
# A real TLS echo peer behind a recording relay, one for every case; the
# wire must carry TLS only.  Each case is a fresh kroute_client: its own
# calls are what is tested.  (The stand-ins' plain peers and the accept
# side's TLS clients are a Python process per case, 0.37 s of CPU in all:
# one shared would save less than a second; docs/design.md, "Testing".)
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim

if ! fc_start peer --mode echo; then
	fail "kroute: setup" "peer or relay did not start $(show "$T/peer.srv.out" "$T/peer.relay.out")"
	exit 1
fi
fc_policy "$T/k.conf"

# run NAME MODE [none]: kroute_client MODE against the peer under k.conf,
# then until the peer's connection has ended ("none": a case that must
# make none waits only if the relay is not idle); OUT is its output on
# one line, WRC the wire audit's status (0: TLS only).
# sockmap-made, sockops-made and sockops-early start without the library
# and exec themselves with it (X_CGROUP: the cgroup the sockops ones join).
# (kcm, nbd, 9p, 9p-long, fs9p*: preload_kcm.so after the library.)
run() {
	_pre=LD_PRELOAD _pl=$SHIM_PRELOAD
	case "$2" in *-made|sockops-early) _pre=X_PRELOAD ;; kcm|nbd|9p|9p-long|fs9p*) _pl="$_pl $PROGS/preload_kcm.so" ;; esac
	OUT=$(TLSSHIM_LOG_FILE="$T/$1.log" timeout -k 2 $((20 * TS)) env "$_pre=$_pl" X_CGROUP="$CG" \
		TLSSHIM_CONFIG="$T/k.conf" "$PROGS/kroute_client" "$2" "$R" "$SENT" 2>&1 | tr '\n' ' ')
	if [ "${3:-}" != none ] || ! relay_idle "$R"; then
		srv_settled peer 1 5
	fi
	fc_collect peer "$1"
	fc_wire "$1" --min-conns 1
	WRC=$?
}

# refused NAME MODE STEP LOGLINE PASS FAIL: run NAME MODE; PASS when STEP
# failed with EPERM, the log has LOGLINE, the echo came back through the
# connection and its wire carried TLS only.
refused() {
	run "$1" "$2"
	refused_ran "$1" "$3" "$4" "$5" "$6"
}

# refused_ran NAME STEP LOGLINE PASS FAIL: refused's verdict on run NAME.
refused_ran() {
	if [ $WRC -eq 0 ] && [ "${OUT#*"$2": Operation not permitted}" != "$OUT" ] &&
	   [ "${OUT%echo ok }" != "$OUT" ] && grep -q "$3" "$T/$1.log"; then
		pass "$4 ($WIRE_OUT)"
	else
		fail "$5" "$OUT; $WIRE_OUT; log: $(log_tail "$T/$1.log")"
	fi
}

# raced_ran NAME STEP PASS FAIL: run NAME (X_RACE) swapped what the
# library had judged before the kernel's call ("swapped: ok"), STEP was
# done, the echo came back and the wire carried TLS only: the kernel got
# the library's copies, judged plain.
raced_ran() {
	if [ $WRC -eq 0 ] && [ "${OUT#*swapped: ok}" != "$OUT" ] && [ "${OUT#*"$2": ok}" != "$OUT" ] &&
	   [ "${OUT%echo ok }" != "$OUT" ]; then
		pass "$3 ($WIRE_OUT)"
	else
		fail "$4" "$OUT; $WIRE_OUT; log: $(log_tail "$T/$1.log")"
	fi
}

# copy_ran NAME STEP PASS FAIL: run NAME (X_RACE=copy) put the TLS
# connection at the library's own copy's number, which the held call
# names, or was refused that number (EBUSY); STEP was done, the echo came
# back and the wire carried TLS only: the kernel got the copy judged.
copy_ran() {
	if [ $WRC -eq 0 ] && { [ "${OUT#*swapped: ok}" != "$OUT" ] ||
	   [ "${OUT#*swapped: Device or resource busy}" != "$OUT" ]; } &&
	   [ "${OUT#*"$2": ok}" != "$OUT" ] && [ "${OUT%echo ok }" != "$OUT" ]; then
		case "$OUT" in
		*"swapped: ok"*) pass "$3 (the dup2 done; $WIRE_OUT)" ;;
		*) pass "$3 (the dup2 refused: EBUSY; $WIRE_OUT)" ;;
		esac
	else
		fail "$4" "$OUT; $WIRE_OUT; log: $(log_tail "$T/$1.log")"
	fi
}

# addfd_case NAME PASS FAIL: run NAME addfd (X_ADDFD_SIZE, X_RACE as
# exported): as refused_ran, or raced_ran (copy_ran) with X_RACE;
# "not testable" where user notification is refused.
addfd_case() {
	run "$1" addfd
	case "$OUT" in
	"notify: Operation not permitted"*|"notify: Invalid argument"*|*"trap: Operation not permitted"*|*"trap: Invalid argument"*)
		pass "$1: not testable here: $OUT" ;;
	*)
		if [ "${X_RACE:-}" = copy ]; then
			copy_ran "$1" addfd "$2" "$3"
		elif [ -n "${X_RACE:-}" ]; then
			raced_ran "$1" addfd "$2" "$3"
		else
			refused_ran "$1" addfd "NOTIF_ADDFD.*refused" "$2" "$3"
		fi ;;
	esac
}

native=$("$PROGS/kroute_client" sockmap-plain 0 "$SENT" 2>&1 | tr '\n' ' ')
case "$native" in
*"got $SENT"*)
	refused sockmap sockmap prog_load "SK_MSG.*refused" \
		"sockmap: an SK_MSG program is refused (EPERM, logged) while the policy has TLS rules; TLS only on the wire" \
		"sockmap: SK_MSG redirect onto a TLS connection refused"
	# the map made and its program attached before the library runs
	refused made sockmap-made map_conn "into a sockmap refused" \
		"sockmap made before the library: the TLS connection is not put in it (EPERM, logged); TLS only on the wire" \
		"sockmap made before the library: TLS connection kept out"
	# The same with bit 32 of bpf()'s size set, which the kernel does not
	# read (an unsigned int): before h210 such a size was "above a page",
	# went to the kernel unjudged, and the program was loaded, or the
	# TLS connection put in the map: the sentinel in clear.
	export X_REQ_HIGH=1
	refused sockmap-high sockmap prog_load "SK_MSG.*refused" \
		"sockmap, bit 32 of bpf()'s size set: the SK_MSG program refused (EPERM, logged); TLS only on the wire" \
		"sockmap (size with high bits): SK_MSG redirect onto a TLS connection refused"
	refused made-high sockmap-made map_conn "into a sockmap refused" \
		"sockmap made before the library, bit 32 of bpf()'s size set: the TLS connection is not put in it (EPERM, logged); TLS only on the wire" \
		"sockmap made before the library (size with high bits): TLS connection kept out"
	unset X_REQ_HIGH
	# races (helper-169): the library judged the number and the value in
	# memory, the kernel read them again; a seccomp filter holds the
	# bpf() between the two while another thread puts the TLS connection
	# at the plain socket's number (dup2) or its number in the value (mem)
	# (copy: at the number of the library's own copy, which the held
	# call names: dup2 onto it is refused with EBUSY while the call is
	# under way)
	for how in dup2 mem copy; do
		export X_RACE=$how
		run "race-map-$how" sockmap-made
		unset X_RACE
		case "$OUT" in
		*"trap: Operation not permitted"*|*"trap: Invalid argument"*)
			pass "sockmap update raced by $how: not testable here (no user notification): $OUT" ;;
		*)
			if [ $how = copy ]; then
				copy_ran "race-map-$how" map_first \
					"sockmap update raced (dup2 of the TLS connection onto the library's own copy, between the check and the kernel's call): refused or harmless; TLS only on the wire" \
					"sockmap update raced by dup2 onto the library's copy: TLS only on the wire"
			else
				raced_ran "race-map-$how" map_first \
					"sockmap update raced ($how of the TLS connection between the check and the kernel's call): the kernel gets the copy judged; TLS only on the wire" \
					"sockmap update raced by $how: TLS only on the wire"
			fi ;;
		esac
	done
	# a tcp iterator's program, loaded and linked before the library,
	# puts the TLS connection in that map when its iterator is read
	# (BPF_ITER_CREATE, then read(): no attach, no map update call)
	run iter iter-made
	case "$OUT" in
	*"iter: "*)
		pass "tcp iterator filling a sockmap: not testable here (no BTF or iterator): $OUT" ;;
	*)
		refused_ran iter iter_create "iterating with a program.*refused" \
			"tcp iterator whose program fills a sockmap, linked before the library: BPF_ITER_CREATE refused (EPERM, logged); TLS only on the wire" \
			"tcp iterator filling a sockmap: BPF_ITER_CREATE refused" ;;
	esac
	# a SOCK_OPS program of its own, on its own cgroup (v2), puts the TLS
	# connection in that map itself: no BPF_MAP_UPDATE_ELEM call
	CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	if [ -n "$CG2" ] && CG=$(mktemp -d "$CG2/tlsshim-kroute.XXXXXX" 2>/dev/null); then
		refused sockops sockops-made sockops_load "SOCK_OPS.*refused" \
			"sockmap made before the library, a SOCK_OPS program of its own to fill it: refused (EPERM, logged); TLS only on the wire" \
			"SOCK_OPS program putting the TLS connection in a sockmap refused"
		refused sockops-early sockops-early sockops_attach "attaching a SOCK_OPS.*refused" \
			"SOCK_OPS program loaded before the library, attached under it: refused (EPERM, logged); TLS only on the wire" \
			"SOCK_OPS program made before the library: attaching it refused"
		# that program reached by a tail call from one that uses no
		# sockmap: the prog array's entry put under the library, or
		# filled before it
		refused tail tail-made tail_put "tail-calling a SOCK_OPS.*refused" \
			"SOCK_OPS program made before the library, put in a prog array for a tail call: refused (EPERM, logged); TLS only on the wire" \
			"SOCK_OPS program made before the library: its prog array entry refused"
		export X_TAILS_EARLY=1
		refused tail-early tail-made tail_load "loading a SOCK_OPS.*refused" \
			"SOCK_OPS program that tail-calls a prog array filled before the library with one that fills a sockmap: refused (EPERM, logged); TLS only on the wire" \
			"SOCK_OPS program tail-calling a sockmap's filler: refused"
		unset X_TAILS_EARLY
		# a tail call to a program that fills no sockmap: let through
		export X_TAIL_BENIGN=1
		run tail-benign tail-made
		unset X_TAIL_BENIGN
		if [ $WRC -eq 0 ] && [ "${OUT#*tail_put: ok*tail_attach: ok}" != "$OUT" ] && [ "${OUT%echo ok }" != "$OUT" ]; then
			pass "SOCK_OPS program tail-calling one that fills no sockmap: let through; TLS only on the wire ($WIRE_OUT)"
		else
			fail "SOCK_OPS program tail-calling a harmless one: let through" "$OUT; $WIRE_OUT; log: $(log_tail "$T/tail-benign.log")"
		fi
		# BPF_PROG_TEST_RUN of that program: no attach, refused all the same
		export X_TESTRUN=1
		refused sockops-testrun sockops-early test_run "running a SOCK_OPS.*refused" \
			"SOCK_OPS program made before the library, run by BPF_PROG_TEST_RUN: refused (EPERM, logged); TLS only on the wire" \
			"SOCK_OPS program made before the library: BPF_PROG_TEST_RUN refused"
		unset X_TESTRUN
		# a sandbox that refuses BPF_OBJ_GET_INFO_BY_FD: what the program
		# uses cannot be read, so it is taken for a sockmap's filler
		export X_NOINFO=1
		refused sockops-noinfo sockops-made sockops_load "maps cannot be read.*refused" \
			"SOCK_OPS program whose maps the kernel will not show (seccomp): refused (EPERM, logged); TLS only on the wire" \
			"SOCK_OPS program with its maps hidden by seccomp refused"
		unset X_NOINFO
		rmdir "$CG"
	else
		pass "SOCK_OPS into a sockmap: not testable here (no writable cgroup v2)"
	fi
	# a descriptor that is none: the kernel's EBADF, as without the
	# library (the library's copies of them cannot be made)
	bad=$(timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/k.conf" \
		"$PROGS/kroute_client" badfd 0 "$SENT" 2>&1 | tr '\n' ' ')
	want="map_create: ok map_fd: Bad file descriptor map_value: Bad file descriptor attach: Bad file descriptor link: Bad file descriptor link_update: Bad file descriptor test_run: Bad file descriptor iter: Bad file descriptor "
	if [ "$bad" = "$want" ]; then
		pass "bpf() naming a descriptor that is none, while the policy has TLS rules: EBADF, as the kernel says"
	else
		fail "bpf() of a bad descriptor: EBADF" "got: $bad"
	fi
	policy "$T/plain.conf" <<EOC
rules = ( { name = "plain-only"; direction = "connect"; port = 9; action = "plain"; } );
EOC
	out=$(timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/plain.conf" \
		"$PROGS/kroute_client" sockmap-plain 0 "$SENT" 2>&1 | tr '\n' ' ')
	if [ "$out" = "$native" ]; then
		pass "sockmap under a policy without TLS rules: works as without the library"
	else
		fail "sockmap without TLS rules" "got: $out; without the library: $native"
	fi ;;
*)
	pass "sockmap: not testable here, without the library: $native" ;;
esac

run ulp ulp
case "$OUT" in
"ulp: Operation not supported tls_tx: Operation not supported get_tls_tx: Operation not supported echo ok ")
	if [ $WRC -eq 0 ] && [ "$(grep -c "TCP_ULP\|SOL_TLS" "$T/ulp.log")" -ge 3 ]; then
		pass "TCP_ULP and SOL_TLS on a TLS connection: EOPNOTSUPP, logged, the session goes on ($WIRE_OUT)"
	else
		fail "TCP_ULP/SOL_TLS refused" "$WIRE_OUT; log: $(log_tail "$T/ulp.log")"
	fi ;;
*)
	fail "TCP_ULP/SOL_TLS on a TLS connection refused with EOPNOTSUPP" "$OUT; $WIRE_OUT; log: $(log_tail "$T/ulp.log")" ;;
esac
# A seccomp supervisor's SECCOMP_IOCTL_NOTIF_ADDFD (SETFD) put the TLS
# connection at the number of a socket the library knew plain (one of the
# program's threads notifies): what was written there went out in clear.
addfd_case addfd "seccomp ADDFD of the TLS connection onto a plain socket's number: refused (EPERM, logged); TLS only on the wire" \
	"seccomp ADDFD of a TLS connection refused"
# The same ADDFD with a struct of 32 bytes (zeros past the kernel's 24):
# the kernel takes any size, the library only looked at its own.
export X_ADDFD_SIZE=32
addfd_case addfd-size "seccomp ADDFD of a TLS connection with a larger struct (32 bytes): refused (EPERM, logged); TLS only on the wire" \
	"seccomp ADDFD of 32 bytes of a TLS connection refused"
unset X_ADDFD_SIZE
# Raced: a plain socket given, the TLS connection put at its number by
# another thread (dup2) while a seccomp filter holds the ioctl between
# the library's check and the kernel's work.
export X_RACE=dup2
addfd_case race-addfd "seccomp ADDFD raced (dup2 of the TLS connection onto the fd judged, before the kernel's call): the copy judged is given; TLS only on the wire" \
	"seccomp ADDFD raced by dup2: TLS only on the wire"
# ... and onto the library's own copy, whose number the held ioctl names
export X_RACE=copy
addfd_case race-addfd-copy "seccomp ADDFD raced (dup2 of the TLS connection onto the library's own copy, before the kernel's call): refused or harmless; TLS only on the wire" \
	"seccomp ADDFD raced by dup2 onto the library's copy: TLS only on the wire"
unset X_RACE
# The request with bit 32 set, which the kernel does not read (its cmd is
# an unsigned int): the same ADDFD.  Before h210 it missed the library's
# check and the connection was put at the plain socket's number.
export X_REQ_HIGH=1
addfd_case addfd-high "seccomp ADDFD of the TLS connection, the request with bit 32 set: refused (EPERM, logged); TLS only on the wire" \
	"seccomp ADDFD (request with high bits) of a TLS connection refused"
unset X_REQ_HIGH
# KCM and NBD take a TCP socket from the program and move its bytes
# themselves: KCM sends a message sent on its socket on the connection as
# it is (and hands the program the connection's records as messages), the
# NBD client writes its requests and the block device's data there.
# Before, both took the TLS connection: the sentinel went out in clear.
# A 9p mount with "trans=fd" on the connection: the kernel's 9p client
# speaks 9P on it (its Tattach names the sentinel): refused alike; so
# are fsconfig()'s rfdno and wfdno (fs9p, fs9p-sys: the stand-in writes
# at FSCONFIG_CMD_CREATE, which the program tries all the same).
# preload_kcm.so stands in for the kernel's KCM, NBD and 9p; first checked
# to do what they do, without the library, on a plain connection.
# kcm-high, nbd-high: the same with bit 32 of the request (and of
# NBD_SET_SOCK's descriptor) set, which the kernel does not read; before
# h210 they went past the library's checks, the sentinel in clear.
# 9p-nl: rfdno and wfdno each end in a newline ("rfdno=5\n"), which the
# kernel's kstrtouint takes as 5 (the stand-in's atoi too); before h214
# the library's strtol stopped there and the mount went to the kernel
# unjudged, the sentinel in clear.
mkdir -p "$T/mnt"
export X_MNT="$T/mnt"
for how in kcm nbd 9p fs9p fs9p-sys kcm-high nbd-high 9p-nl; do
	case $how in *-high) export X_REQ_HIGH=1 ;; *) unset X_REQ_HIGH ;; esac
	case $how in *-nl) export X_9P_NL=1 ;; *) unset X_9P_NL ;; esac
	mode=${how%-high} mode=${mode%-nl}
	P=$(free_port)
	if ! start_peer "$how-plain.peer" server --port "$P" --plain --mode record --record "$T/$how-plain.data" \
		--status "$T/$how-plain.status"; then
		fail "$how: setup" "the plain peer never listened$(show "$T/$how-plain.peer.err")"
		continue
	fi
	# (the client then waits for an echo that this peer never sends: it
	# is stopped once the sentinel is there, not left to the peer's own
	# time-out, 45 s for each of the three before)
	bg env LD_PRELOAD="$PROGS/preload_kcm.so" \
		"$PROGS/kroute_client" "$mode" "$P" "$SENT" >"$T/$how-plain.out" 2>&1
	CL=$!
	wait_for "$T/$how-plain.data" "$SENT" 20
	stop "$CL"
	stop "$PEER"
	if ! grep -q -F "$SENT" "$T/$how-plain.data"; then
		fail "$how stand-in without the library: the sentinel on the connection" "$(tr '\n' ' ' <"$T/$how-plain.out")"
		continue
	fi
	case $how in
	kcm) step=kcm_attach said="SIOCKCMATTACH.*refused" what="KCM (SIOCKCMATTACH)" ;;
	nbd) step=nbd_sock said="NBD_SET_SOCK.*refused" what="NBD (NBD_SET_SOCK)" ;;
	9p) step=mount_9p said="9p's rfdno=[0-9]* refused" what="9p mount (trans=fd)" ;;
	fs9p) step=fsconfig_rfdno said='the key "rfdno" names a descriptor' what="fsconfig() of 9p's rfdno" ;;
	fs9p-sys) step=fsconfig_rfdno said='the key "rfdno" names a descriptor'
		what="syscall(SYS_fsconfig) of 9p's rfdno" ;;
	9p-nl) step=mount_9p said="9p's rfdno=[0-9]* refused" what="9p mount (trans=fd, rfdno=N newline)" ;;
	kcm-high) step=kcm_attach said="SIOCKCMATTACH.*refused" what="KCM (SIOCKCMATTACH, bit 32 of the request set)" ;;
	nbd-high) step=nbd_sock said="NBD_SET_SOCK.*refused" what="NBD (NBD_SET_SOCK, bit 32 of the request and of the descriptor set)" ;;
	esac
	refused "$how" "$mode" "$step" "$said" \
		"$what of a TLS connection: refused (EPERM, logged); TLS only on the wire" \
		"$what of a TLS connection refused"
	# (FSCONFIG_SET_FD hands the kernel the file at once: judged, refused)
	case $how in fs9p*)
		if [ "${OUT#*fsconfig_setfd: Operation not permitted}" != "$OUT" ] &&
		   grep -q "FSCONFIG_SET_FD of fd [0-9]* refused" "$T/$how.log"; then
			pass "$how: FSCONFIG_SET_FD of a TLS connection refused (EPERM, logged)"
		else
			fail "$how: FSCONFIG_SET_FD of a TLS connection refused" "$OUT; log: $(log_tail "$T/$how.log")"
		fi ;;
	esac
done
unset X_REQ_HIGH X_9P_NL

# 9p-long: 9p options of a plain socket's one-digit number, padded so
# that with the library's copy's number in its place they are longer
# than the 4095 bytes the kernel reads (the stand-in reads as many): the
# last option, "wfdno=" the copy, would be cut to its first digits,
# where the program put the TLS connection.  Refused with EINVAL
# (logged) now; before h216 the kernel got it cut, 9P in clear.
run 9p-long 9p-long
if [ $WRC -eq 0 ] && [ "${OUT#*probe_9p: ok}" != "$OUT" ] &&
   [ "${OUT#*mount_9p: Invalid argument}" != "$OUT" ] && [ "${OUT%echo ok }" != "$OUT" ] &&
   grep -q "more than the kernel reads" "$T/9p-long.log"; then
	pass "9p mount options the copies make longer than the kernel reads: refused (EINVAL, logged);$(
		) TLS only on the wire ($WIRE_OUT)"
else
	fail "9p mount options the copies make longer than the kernel reads refused" \
		"$OUT; $WIRE_OUT; log: $(log_tail "$T/9p-long.log")"
fi

# TCP_REPAIR (root): connect() in repair mode sends no SYN and is
# ESTABLISHED at once; the handshake cannot run, so the connection is
# refused and nothing the program writes, before or after repair mode
# ends, goes to the kernel.  (No connection reaches the peer, a SYN is
# never sent: run waits for none while the relay is idle; it waited 5 s
# for one before, 10 s on a busy machine.)
run repair repair none
case "$OUT" in
*"connect: Connection refused"*"write: "*"write2: "*)
	if [ "${OUT#*write: ok}" = "$OUT" ] && [ "${OUT#*write2: ok}" = "$OUT" ] &&
	   ! srv_data repair | grep -q "$SENT"; then
		pass "TCP_REPAIR connect to a TLS destination: refused, nothing written (checked closed)"
	else
		fail "TCP_REPAIR connect to a TLS destination refused" "$OUT; log: $(log_tail "$T/repair.log")"
	fi ;;
*"repair_on: Operation not permitted"*)
	pass "TCP_REPAIR: not testable here (no CAP_NET_ADMIN): $OUT" ;;
*)
	fail "TCP_REPAIR connect to a TLS destination refused" "$OUT; log: $(log_tail "$T/repair.log")" ;;
esac

# An SK_LOOKUP program (root) that gives the connections to a port an
# accept rule names to a plain listener on another port: the accepted
# connection's own local address (the port the client asked for) picks
# the rule, not the listener's (checked closed).
# accept_conf FILE: an accept rule for a new free port P.
accept_conf() {
	P=$(free_port)
	policy "$1" <<EOC
rules = ( { name = "in"; direction = "accept"; port = $P;
            cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; } );
EOC
}

# tls_client NAME: a TLS client of 127.0.0.1:P sends the sentinel; true
# when it came back ("echo ok").
tls_client() {
	"$PY" "$TLSSHIM_TOP/tests/interop/tlspeer.py" client --port "$P" --ca "$CERTS/ca.crt" --send "$SENT" \
		>"$T/$1.cli" 2>&1
	grep -q "^echo ok" "$T/$1.cli"
}

accept_conf "$T/lk.conf"
TLSSHIM_LOG_FILE="$T/lookup.log" bg env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/lk.conf" \
	"$PROGS/kroute_client" lookup "$P" - >"$T/lookup.out" 2>&1
LK=$!
if ! wait_for "$T/lookup.out" '^listening' 10; then
	case "$(cat "$T/lookup.out")" in
	*"prog_load: "*|*"link: "*)
		pass "SK_LOOKUP: not testable here: $(tr '\n' ' ' <"$T/lookup.out")" ;;
	*)
		fail "SK_LOOKUP steering to a plain listener" "$(tr '\n' ' ' <"$T/lookup.out"); log: $(log_tail "$T/lookup.log")" ;;
	esac
elif tls_client lookup && wait_exit "$LK" 10; then
	pass "SK_LOOKUP steering a TLS port's connections to a plain listener: still TLS (the accepted socket's port picks the rule)"
else
	fail "SK_LOOKUP steering to a plain listener: still TLS" \
		"$(tr '\n' ' ' <"$T/lookup.cli"); log: $(log_tail "$T/lookup.log")"
fi

# SO_REUSEPORT: two listeners on a TLS port, one made before the library
# ran (inherited across exec), one under it; each one's connection (a
# classic BPF program steers them) is TLS (checked closed).
accept_conf "$T/rp.conf"
TLSSHIM_LOG_FILE="$T/rp.log" bg env X_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/rp.conf" \
	"$PROGS/kroute_client" reuseport "$P" - >"$T/rp.out" 2>&1
RP=$!
if wait_for "$T/rp.out" '^listening' 10 && tls_client rp1 && wait_for "$T/rp.out" '^second' 10 &&
   tls_client rp2 && wait_exit "$RP" 10; then
	pass "SO_REUSEPORT: a TLS port's inherited listener and the program's own both serve TLS only"
else
	fail "SO_REUSEPORT listeners on a TLS port: TLS" \
		"$(tr '\n' ' ' <"$T/rp.out"); $(cat "$T/rp1.cli" "$T/rp2.cli" 2>/dev/null | tr '\n' ' '); log: $(log_tail "$T/rp.log")"
fi

# KCM and NBD on the server side: the connection an accept rule made TLS,
# attached (the stand-in again): refused, and the client's line still
# comes back over TLS.
for how in kcm nbd; do
	case $how in
	kcm) step=kcm_attach said="SIOCKCMATTACH.*refused" what="KCM (SIOCKCMATTACH)" ;;
	nbd) step=nbd_sock said="NBD_SET_SOCK.*refused" what="NBD (NBD_SET_SOCK)" ;;
	esac
	accept_conf "$T/$how-in.conf"
	TLSSHIM_LOG_FILE="$T/$how-in.log" bg env LD_PRELOAD="$SHIM_PRELOAD $PROGS/preload_kcm.so" \
		TLSSHIM_CONFIG="$T/$how-in.conf" "$PROGS/kroute_client" "$how-server" "$P" "$SENT" >"$T/$how-in.out" 2>&1
	S=$!
	if wait_for "$T/$how-in.out" '^listening' 10 && tls_client "$how-in" && wait_exit "$S" 10 &&
	   grep -q "^$step: Operation not permitted" "$T/$how-in.out" && grep -q "$said" "$T/$how-in.log"; then
		pass "$what of an accepted TLS connection: refused (EPERM, logged); the client's line echoed over TLS"
	else
		fail "$what of an accepted TLS connection refused" \
			"$(tr '\n' ' ' <"$T/$how-in.out"); $(tr '\n' ' ' <"$T/$how-in.cli" 2>/dev/null); log: $(log_tail "$T/$how-in.log")"
	fi
done

# Transmit time stamps asked for without SOF_TIMESTAMPING_OPT_TSONLY come
# with a copy of the packet stamped: recvmsg(MSG_ERRQUEUE) on a TLS
# connection handed the program the library's records (ciphertext), also
# those of the handshake.  Now the stamps come, and none of the bytes;
# client (set before connect) and server (set on the listener).
run tstamp tstamp
case "$OUT" in
"tstamp_on: ok echo ok errq entries="[1-9]*" bytes=0 stamps="[1-9]*" echo ok errq-recv entries="[1-9]*" bytes=0 ")
	if [ $WRC -eq 0 ]; then
		pass "time stamps on a TLS connection (client): MSG_ERRQUEUE gives the stamps, no packet bytes ($WIRE_OUT)"
	else
		fail "time stamps on a TLS connection (client): wire" "$OUT; $WIRE_OUT"
	fi ;;
*)
	fail "time stamps on a TLS connection (client): the stamps, no packet bytes" "$OUT; log: $(log_tail "$T/tstamp.log")" ;;
esac
accept_conf "$T/ts.conf"
TLSSHIM_LOG_FILE="$T/tss.log" bg env LD_PRELOAD="$SHIM_PRELOAD" TLSSHIM_CONFIG="$T/ts.conf" \
	"$PROGS/kroute_client" tstamp-server "$P" - >"$T/tss.out" 2>&1
TSS=$!
if wait_for "$T/tss.out" '^listening' 10 && tls_client tss && wait_exit "$TSS" 10 &&
   grep -q "^errq entries=[1-9][0-9]* bytes=0 stamps=[1-9]" "$T/tss.out"; then
	pass "time stamps on a TLS connection (server): MSG_ERRQUEUE gives the stamps, no packet bytes"
else
	fail "time stamps on a TLS connection (server): the stamps, no packet bytes" \
		"$(tr '\n' ' ' <"$T/tss.out"); $(tr '\n' ' ' <"$T/tss.cli" 2>/dev/null); log: $(log_tail "$T/tss.log")"
fi
