/* policy/file.h — open the files a policy names without ever blocking.
 *
 * The policy file, the files it @includes, and the cert, key and ca files
 * of its rules are read only when they are regular files.  A FIFO given by
 * mistake would otherwise hang tlsshim --check and every preloaded program
 * in open() (no writer) or read(); a device could be read without end
 * (/dev/zero) or have side effects when opened (a tape, a terminal).
 *
 * The file is first looked at with stat(), so a device is not even
 * opened; then opened with O_NONBLOCK (a FIFO put in its place meanwhile
 * cannot block the open), checked again with fstat() on the descriptor
 * that will be read, and switched back to blocking mode for reading.
 *
 * None of them may be writable by other users (S_IWOTH), nor may a ca or
 * crl directory (where anyone could add a trust anchor or take a CRL
 * away): whoever can write them decides what is encrypted and whom it
 * trusts, at the next start or, for the files that are reloaded, at once.
 * Such a file or directory is an error, as a missing one is.
 */
#ifndef TLSSHIM_POLICY_FILE_H
#define TLSSHIM_POLICY_FILE_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <openssl/bio.h>

/* The most bytes any of these files may hold: 64 MiB.  Debian's bundle of
 * public CAs is 225 KB.  A CRL takes some 50 bytes of PEM per revoked certificate: the bound is
 * over a million of them.
 * A larger one (a sparse file, a log written to the wrong path, a file
 * that grows while it is read) is refused when it is opened (its size,
 * errno EFBIG, POLICY_WHY_TOO_LARGE) or, read through a BIO, when the
 * read passes the bound: never read to its end, at each reload or
 * verification that reads it. */
#define POLICY_FILE_MAX ((off_t)64 << 20)
#define POLICY_WHY_TOO_LARGE "larger than 64 MiB, the most a file of the policy may hold"

/* The reason given for a file or directory that other users can write. */
#define POLICY_WHY_OTHERS_WRITE "writable by other users (chmod o-w: whoever can change it decides what is trusted)"

/* st is writable by other users (see above). */
static inline bool policy_others_can_write(const struct stat *st)
{
	return (st->st_mode & S_IWOTH) != 0;
}

/* The first entry of a ca or crl directory that OpenSSL's hash_dir lookup
 * may read ("1a2b3c4d.0", "1a2b3c4d.r0") and that other users can write
 * (followed through symbolic links: "openssl rehash" makes links to the
 * files), into buf; false when there is none.  OpenSSL reads these at
 * verification time, not at load: one that anyone can write makes anyone
 * a trust anchor (or takes a CRL away), the directory's own mode
 * notwithstanding. */
bool policy_dir_entry_others_can_write(const char *dir, char *buf, size_t len);
/* A directory entry named as OpenSSL's hash_dir looks for one:
 * "1a2b3c4d.N", a certificate ('c'), or "1a2b3c4d.rN", a CRL ('r');
 * 0 for any other name. */
char policy_hashed_name(const char *name);

/* ---- the root the policy was loaded under ----------------------------------
 *
 * The files a policy names are read again after start: a rule's files at
 * each reload, a CA or CRL directory's entries at each verification, the
 * system trust store's directory.  A program that then chroot()s (into a
 * directory a less trusted user may write: an upload area, a per-user
 * jail), pivots its root, or mounts over the paths in a mount namespace of
 * its own would make those paths name other files: whoever can write
 * there would choose the CA that is trusted.  So in a preloaded program
 * every such path is resolved from the root directory the process had
 * when the library started (an O_PATH descriptor of it, one of the
 * library's own), with openat2(RESOLVE_IN_ROOT): the same files as at
 * start, whatever the process's root or mount namespace is now.
 *
 * policy_root_set: cell holds that descriptor (the library moves it when
 * the program takes its number; -1: none), open2 opens a path relative to
 * it as openat2(2) does (returns the descriptor, or -1 with errno).
 * Without it (tlsshim --check, the launcher) paths are opened as given. */
