#!/bin/sh
# Install the Debian packages listed in .ci/packages that are missing.
# Run as root it installs them; otherwise it only says what is missing.
set -u
cd "$(dirname "$0")/.." || exit 1
pkgs=$(grep -v '^#' .ci/packages | grep -v '^$')
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "tlsshim: missing Debian packages:$missing" >&2
	echo "tlsshim: run as root, or: sudo apt-get install -y$missing" >&2
	exit 0
fi
echo "tlsshim: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
	echo "tlsshim: apt-get install failed" >&2; exit 1; }
# Debian starts these daemons on install; the tests start their own.
for s in redis-server nginx openbsd-inetd postgresql mosquitto exim4 slapd apache2 apache-htcacheclean haproxy lighttpd ssh; do
	(service "$s" stop || /etc/init.d/"$s" stop) >/dev/null 2>&1 || true
done
exit 0
