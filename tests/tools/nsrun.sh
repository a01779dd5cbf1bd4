#!/bin/sh
# tests/tools/nsrun.sh — process 1 of one test's own network, PID and mount
# namespaces (tests/run.sh starts it with unshare; not a test itself).
#
#   nsrun.sh JOBDIR LIMIT NAME COMMAND...
#
# Brings lo up, starts the wire capture (tcpdump on lo, into JOBDIR/wire.pcap;
# unless TLSSHIM_AUDIT=0), runs COMMAND with a time limit of LIMIT seconds
# (output appended to JOBDIR/out, exit status to JOBDIR/rc), then:
#   * every process still alive in the namespace (after a grace of at most
#     5 s for processes that are ending) is named in a FAIL line and killed;
#   * the capture is made complete (a marker datagram is sent and waited
#     for in the file) and tcpdump stopped; its statistics go to
#     JOBDIR/tcpdump.err, where tests/run.sh reads the dropped packets.
# All waits are bounded.
set -u
J=$1 limit=$2 name=$3
shift 3
out=$J/out

if ! ip link set lo up 2>>"$out"; then
	echo "FAIL $name: isolation: cannot bring up lo in the test's network namespace" >>"$out"
	echo 1 >"$J/rc"
	exit 0
fi

# others: write the pids alive in this namespace to $J/others, but this
# shell and the capture; zombies (ended, not yet reaped) do not count.
# (Called without a subshell, so that the /proc glob lists no helper.)
others() {
	: >"$J/others"
	for _d in /proc/[0-9]*; do
		_p=${_d#/proc/}
		[ "$_p" = 1 ] && continue
		[ -n "${tcpd:-}" ] && [ "$_p" = "$tcpd" ] && continue
		# (built-ins only: this runs ten times a second at the end of
		# every test)
		_st=
		{ read -r _st <"$_d/stat"; } 2>/dev/null
		_st=${_st##*) }
		case "${_st%% *}" in ''|Z|X) continue ;; esac
		echo "$_p" >>"$J/others"
	done
	[ -s "$J/others" ]
}

# capture_ready: tcpdump has said "listening on" (built-ins: polled every
# 20 ms while it sets up its ring, a grep each time before).
capture_ready() {
	{
		while IFS= read -r _l || [ -n "$_l" ]; do
			case "$_l" in *'listening on'*) return 0 ;; esac
		done <"$J/tcpdump.err"
	} 2>/dev/null
	return 1
}

tcpd=""
if [ "${TLSSHIM_AUDIT:-1}" != 0 ]; then
	# -U: every packet goes to the file as soon as tcpdump has it (no
	# --immediate-mode: the kernel then fills each buffer block before
	# handing it over, so the buffer holds many more small packets; a
	# block is handed over after at most about a second, which the
	# end-of-capture marker below waits for);
	# -B: a large kernel buffer (KiB), so that bursts are not dropped;
	# -Z root: write the file as root (no privilege drop); a higher
	# priority than the test's programs, so that it keeps up on a busy
	# machine.  The filter leaves out only pure TCP acknowledgements (no
	# payload, no SYN, FIN or RST: nothing the audit reads), half the
	# packets of a request/response load such as redis-benchmark.
	filter='(ip and tcp and ((tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst)) != 0 or (ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2)) != 0))'
	filter="$filter or (ip6 and ip6[6] = 6 and ((ip6[53] & 0x07) != 0 or (ip6[4:2] - ((ip6[52] & 0xf0) >> 2)) != 0))"
	filter="$filter or (ip6 and ip6[6] != 6) or (ip and not tcp) or not (ip or ip6)"
	nice -n -5 tcpdump -i lo -w "$J/wire.pcap" -s 0 -U -n -Z root \
		-B "${TLSSHIM_CAPTURE_BUFFER_KB:-524288}" "$filter" 2>"$J/tcpdump.err" </dev/null &
	tcpd=$!
	# At most 15 s: tests/progs/waitlines (inotify) a second at a time,
	# tcpdump still alive between (a fork every 20 ms before: about six
	# per test while the ring is set up); without it, built-ins and a
	# sleep every 20 ms.
	_n=0
	while ! capture_ready; do
		_n=$((_n + 1))
		if [ $_n -gt 750 ] || ! kill -0 "$tcpd" 2>/dev/null; then
			echo "capture-failed" >"$J/capture"
			kill "$tcpd" 2>/dev/null
			tcpd=""
			break
		fi
		if [ -x "${TLSSHIM_PROGS:-}/waitlines" ]; then
			"$TLSSHIM_PROGS/waitlines" "$J/tcpdump.err" 'listening on' 1 1000
			_n=$((_n + 49))
		else
			sleep 0.02
		fi
	done
