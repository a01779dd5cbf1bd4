/* sunrpc_client.c — a legacy program of glibc's own Sun RPC over TCP:
 * bound, as a program linked before glibc 2.32 is, to the compatibility
 * symbols (clnttcp_create, svctcp_create), which connect, read and write
 * with the C library's internal calls.
 *
 *   sunrpc_client client PORT SENTINEL
 *       clnttcp_create() to 127.0.0.1:PORT ("clnttcp_create ok" or
 *       "clnttcp_create NULL errno=E"), then a call of procedure 1 with
 *       SENTINEL as its string argument ("call N": the clnt_stat).
 *   sunrpc_client service PORT
 *       a TCP socket bound to 127.0.0.1:PORT given to svctcp_create()
 *       ("svctcp_create ok" or "svctcp_create NULL errno=E").
 *   sunrpc_client create PROTO SENTINEL
 *       clnt_create("127.0.0.1", ..., PROTO) (the port from the
 *       portmapper at 127.0.0.1:111; "clnt_create ok" or
 *       "clnt_create NULL errno=E"), then the call as for client.
 *   sunrpc_client createname PROTO NAME
 *       clnt_create(NAME, ..., PROTO): the C library looks NAME up
 *       itself ("clnt_create ok" or "clnt_create NULL errno=E").
 *   sunrpc_client getrpcport 0 NAME
 *       getrpcport(NAME, ..., IPPROTO_TCP): "getrpcport N errno=E".
 *   sunrpc_client callrpc 0 NAME
 *       callrpc(NAME, ...) of procedure 1 (UDP): "callrpc N errno=E".
 *   sunrpc_client getmaps 0 X
 *       pmap_getmaps() of 127.0.0.1 (TCP to its port 111):
 *       "pmap_getmaps ok" or "pmap_getmaps NULL errno=E".
 *   sunrpc_client rtime 0 X
 *       rtime() of 127.0.0.1 without a timeout (TCP to its port 37):
 *       "rtime ok" or "rtime NULL errno=E" (-1).
 * No headers of the RPC library: the few structures are declared here. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define V "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define V "GLIBC_2.17"
#else
#error "sunrpc_client: x86_64 or aarch64"
#endif
__asm__(".symver old_clnttcp_create, clnttcp_create@" V);
__asm__(".symver old_clnt_create, clnt_create@" V);
__asm__(".symver old_pmap_getmaps, pmap_getmaps@" V);
__asm__(".symver old_getrpcport, getrpcport@" V);
__asm__(".symver old_callrpc, callrpc@" V);
__asm__(".symver old_rtime, rtime@" V);
__asm__(".symver old_svctcp_create, svctcp_create@" V);
__asm__(".symver old_xdr_wrapstring, xdr_wrapstring@" V);
__asm__(".symver old_xdr_void, xdr_void@" V);

typedef int (*xdrproc)(void *, void *);
struct client;
struct client_ops {
	int (*call)(struct client *, unsigned long, xdrproc, char *, xdrproc, char *, struct timeval);
};
struct client {
	void *auth;
	struct client_ops *ops;
	void *priv;
};
extern struct client *old_clnttcp_create(struct sockaddr_in *, unsigned long, unsigned long, int *,
					 unsigned int, unsigned int);
extern struct client *old_clnt_create(const char *, unsigned long, unsigned long, const char *);
extern void *old_pmap_getmaps(struct sockaddr_in *);
extern int old_getrpcport(const char *, long, long, int);
extern int old_callrpc(const char *, unsigned long, unsigned long, unsigned long, void *, const char *, void *,
		       char *);
extern int old_rtime(struct sockaddr_in *, struct timeval *, struct timeval *);
extern void *old_svctcp_create(int, unsigned int, unsigned int);
extern int old_xdr_wrapstring(void *, void *);
extern int old_xdr_void(void *, void *);

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	int sock = -1;

	if (argc < 3) {
		fprintf(stderr, "usage: sunrpc_client client PORT SENTINEL | service PORT | create PROTO SENTINEL\n");
		return 2;
	}
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)atoi(argv[2]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!strcmp(argv[1], "service")) {
		int one = 1;
		void *x;

		sock = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(sock, (struct sockaddr *)&sa, sizeof sa) != 0) {
			perror("sunrpc_client: bind");
			return 2;
		}
		errno = 0;
		x = old_svctcp_create(sock, 0, 0);
		if (x)
			printf("svctcp_create ok\n");
		else
			printf("svctcp_create NULL errno=%s\n", strerrorname_np(errno));
		return 0;
	}
	if (argc != 4)
		return 2;
	errno = 0;
	if (!strcmp(argv[1], "getmaps")) {
		if (old_pmap_getmaps(&sa))
			return printf("pmap_getmaps ok\n") < 0;
		return printf("pmap_getmaps NULL errno=%s\n", strerrorname_np(errno)) < 0;
	}
	if (!strcmp(argv[1], "createname")) {
		if (old_clnt_create(argv[3], 0x20000099, 1, argv[2]))
			return printf("clnt_create ok\n") < 0;
		return printf("clnt_create NULL errno=%s\n", strerrorname_np(errno)) < 0;
	}
	if (!strcmp(argv[1], "getrpcport")) {
		int port = old_getrpcport(argv[3], 0x20000099, 1, IPPROTO_TCP);

		return printf("getrpcport %d errno=%s\n", port, strerrorname_np(errno)) < 0;
	}
	if (!strcmp(argv[1], "callrpc")) {
		int st = old_callrpc(argv[3], 0x20000099, 1, 1, (void *)old_xdr_void, NULL, (void *)old_xdr_void, NULL);

		return printf("callrpc %d errno=%s\n", st, strerrorname_np(errno)) < 0;
	}
	if (!strcmp(argv[1], "rtime")) {
		struct timeval t;

		if (old_rtime(&sa, &t, NULL) == 0)
			return printf("rtime ok\n") < 0;
		return printf("rtime NULL errno=%s\n", strerrorname_np(errno)) < 0;
	}
	const char *what = strcmp(argv[1], "create") ? "clnttcp_create" : "clnt_create";
	struct client *c = strcmp(argv[1], "create") ? old_clnttcp_create(&sa, 0x20000099, 1, &sock, 0, 0) :
			   old_clnt_create("127.0.0.1", 0x20000099, 1, argv[2]);

	if (!c) {
		printf("%s NULL errno=%s\n", what, strerrorname_np(errno));
		return 0;
	}
	printf("%s ok\n", what);
	fflush(stdout);
	char *s = argv[3];
	struct timeval tv = { 2, 0 };

	printf("call %d\n", c->ops->call(c, 1, old_xdr_wrapstring, (char *)&s, old_xdr_void, NULL, tv));
	return 0;
}