struct open_how;
void policy_root_set(const int *cell, int (*open2)(int dir, const char *path, const struct open_how *how));
/* How the library opens and closes its own descriptors of these files:
 * not through its wrappers of open() and close(), whose bookkeeping of
 * epoll instances takes an instance's lock, which a handshake step run
 * inside epoll_wait() already holds (a ca/crl look at that step deadlocked
 * the thread on itself).  Unset: open() and close(). */
void policy_fd_ops_set(int (*open_fn)(const char *path, int flags, mode_t mode), int (*close_fn)(int fd));

/* open(2) of path (absolute) as the root at start names it; -1, errno set.
 * Where the kernel has no openat2 (before Linux 5.6), the path is opened
 * as the process names it while its root is the one at start, and not at
 * all (EXDEV) after a chroot. */
int policy_open_path(const char *path, int flags);
/* The one way all of these open: policy_open_path with mode (for O_CREAT)
 * and opts:
 *  POLICY_OPEN_PROC: only a file of a real procfs (policy_open_proc);
 *  POLICY_OPEN_NAMED: a name openat2 cannot take from the start root (a
 *   relative one; one through a magic link, /dev/stderr: ELOOP) is opened
 *   as the process names it while its root is the one at start, else
 *   EXDEV (the log file opened again, core/log.c: log_open_set).
 * Async-signal-safe where the fd ops are (the shim's are). */
#define POLICY_OPEN_PROC  1u
#define POLICY_OPEN_NAMED 2u
int policy_open_how(const char *path, int flags, mode_t mode, unsigned opts);
/* The descriptor of the root at start, checked (its number may have been
 * closed by a raw system call and taken by another file since): -1 when
 * it is gone, -2 when none was set.  Async-signal-safe. */
int policy_root_dir(void);
/* A file of /proc (path: "/proc/..."), as policy_open_path names it, and
 * only on a real procfs: after a chroot the path may name a file whoever
 * can write the new root made up (a descriptor count, a namespace, a
 * process's maps of their choosing).  -1 with errno (EXDEV: not procfs).
 * policy_close_path closes what these return (errno kept). */
int policy_open_proc(const char *path, int flags);
void policy_close_path(int fd);
/* stat(2) of path, as policy_open_path names it: 0, or -1 with errno. */
int policy_stat_path(const char *path, struct stat *st);
/* faccessat(2) with AT_EACCESS of path, as policy_open_path names it. */
int policy_access_path(const char *path, int mode);
/* opendir(3) of path, as policy_open_path names it. */
DIR *policy_opendir_path(const char *path);

/* PATH opened for reading as a stdio stream (close-on-exec), or NULL with
 * errno set and *why (if why is not NULL) pointing to a static reason:
 * strerror(errno), "Is a directory" for a directory (errno EISDIR), or
 * "not a regular file" for FIFOs, sockets and devices (errno EINVAL), or
 * POLICY_WHY_OTHERS_WRITE for a file other users can write (errno EPERM),
 * or POLICY_WHY_TOO_LARGE for one larger than POLICY_FILE_MAX (errno
 * EFBIG; what the stream reads is not bounded: a file that grows after
 * the open is read as it is, see policy_bio_regular). */
FILE *policy_fopen_regular(const char *path, const char **why);

/* The same, read whole (at most POLICY_FILE_MAX bytes) into an OpenSSL
 * memory BIO; the file is closed before it returns.  NULL with *why set
 * as above (POLICY_WHY_TOO_LARGE, errno EFBIG, for a file that grew past
 * the bound while read; strerror for a read error), or with *why NULL
 * when OpenSSL failed (no memory). */
BIO *policy_bio_regular(const char *path, const char **why);
/* policy_bio_regular, with the file's fstat() right before it was read
 * (*before) and right after (*after): a file written while it was read
 * has other stamps. */
BIO *policy_bio_read(const char *path, const char **why, struct stat *before, struct stat *after);
/* policy_bio_regular for an entry of a hashed directory; *unseen true
 * when the path could not even be looked at (no such entry: the end of
 * its numbered run), false when it failed later (not a regular file,
 * unreadable, writable by others). */
BIO *policy_bio_entry(const char *path, bool *unseen);

#endif
