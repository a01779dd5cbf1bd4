# forkserver.pl PORT — a fork-per-connection line server in Perl
# (tests/interop/perl.sh): IO::Socket::INET listens on 127.0.0.1:PORT and
# prints "ready PID"; each accepted connection is served by a forked
# child: "hello from PID", then for each line "echo: LINE", for "big N"
# N bytes of a-z then "\nend", for "quit" "bye" and the end.  The parent
# reaps its children in a SIGCHLD handler (which interrupts accept) and
# prints "reaped PID status S".
use strict; use warnings; use IO::Socket::INET; use POSIX ":sys_wait_h";
my ($port) = @ARGV;
$SIG{CHLD} = sub { while ((my $k = waitpid(-1, WNOHANG)) > 0) { print STDOUT "reaped $k status $?\n"; } };
my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $port, Listen => 16, ReuseAddr => 1)
	or die "listen: $!";
$| = 1;
print "ready $$\n";
while (1) {
	my $c = $l->accept or next;     # EINTR from SIGCHLD: again
	my $pid = fork;
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		close $l;
		$c->autoflush(1);
		print $c "hello from $$\n";
		while (my $line = <$c>) {
			if ($line =~ /^big (\d+)/) {
				my $n = $1;
				my $chunk = substr("abcdefghijklmnopqrstuvwxyz" x 2521, 0, 65536);
				while ($n > 0) { my $k = $n < 65536 ? $n : 65536; print $c substr($chunk, 0, $k); $n -= $k; }
				print $c "\nend\n";
			} elsif ($line =~ /^quit/) {
				print $c "bye\n";
				last;
			} else {
				print $c "echo: $line";
			}
		}
		close $c;
		exit 0;
	}
	close $c;
}
