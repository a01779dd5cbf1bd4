#!/bin/sh
# tests/interop/git_daemon.sh — git's own protocol over TLS made by the
# shim on both ends: `git daemon` (forks and execs `git upload-pack` per
# connection, the connection on the child's fds 0/1) under an accept rule,
# and `git clone git://...` (git fetch-pack, with index-pack as a child
# reading the pack from a pipe) under a connect rule.
# Asserted: a clone of a repository with a few MB of history has the same
# HEAD, the same file contents (SHA-256) and passes git fsck; a fetch of new
# commits into the clone gets the new HEAD; the shim logged TLS on both
# ends; openssl s_client gets a verified handshake on the daemon's port.
# tlsshim-test: big-capture (tests/run.sh: its capture needs the large buffer)
. "$(dirname "$0")/../lib.sh"
. "$TLSSHIM_TOP/tests/preload/common.inc"
. "$TLSSHIM_TOP/tests/interop/daemons.inc"
need_shim git_setup
command -v git >/dev/null || { fail git_setup "git not installed"; exit 1; }
git daemon --help >/dev/null 2>&1 || [ -x "$(git --exec-path)/git-daemon" ] ||
	{ fail git_setup "git daemon not available (git)"; exit 1; }

export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home" GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org \
	GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
mkdir -p "$HOME" "$T/srv"
# The repository: 8 commits of 512 KB of fresh random data each (about
# 4 MB of history that does not compress) plus a text file.
R=$T/srv/repo.git
git init -q -b main "$T/work" && (
	cd "$T/work" || exit 1
	i=1
	while [ $i -le 8 ]; do
		head -c 524288 /dev/urandom >"blob$i.bin"
		echo "commit $i" >>log.txt
		git add -A && git commit -q -m "commit $i" || exit 1
		i=$((i + 1))
	done
) || { fail git_setup "could not make the repository"; exit 1; }
git clone -q --bare "$T/work" "$R" || { fail git_setup "git clone --bare failed"; exit 1; }
touch "$R/git-daemon-export-ok"
HEAD=$(git -C "$R" rev-parse HEAD)

P=$(free_port)
policy "$T/policy.conf" <<EOF
rules = (
  { name = "git-in"; direction = "accept"; port = $P;
    cert = "$CERTS/server.crt"; key = "$CERTS/server.key"; },
  { name = "git-out"; direction = "connect"; port = $P; ca = "$CERTS/ca.crt"; }
);
EOF
TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/srv.log" shimbg git daemon --reuseaddr --listen=127.0.0.1 --port="$P" \
	--base-path="$T/srv" --export-all --verbose --informative-errors "$T/srv" >"$T/daemon.out" 2>&1
SRV=$!
listen_or_exit git_setup "git daemon" "$SRV" "$P" "$T/daemon.out" "$T/srv.log"

export TLSSHIM_LOG=info TLSSHIM_LOG_FILE="$T/cli.log"
name=git_clone_over_tls_same_head_and_files
shimmed git clone -q "git://127.0.0.1:$P/repo.git" "$T/clone" >"$T/clone.out" 2>&1; rc=$?
got=$(git -C "$T/clone" rev-parse HEAD 2>/dev/null)
bad=""
for f in blob1.bin blob8.bin log.txt; do
	[ "$(sha "$T/clone/$f" 2>/dev/null)" = "$(sha "$T/work/$f")" ] || bad="$bad $f"
done
if [ "$rc" -eq 0 ] && [ "$got" = "$HEAD" ] && [ -z "$bad" ] && git -C "$T/clone" fsck --no-progress >"$T/fsck.out" 2>&1; then
	pass "$name"
else
	fail "$name" "git clone exit $rc, HEAD '$got' (want $HEAD), files differing:${bad:- none}$(show "$T/clone.out" "$T/fsck.out" "$T/daemon.out" "$T/cli.log" "$T/srv.log")"
fi

name=git_fetch_new_commits_over_tls
(cd "$T/work" && head -c 1048576 /dev/urandom >blob9.bin && git add -A && git commit -q -m "commit 9" &&
	git push -q "$R" main) >/dev/null 2>&1
HEAD2=$(git -C "$R" rev-parse HEAD)
shimmed git -C "$T/clone" pull -q --ff-only origin main >"$T/pull.out" 2>&1; rc=$?
got=$(git -C "$T/clone" rev-parse HEAD 2>/dev/null)
if [ "$rc" -eq 0 ] && [ "$got" = "$HEAD2" ] && [ "$(sha "$T/clone/blob9.bin" 2>/dev/null)" = "$(sha "$T/work/blob9.bin")" ]; then
	pass "$name"
else
	fail "$name" "git pull exit $rc, HEAD '$got' (want $HEAD2)$(show "$T/pull.out" "$T/daemon.out" "$T/cli.log")"
fi

name=git_both_ends_logged_tls
na=$(logged_tls "$T/srv.log" git-in accepted)
nc=$(count "$T/cli.log" 'rule "git-out": connected TLSv1\.[23] .*verified')
if [ "$na" -ge 2 ] && [ "$nc" -ge 2 ]; then
	pass "$name"
else
	fail "$name" "$na accepted, $nc connected$(show "$T/srv.log" "$T/cli.log")"
fi
unset TLSSHIM_LOG TLSSHIM_LOG_FILE

name=git_daemon_port_speaks_tls
if tls_probe "$P" "$T/probe"; then pass "$name"; else fail "$name" "openssl s_client failed$(show "$T/probe" "$T/srv.log")"; fi

kill_tree "$SRV"
