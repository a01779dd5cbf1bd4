/* policy/file.c — open the files a policy names without ever blocking
 * (see file.h).
 *
 * Inside the preloaded library the descriptors are opened and closed by
 * the hooks of policy_fd_ops_set (file.h): the C library's calls, with
 * the number's stale connection-table entry cleared, and no epoll
 * bookkeeping.  fcntl() and fdopen() are the shim's wrappers, which for a
 * descriptor that is not a socket do what the C library does.  The stream
 * is closed by fclose(), which does not go through them, as for any stdio
 * file.
 */
#include "policy/file.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/openat2.h>

#include <openssl/buffer.h>

/* ---- the root the policy was loaded under (file.h) ----------------------------- */

static const int *root_cell;
static int (*root_open2)(int dir, const char *path, const struct open_how *how);
static dev_t root_dev;
static ino_t root_ino;

void policy_root_set(const int *cell, int (*open2)(int dir, const char *path, const struct open_how *how))
{
	struct stat st;

	if (!cell || !open2 || *cell < 0 || fstat(*cell, &st) != 0)
		return;
	root_dev = st.st_dev;
	root_ino = st.st_ino;
	root_open2 = open2;
	__atomic_store_n(&root_cell, cell, __ATOMIC_RELEASE);
}

static int (*own_open)(const char *path, int flags, mode_t mode) = NULL;
static int (*own_close)(int fd) = NULL;

void policy_fd_ops_set(int (*open_fn)(const char *path, int flags, mode_t mode), int (*close_fn)(int fd))
{
	own_open = open_fn;
	own_close = close_fn;
}

static int open_own(const char *path, int flags, mode_t mode)
{
	return own_open ? own_open(path, flags, mode) : open(path, flags, mode);
}

static int close_own(int fd)
{
	return own_close ? own_close(fd) : close(fd);
}

/* The root at start still has its descriptor: its number may have been
 * closed by a raw system call and taken by another file since. */
static int root_fd(void)
{
	const int *cell = __atomic_load_n(&root_cell, __ATOMIC_ACQUIRE);
	struct stat st;
	int fd;

	if (!cell)
		return -2;
	fd = __atomic_load_n(cell, __ATOMIC_RELAXED);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_dev != root_dev || st.st_ino != root_ino)
		return -1;
	return fd;
}

int policy_root_dir(void)
{
	return root_fd();
}

int policy_open_path(const char *path, int flags)
{
	return policy_open_how(path, flags, 0, 0);
}

/* The path as the process names it, only while its root is the one at
 * start. */
static int open_named(const char *path, int flags, mode_t mode)
{
	struct stat st;

	if (stat("/", &st) == 0 && st.st_dev == root_dev && st.st_ino == root_ino)
		return open_own(path, flags | O_CLOEXEC, mode);
	errno = EXDEV;
	return -1;
}

int policy_open_how(const char *path, int flags, mode_t mode, unsigned opts)
{
	struct open_how how = { .flags = (unsigned)(flags | O_CLOEXEC),
				.mode = (flags & O_CREAT) ? mode : 0 };
	int dir = root_fd(), fd = -1;
	bool named = opts & POLICY_OPEN_NAMED;

	if (dir == -2 || (path[0] != '/' && !named)) {
		fd = open_own(path, flags | O_CLOEXEC, mode);
	} else {
		if (dir >= 0 && path[0] == '/') {
			/* Absolute symbolic links and ".." too stay under it. */
			how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
			fd = root_open2(dir, path, &how);
		}
		/* No openat2, or our descriptor is gone (or, named: a
		 * relative name, or one through a magic link). */
		if (fd < 0 && (dir < 0 || path[0] != '/' || errno == ENOSYS ||
			       (named && (errno == ELOOP || errno == EXDEV))))
			fd = open_named(path, flags, mode);
	}
	if (fd >= 0 && (opts & POLICY_OPEN_PROC)) {
		struct statfs fs;

		if (fstatfs(fd, &fs) != 0 || fs.f_type != PROC_SUPER_MAGIC) {
			close_own(fd);
			errno = EXDEV;
			return -1;
		}
	}
	return fd;
}

int policy_open_proc(const char *path, int flags)
{
	return policy_open_how(path, flags, 0, POLICY_OPEN_PROC);
}

void policy_close_path(int fd)
{
	int e = errno;

	(void)close_own(fd);
	errno = e;
}

int policy_stat_path(const char *path, struct stat *st)
{
	int fd = policy_open_path(path, O_PATH), err;

	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0) {
		err = errno;
		close_own(fd);
		errno = err;
		return -1;
	}
	close_own(fd);
	return 0;
}

int policy_access_path(const char *path, int mode)
{
	int fd = policy_open_path(path, O_PATH), r, err;

	if (fd < 0)
		return -1;
	r = faccessat(fd, "", mode, AT_EACCESS | AT_EMPTY_PATH);
	err = errno;
	if (r != 0 && (err == EINVAL || err == ENOSYS))
		r = 0;  /* no faccessat2: the open that follows decides */
	close_own(fd);
	errno = err;
	return r;
}

DIR *policy_opendir_path(const char *path)
{
	int fd = policy_open_path(path, O_RDONLY | O_DIRECTORY | O_NONBLOCK), err;
	DIR *d;

	if (fd < 0)
		return NULL;
	if (!(d = fdopendir(fd))) {
		err = errno;
		close_own(fd);
		errno = err;
	}
	return d;
}

static FILE *refuse(const struct stat *st, const char **why)
{
	if (S_ISDIR(st->st_mode)) {
		errno = EISDIR;
		*why = strerror(EISDIR);
	} else {
		errno = EINVAL;
		*why = "not a regular file";
	}
	return NULL;
}

