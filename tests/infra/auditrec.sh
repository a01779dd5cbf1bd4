#!/bin/sh
# tests/infra/auditrec.sh — tests/lib.sh's records for the wire audit
# (policy, audit_policy) and its bookkeeping (forget, free_port): the same
# meaning as before, with shell built-ins where a script calls them tens of
# times (a grep, mktemp, cp or sed per call was a visible share of make
# check's CPU: 37 ms a policy here).
#  * policy writes the file as given and adds the handshake_timeout_ms
#    default only to a policy with rules and without the key or defaults;
#  * each record is a copy of the policy, byte for byte (a last line
#    without its newline, backslashes, leading blanks; a policy over
#    64 KiB too), and one line "TIME FILE" in the list, TIME when it was
#    recorded;
#  * concurrent subshells get a copy each (none shares a file);
#  * a policy that cannot be read is a FAIL line, as before;
#  * the processes made (the last pid, /proc/loadavg, in this PID
#    namespace): policy at most two a call (its cat and the time), forget
#    none, free_port one (the caller's subshell).
# The library is not loaded here (tests/lib.sh's own helpers and
# tests/progs' tools, the same for every build): the first build only.
# tlsshim-test: once
. "$TLSSHIM_TOP/tests/lib.sh"

# A list of our own: these policies are not the test's traffic rules.
AD=$T/audit
mkdir "$AD" && : >"$AD/policies"
TLSSHIM_AUDIT_DIR=$AD

# nth N: the Nth line of the list ("TIME FILE") in $tm and $cp.
nth() {
	_i=0 tm="" cp=""
	while read -r _t _f; do
		_i=$((_i + 1))
		[ $_i = "$1" ] && { tm=$_t cp=$_f; return 0; }
	done <"$AD/policies"
	return 1
}
count() { _c=0; while read -r _x; do _c=$((_c + 1)); done <"$1"; echo $_c; }

t0=$(date +%s.%N)
policy "$T/a.conf" <<'EOF'
rules = ( { connect = "127.0.0.1:443"; } );
EOF
policy "$T/b.conf" <<'EOF'
defaults = { handshake_timeout_ms = 500; };
rules = ( { connect = "127.0.0.1:444"; } );
EOF
policy "$T/c.conf" <<'EOF'
# a policy without a rule list
log_level = 2;
EOF
t1=$(date +%s.%N)
printf 'rules = ( { connect = "127.0.0.1:443"; } );\ndefaults = { handshake_timeout_ms = %d; };\n' $((10000 * TS)) >"$T/a.want"
printf 'defaults = { handshake_timeout_ms = 500; };\nrules = ( { connect = "127.0.0.1:444"; } );\n' >"$T/b.want"
printf '# a policy without a rule list\nlog_level = 2;\n' >"$T/c.want"
name="policy: the file as given, the timeout default only with rules and without the key"
if cmp -s "$T/a.conf" "$T/a.want" && cmp -s "$T/b.conf" "$T/b.want" && cmp -s "$T/c.conf" "$T/c.want" &&
   [ "$POLICY" = "$T/c.conf" ]; then
	pass "$name"
else
	fail "$name" "a: $(tr '\n' '|' <"$T/a.conf") b: $(tr '\n' '|' <"$T/b.conf") c: $(tr '\n' '|' <"$T/c.conf")"
fi

name="policy: one record each, a copy of the policy as written, at the time it was written"
bad=""
[ "$(count "$AD/policies")" = 3 ] || bad="$(count "$AD/policies") lines in the list"
i=1
for f in a b c; do
	nth $i || bad="$bad; no line $i"
	cmp -s "$cp" "$T/$f.conf" || bad="$bad; record $i ($cp) differs from $f.conf"
	awk -v t="$tm" -v a="$t0" -v b="$t1" 'BEGIN { exit !(t + 0 >= a + 0 && t + 0 <= b + 0) }' ||
		bad="$bad; record $i time $tm not within $t0..$t1"
	i=$((i + 1))
done
if [ -z "$bad" ]; then pass "$name"; else fail "$name" "${bad#; }"; fi

