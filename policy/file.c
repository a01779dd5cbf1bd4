/* policy/file.c — open the files a policy names without ever blocking
 * (see file.h).
 *
 * Inside the preloaded library open(), fcntl(), fdopen() and close() are
 * the shim's own wrappers; for a descriptor that is not a socket they do
 * what the C library does (and open() clears any stale table entry of the
 * number it returns).  The stream is closed by fclose(), which does not go
 * through them, as for any stdio file.
 */
#include "policy/file.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

FILE *policy_fopen_regular(const char *path, const char **why)
{
	const char *ignored;
	struct stat st;
	FILE *f;
	int fd, fl, err;

	if (!why)
		why = &ignored;
	*why = NULL;
	if (stat(path, &st) != 0)
		goto sys;
	if (!S_ISREG(st.st_mode))
		return refuse(&st, why);
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0)
		goto sys;
	if (fstat(fd, &st) != 0) {
		err = errno;
		close(fd);
		errno = err;
		goto sys;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return refuse(&st, why);
	}
	if (policy_others_can_write(&st)) {
		close(fd);
		errno = EPERM;
		*why = POLICY_WHY_OTHERS_WRITE;
		return NULL;
	}
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
	    !(f = fdopen(fd, "r"))) {
		err = errno;
		close(fd);
		errno = err;
		goto sys;
	}
	return f;
sys:
	*why = strerror(errno);
	return NULL;
}

BIO *policy_bio_regular(const char *path, const char **why)
{
	const char *ignored;
	FILE *f;
	BIO *b;

	if (!why)
		why = &ignored;
	if (!(f = policy_fopen_regular(path, why)))
		return NULL;
	if (!(b = BIO_new_fp(f, BIO_CLOSE))) {
		fclose(f);
		*why = NULL;
	}
	return b;
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
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		struct stat st;

		if (!policy_hashed_name(e->d_name))
			continue;
		snprintf(buf, len, "%s/%s", dir, e->d_name);
		found = stat(buf, &st) == 0 && policy_others_can_write(&st);
	}
	closedir(d);
	return found;
}