/* policy_fopen_regular; *unseen (when not NULL): the path could not even
 * be looked at (its stat failed). */
static FILE *fopen_regular(const char *path, const char **why, bool *unseen)
{
	const char *ignored;
	struct stat st;
	FILE *f;
	int fd, fl, err;

	if (!why)
		why = &ignored;
	*why = NULL;
	if (unseen)
		*unseen = false;
	if (policy_stat_path(path, &st) != 0) {
		if (unseen)
			*unseen = true;
		goto sys;
	}
	if (!S_ISREG(st.st_mode))
		return refuse(&st, why);
	if ((fd = policy_open_path(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0)
		goto sys;
	if (fstat(fd, &st) != 0) {
		err = errno;
		close_own(fd);
		errno = err;
		goto sys;
	}
	if (!S_ISREG(st.st_mode)) {
		close_own(fd);
		return refuse(&st, why);
	}
	if (policy_others_can_write(&st)) {
		close_own(fd);
		errno = EPERM;
		*why = POLICY_WHY_OTHERS_WRITE;
		return NULL;
	}
	/* (a sparse file is as large as it says: reading it reads zeros) */
	if (st.st_size > POLICY_FILE_MAX) {
		close_own(fd);
		errno = EFBIG;
		*why = POLICY_WHY_TOO_LARGE;
		return NULL;
	}
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
	    !(f = fdopen(fd, "r"))) {
		err = errno;
		close_own(fd);
		errno = err;
		goto sys;
	}
	return f;
sys:
	*why = strerror(errno);
	return NULL;
}

FILE *policy_fopen_regular(const char *path, const char **why)
{
	return fopen_regular(path, why, NULL);
}

/* The file f (opened by fopen_regular) read whole into a memory BIO, and
 * closed: at most POLICY_FILE_MAX bytes.  A file that grew past it since
 * its fstat() (written while read, or made sparse and large) is refused
 * as one that was larger, never read to its end: each read of it costs
 * at most that much, whatever a writer does.  *after (when not NULL): the
 * file's fstat() once it was read. */
static BIO *read_bounded(FILE *f, const char **why, struct stat *after)
{
	BUF_MEM *bm = BUF_MEM_new();
	size_t len = 0;
	BIO *b = NULL;
	int err = 0;

	*why = NULL;
	while (bm) {
		size_t want = len < 4096 ? 4096 : len, got;

		/* (one byte past the bound: a file that holds more) */
		if (len + want > (size_t)POLICY_FILE_MAX + 1)
			want = (size_t)POLICY_FILE_MAX + 1 - len;
		if (!BUF_MEM_grow(bm, len + want)) {
			BUF_MEM_free(bm);
			bm = NULL;
			break;
		}
		got = fread(bm->data + len, 1, want, f);
		len += got;
		if (len > (size_t)POLICY_FILE_MAX) {
			err = EFBIG;
			*why = POLICY_WHY_TOO_LARGE;
			break;
		}
		if (got < want) {
			if (ferror(f)) {
				err = errno ? errno : EIO;
				*why = strerror(err);
			}
			break;
		}
	}
	if (bm && !err && after && fstat(fileno(f), after) != 0) {
		err = errno;
		*why = strerror(err);
	}
	fclose(f);
	if (bm)
		bm->length = len;   /* (what was read, within what was grown) */
	if (bm && !err && (b = BIO_new(BIO_s_mem()))) {
		/* A reset rewinds (OpenSSL's decoders may) rather than empty it. */
		BIO_set_flags(b, BIO_FLAGS_NONCLEAR_RST);
		BIO_set_mem_buf(b, bm, BIO_CLOSE);
		BIO_set_mem_eof_return(b, 0);
		bm = NULL;
	}
	BUF_MEM_free(bm);
	if (err)
		errno = err;
	return b;
}

static BIO *bio_regular(const char *path, const char **why, bool *unseen, struct stat *before,
			struct stat *after)
{
	const char *ignored;
	FILE *f;

	if (!why)
		why = &ignored;
	if (!(f = fopen_regular(path, why, unseen)))
		return NULL;
	if (before && fstat(fileno(f), before) != 0) {
		*why = strerror(errno);
		fclose(f);
		return NULL;
	}
	return read_bounded(f, why, after);
}

BIO *policy_bio_regular(const char *path, const char **why)
{
	return bio_regular(path, why, NULL, NULL, NULL);
}

BIO *policy_bio_read(const char *path, const char **why, struct stat *before, struct stat *after)
{
	return bio_regular(path, why, NULL, before, after);
}

BIO *policy_bio_entry(const char *path, bool *unseen)
{
	return bio_regular(path, NULL, unseen, NULL, NULL);
}

char policy_hashed_name(const char *s)
{
	size_t i;
	char kind = 'c';

	for (i = 0; i < 8 && ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')); i++)
		;
	if (i != 8 || s[8] != '.')
		return 0;
	s += 9;
	if (*s == 'r') {
		kind = 'r';
		s++;
	}
	return *s >= '0' && *s <= '9' ? kind : 0;
}

bool policy_dir_entry_others_can_write(const char *dir, char *buf, size_t len)
{
	DIR *d = policy_opendir_path(dir);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		struct stat st;

		if (!policy_hashed_name(e->d_name))
			continue;
		snprintf(buf, len, "%s/%s", dir, e->d_name);
		found = policy_stat_path(buf, &st) == 0 && policy_others_can_write(&st);
	}
	closedir(d);
	return found;
}
