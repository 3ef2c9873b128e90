/*
 * files.c - opening what a user names (files.h).
 *
 * Opened non-blocking, so that a FIFO cannot hold the daemon (or --check)
 * in open, then checked with fstat before a byte is read or written; a
 * writer adds O_NOFOLLOW, so that a symlink planted where the daemon (often
 * root) writes cannot aim it at another file.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "files.h"

static const char *kind_of(mode_t mode)
{
	return S_ISDIR(mode)	? "a directory"
	       : S_ISFIFO(mode) ? "a FIFO"
	       : S_ISCHR(mode)	? "a character device"
	       : S_ISBLK(mode)	? "a block device"
	       : S_ISSOCK(mode) ? "a socket"
				: "not a regular file";
}

/* The null device: a sink nothing can aim or block (a transcript written
 * only to be counted, as bench-dispatch does). */
static bool is_null_device(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) == 1 && minor(st->st_rdev) == 3;
}

static int checked(int fd, const char *path, const char *what, bool null_ok,
		   struct diag_list *diags)
{
	struct stat st;
	if (fstat(fd, &st) != 0) {
		diag_add(diags, path, 0, 0, "fstat: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !(null_ok && is_null_device(&st))) {
		diag_add(diags, path, 0, 0, "%s, not a regular file; give the path of a %s file",
			 kind_of(st.st_mode), what);
		close(fd);
		return -1;
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
}

/* Why PATH could not be opened (errno ERR), and what to do. */
static void open_failed(struct diag_list *diags, const char *path, const char *what, int err,
			bool writing)
{
	switch (err) {
	case ENOENT:
		if (writing)
			diag_add(diags, path, 0, 0,
				 "no such directory to make the %s in; create it, or give a path "
				 "in one that exists",
				 what);
		else
			diag_add(diags, path, 0, 0, "no such file; give the path of a %s file",
				 what);
		break;
	case ENOTDIR:
		diag_add(diags, path, 0, 0,
			 "a component of the path is not a directory; give the path of a %s file",
			 what);
		break;
	case EISDIR:
		diag_add(diags, path, 0, 0,
			 "a directory, not a regular file; give the path of a %s "
			 "file",
			 what);
		break;
	case EACCES:
		diag_add(diags, path, 0, 0,
			 "permission denied to uid %u; give it a %s file it may %s, or change "
			 "the file's mode",
			 (unsigned)geteuid(), what, writing ? "write" : "read");
		break;
	default:
		diag_add(diags, path, 0, 0, "open: %s", strerror(err));
	}
}

int files_open_read(const char *path, const char *what, struct diag_list *diags)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		open_failed(diags, path, what, errno, false);
		return -1;
	}
	return checked(fd, path, what, false, diags);
}

int files_open_write(const char *path, const char *what, struct diag_list *diags)
{
	/* O_TRUNC only once it is known to be a regular file, not a symlink. */
	int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == ELOOP)
			diag_add(diags, path, 0, 0,
				 "%s: a symlink, which is not followed where the daemon writes; "
				 "give "
				 "the file's own path",
				 what);
		else if (errno == ENXIO)
			diag_add(diags, path, 0, 0,
				 "a FIFO, not a regular file; give the path of a %s file", what);
		else
			open_failed(diags, path, what, errno, true);
		return -1;
	}
	fd = checked(fd, path, what, true, diags);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ftruncate(fd, 0) != 0) {
		diag_add(diags, path, 0, 0, "truncate: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