fi

# The test itself; 3>&- : the runner's completion pipe is not the test's.
timeout -k 5 "$limit" "$@" >>"$out" 2>&1 </dev/null 3>&-
echo $? >"$J/rc"

# Nothing may be left running: a grace of at most 5 s for processes that
# are ending (a lingering close, a pump finishing), then name and kill.
_n=0
while others && [ $_n -lt 50 ]; do sleep 0.1; _n=$((_n + 1)); done
left=""
others
for _p in $(cat "$J/others"); do
	_cmd=$(tr '\0' ' ' <"/proc/$_p/cmdline" 2>/dev/null | cut -c1-200)
	[ -n "$_cmd" ] || _cmd="[$(cat "/proc/$_p/comm" 2>/dev/null)]"
	left="$left${left:+; }pid $_p: $_cmd"
done
if [ -n "$left" ]; then
	echo "FAIL $name: processes left running after the test ended (killed now): $left" >>"$out"
	_n=0
	while others && [ $_n -lt 50 ]; do
		for _p in $(cat "$J/others"); do kill -9 "$_p" 2>/dev/null; done
		sleep 0.1
		_n=$((_n + 1))
	done
fi

# Complete the capture: a marker datagram, the last packet, must be in the
# file before tcpdump is stopped (it writes each packet as it reads it).
if [ -n "$tcpd" ]; then
	# First, what the test's sockets still hold goes out: the kernel
	# sends a closed socket's unsent bytes after its process has ended.
	# Until no TCP socket of the namespace has unacknowledged data
	# (tx_queue in /proc/net/tcp and tcp6; acknowledged on loopback means
	# captured), at most 3 s; then the marker.
	_n=0
	while [ $_n -lt 60 ]; do
		_busy=0
		for _t in /proc/net/tcp /proc/net/tcp6; do
			[ -r "$_t" ] || continue
			while read -r _sl _la _ra _st _q _rest; do
				case "$_q" in tx_queue|00000000:*) ;; *) _busy=1; break ;; esac
			done <"$_t"
			[ $_busy = 1 ] && break
		done
		[ $_busy = 0 ] && break
		sleep 0.05
		_n=$((_n + 1))
	done
	# (unique in the capture: the pid and the time since boot, read
	# with a built-in)
	_up=
	{ read -r _up _ </proc/uptime; } 2>/dev/null
	mark="tlsshim-wire-audit-end-$$-$_up"
	# tests/tools/wiremark: the marker and about 1 MB of filler after it,
	# which hands the marker's block of the capture ring to tcpdump at
	# once (else after libpcap's timeout: a second of every test's wall
	# time); then it waits, at most 10 s, until the marker is in the file
	# (reading what was appended since its last look, every 5 ms: a tail,
	# a grep and a sleep every 50 ms before).  Without it (bash's
	# /dev/udp), the marker alone, and that loop.
	if [ -x "${TLSSHIM_BUILD:-}/tools/wiremark" ]; then
		"$TLSSHIM_BUILD/tools/wiremark" "$mark" "$J/wire.pcap" 10000 2>>"$out" ||
			echo "marker-missing" >"$J/capture"
	else
		bash -c 'printf %s "$1" >/dev/udp/127.0.0.1/9' _ "$mark" 2>/dev/null
		_n=0
		while ! tail -c 4194304 "$J/wire.pcap" 2>/dev/null | grep -a -q -F "$mark"; do
			_n=$((_n + 1))
			if [ $_n -gt 200 ]; then echo "marker-missing" >"$J/capture"; break; fi
			sleep 0.05
		done
	fi
	kill -INT "$tcpd" 2>/dev/null
	# at most 10 s for it to write its statistics and end (a pidfd:
	# tests/progs/waitexit; a sleep every 20 ms without it)
	_hung=0
	if [ -x "${TLSSHIM_PROGS:-}/waitexit" ]; then
		"$TLSSHIM_PROGS/waitexit" "$tcpd" 10000 || _hung=1
	else
		_n=0
		while kill -0 "$tcpd" 2>/dev/null && [ $_n -lt 500 ]; do sleep 0.02; _n=$((_n + 1)); done
		kill -0 "$tcpd" 2>/dev/null && _hung=1
	fi
	if [ $_hung = 1 ]; then
		kill -9 "$tcpd" 2>/dev/null
		echo "tcpdump-hung" >"$J/capture"
	fi
	wait "$tcpd" 2>/dev/null
fi
exit 0