# audit_policy of a file written another way: byte for byte
printf '  a = "x\\\\y";\n\tb = 1;\nno newline at the end' >"$T/odd.conf"
audit_policy "$T/odd.conf"
nth 4
check "audit_policy: a copy byte for byte (blanks, backslashes, no last newline)" cmp -s "$cp" "$T/odd.conf"
# over 64 KiB (what the shell's read would take a system call per byte for)
i=0
: >"$T/big.conf"
while [ $i -lt 1500 ]; do
	printf 'rules%04d = ( { connect = "127.0.0.1:%d"; verify = "peer"; note = "abcdefghij"; } );\n' $i $((1000 + i))
	i=$((i + 1))
done >"$T/big.conf"
policy "$T/big.out" <"$T/big.conf"
nth 5
check "policy over 64 KiB: written and recorded whole, the default added" \
	sh -c 'cmp -s "$1" "$2" && [ "$(head -c "$(wc -c <"$3")" "$1" | cmp - "$3" && tail -n 1 "$1")" = "defaults = { handshake_timeout_ms = $4; };" ]' _ \
	"$cp" "$T/big.out" "$T/big.conf" $((10000 * TS))

# a policy that cannot be read: a FAIL line, as before
out=$(audit_policy "$T/missing.conf" 2>&1)
case "$out" in
*"FAIL wire audit: cannot record the policy $T/missing.conf for the audit"*) pass "audit_policy of a missing file says so" ;;
*) fail "audit_policy of a missing file says so" "said: $(echo "$out" | tr '\n' '|' | head -c 300)" ;;
esac

# concurrent subshells: a copy each, every line names a file of its own
: >"$AD/policies"
k=0
while [ $k -lt 6 ]; do
	(
		j=0
		while [ $j -lt 5 ]; do
			printf 'rules = ( { connect = "127.0.0.1:%d"; } );\n' $((2000 + k * 10 + j)) >"$T/con.$k.$j"
			audit_policy "$T/con.$k.$j"
			j=$((j + 1))
		done
	) &
	k=$((k + 1))
done
wait
name="concurrent subshells: 30 records, 30 files, each the copy of its policy"
files=$(cut -d' ' -f2 "$AD/policies" | sort -u | wc -l)
ports=$(cut -d' ' -f2 "$AD/policies" | xargs cat | sort -u | wc -l)
if [ "$(count "$AD/policies")" = 30 ] && [ "$files" = 30 ] && [ "$ports" = 30 ]; then
	pass "$name"
else
	fail "$name" "$(count "$AD/policies") lines, $files files, $ports policies"
fi

# the processes made
policies20() {
	i=0
	while [ $i -lt 20 ]; do
		policy "$T/n.conf" <<EOF
rules = ( { connect = "127.0.0.1:$((3000 + i))"; } );
EOF
		i=$((i + 1))
	done
}
procs_made policies20
if [ "$made" -ge 20 ] && [ "$made" -le 40 ]; then
	pass "20 policies made $made processes (a cat and a date each at most)"
else
	fail "policy forks per call" "$made processes for 20 policies"
fi

sleep 30 & S1=$!
_bg_pids="$_bg_pids $S1"
sleep 30 & S2=$!
_bg_pids="$_bg_pids $S2"
keep=$_bg_pids
forgets() {
	i=0
	while [ $i -lt 20 ]; do forget 99999999; i=$((i + 1)); done
	forget "$S1"
}
procs_made forgets
case " $_bg_pids " in *" $S1 "*) f1=1 ;; *) f1="" ;; esac
case " $_bg_pids " in *" $S2 "*) f2=1 ;; *) f2="" ;; esac
if [ "$made" = 0 ] && [ -z "$f1" ] && [ -n "$f2" ]; then
	pass "forget: the pid leaves the list, the others stay, no process made"
else
	fail "forget" "$made processes; list '$keep' -> '$_bg_pids'"
fi
kill "$S1" 2>/dev/null; wait "$S1" 2>/dev/null

ports10() {
	i=0 seen=""
	while [ $i -lt 10 ]; do
		p=$(free_port) || break
		case " $seen " in *" $p "*) break ;; esac
		seen="$seen $p"
		i=$((i + 1))
	done
}
procs_made ports10
if [ $i = 10 ] && [ "$made" -le 10 ]; then
	pass "free_port: 10 different ports, $made processes (the callers' subshells)"
else
	fail "free_port" "$i ports ($seen), $made processes"
fi
