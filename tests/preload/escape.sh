#!/bin/sh
# Sockets that could escape classification:
#  - a connect() still in progress (SYN_SENT) when the socket changes
#    hands, by SCM_RIGHTS or pidfd_getfd(), to a process that runs the
#    shim: getpeername() says ENOTCONN until the connection is made, and
#    the receiver must still know it for a TLS one (its destination from
#    the kernel's table), so that what it writes once connected is TLS.
# A real TLS echo peer behind a recording relay that holds the connection
# in SYN_SENT (backlog 0, a filler, a gate); the wire must carry TLS only.
. "$TLSSHIM_TOP/tests/lib.sh"
. "$TLSSHIM_TOP/tests/preload/failclosed_common.inc"
need_shim

if ! fc_start peer --mode echo; then
	fail "escape: setup" "peer or relay did not start $(show "$T/peer.srv.out" "$T/peer.relay.out")"
	exit 1
fi

# ---- a connection in progress changes hands ------------------------------------
for how in scm pidfd; do
	RG=$(fc_ports 1)
	rm -f "$T/gate"
	mkdir -p "$T/gated.wire"
	bg "$PY" "$WIRE" relay --port "$RG" --to "$Q" --dir "$T/gated.wire" --backlog 0 \
		--gate "$T/gate" >"$T/gated.relay.out" 2>&1
	GATED=$!
	policy "$T/conn.conf" <<EOC
rules = ( { name = "conn-out"; direction = "connect"; port = $RG; address = "127.0.0.1/32";
            ca = "$CERTS/ca.crt"; } );
EOC
	if ! wait_for "$T/gated.relay.out" '^ready' 10; then
		fail "connecting socket passed by $how" "relay did not start"
		stop "$GATED"
		continue
	fi
	bg "$PY" "$WIRE" hold --port "$RG" --secs 25 >"$T/filler.out" 2>&1
	FILLER=$!
	wait_for "$T/filler.out" '^connected' 10
	out=$(TLSSHIM_LOG_FILE="$T/conn-$how.log" timeout -k 2 $((20 * TS)) env LD_PRELOAD="$SHIM_PRELOAD" \
		TLSSHIM_CONFIG="$T/conn.conf" "$PY" "$PYD/connecting_pass.py" "$how" "$RG" "$T/gate" \
		"$SENT" "$T" 2>&1 | tr '\n' ' ')
	stop "$FILLER"
	srv_settled peer 1 5
	stop "$GATED"
	fc_collect peer "conn-$how"
	fc_collect gated "conn-$how"
	fc_wire "conn-$how" --min-conns 1
	wrc=$?
	case "$out" in
	*"pidfd_getfd failed"*)
		pass "connecting socket taken with pidfd_getfd: not testable here ($out)" ;;
	"state syn-sent echo ok ")
		if [ $wrc -eq 0 ]; then
			pass "a connect() in progress passed by $how to a process with the shim: TLS once connected ($WIRE_OUT)"
		else
			fail "connecting socket passed by $how" "$out; $WIRE_OUT"
		fi ;;
	*)
		fail "connecting socket passed by $how: TLS once connected" "$out; $WIRE_OUT; log: $(log_tail "$T/conn-$how.log")" ;;
	esac
done
fc_stop
