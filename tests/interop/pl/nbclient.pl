# nbclient.pl PORT N — a Perl client of an event loop's kind
# (tests/interop/perl.sh): a non-blocking connect() to 127.0.0.1:PORT,
# select() for writability, SO_ERROR, then N bytes written with syswrite
# while select() says which way to go, shutdown(SHUT_WR), and everything
# read to the end.  Prints "connected", "sent N", "got: WHAT CAME BACK";
# dies otherwise.  When the connect fails: "connect: SO_ERROR E", then
# what a read and a write of the socket return ("read R errno E", "write
# W errno E"; SIGPIPE ignored), exit 3.  Every wait is 20 s at most.
use strict; use warnings; use IO::Socket::INET; use IO::Select; use Socket; use Errno;
my ($port, $n) = @ARGV;
# (made before the connect, cheaply: a map over N elements takes seconds
# in a perl under AddressSanitizer, while the server waits)
my $data = substr("0123456789abcdefghijklmnopqrstuvwxyz" x ($n / 36 + 1), 0, $n);
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, Blocking => 0) or die "socket: $!";
my $sel = IO::Select->new($s);
$sel->can_write(20) or die "connect: no writability in 20 s";
my $err = $s->sockopt(SO_ERROR);
if ($err) {
	# As squid does before it closes: a read (and here a write) on the
	# socket whose connect failed; TCP says end of file and EPIPE.
	$SIG{PIPE} = "IGNORE";
	$| = 1;
	print "connect: SO_ERROR $err\n";
	my $k = sysread($s, my $buf, 100);
	printf "read %s errno %d\n", defined $k ? $k : "-1", defined $k ? 0 : $! + 0;
	$k = syswrite($s, "x");
	printf "write %s errno %d\n", defined $k ? $k : "-1", defined $k ? 0 : $! + 0;
	exit 3;
}
print "connected\n";
my ($off, $got) = (0, "");
# write while reading, non-blocking, as an event loop would
while ($off < length($data)) {
	my ($r, $w) = IO::Select->select($sel, $sel, undef, 20);
	die "stalled at $off" unless $r || $w;
	if ($w && @$w) {
		my $k = syswrite($s, $data, 16384, $off);
		if (defined $k) { $off += $k; } elsif (!$!{EAGAIN}) { die "write: $!"; }
	}
	if ($r && @$r) {
		my $k = sysread($s, my $buf, 65536);
		die "read: $!" if !defined $k && !$!{EAGAIN};
		$got .= $buf if $k;
	}
}
shutdown($s, 1) or die "shutdown: $!";
while (1) {
	$sel->can_read(20) or die "no answer in 20 s";
	my $k = sysread($s, my $buf, 65536);
	next if !defined $k && $!{EAGAIN};
	die "read: $!" unless defined $k;
	last if $k == 0;
	$got .= $buf;
}
print "sent $off\n";
print "got: $got";
