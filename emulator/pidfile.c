/*
 * pidfile.c - the daemon's pidfile (pidfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "pidfile.h"

/* What FD holds, as a pid, into PID ("?" when nothing readable). */
static void read_pid(int fd, char *pid, size_t size)
{
	ssize_t got = pread(fd, pid, size - 1, 0);
	pid[got > 0 ? got : 0] = '\0';
	pid[strcspn(pid, "\n")] = '\0';
	if (!pid[0])
		snprintf(pid, size, "?");
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static int open_failed(const char *path)
{
	switch (errno) {
	case ELOOP:
		emu_err("--pidfile %s: a symlink, which is not followed where the daemon writes; "
			"give the file's own path",
			path);
		break;
	case ENOENT:
		emu_err("--pidfile %s: no such directory; create it, or give a path in one that "
			"exists",
			path);
		break;
	case EACCES:
		emu_err("--pidfile %s: permission denied to uid %u; give a path in a directory "
			"it may write",
			path, (unsigned)geteuid());
		break;
	default:
		emu_err("--pidfile %s: %s", path, strerror(errno));
	}
	return -1;
}

int pidfile_create(const char *path)
{
	/* Three tries at most: a previous owner may remove the file between our open
	 * and our lock, and the path then names another file, or none. */
	for (int attempt = 0; attempt < 3; attempt++) {
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		bool created = fd >= 0;
		if (fd < 0 && errno == EEXIST)
			fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT && attempt < 2)
				continue; /* removed since the O_EXCL open */
			return open_failed(path);
		}
		struct stat st, now;
		if (fstat(fd, &st) != 0) {
			emu_err("--pidfile %s: fstat: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (!created &&
		    (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != geteuid())) {
			emu_err("--pidfile %s: exists, and is not a regular file of uid %u with "
				"one "
				"link; remove it, or pick another --pidfile",
				path, (unsigned)geteuid());
			close(fd);
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			char pid[32];
			read_pid(fd, pid, sizeof(pid));
			if (errno == EWOULDBLOCK)
				emu_err("--pidfile %s: mshv-emu pid %s is running with this "
					"pidfile; "
					"stop it, or pick another --pidfile",
					path, pid);
			else
				emu_err("--pidfile %s: flock: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (stat(path, &now) != 0 || !same_file(&st, &now)) {
			close(fd);
			continue;
		}
		if (!created) {
			char pid[32];
			read_pid(fd, pid, sizeof(pid));
			/* Unlocked: no mshv-emu holds it, whatever it says (a pid
			 * reused since, or not a pid at all). */
			emu_logp(LOG_NOTICE,
				 "--pidfile %s: replacing a stale pidfile (it says `%s`, and no "
				 "mshv-emu holds it)",
				 path, pid);
		} else if (fchmod(fd, 0644) != 0) { /* whatever the umask */
			emu_warn("--pidfile %s: chmod 0644: %s", path, strerror(errno));
		}
		char line[32];
		int len = snprintf(line, sizeof(line), "%d\n", (int)getpid());
		if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
			emu_err("--pidfile %s: cannot write it: %s", path, strerror(errno));
			if (created)
				unlink(path);
			close(fd);
			return -1;
		}
		return fd;
	}
	emu_err("--pidfile %s: it keeps changing under us; is another program writing it?", path);
	return -1;
}

void pidfile_remove(const char *path, int fd)
{
	if (fd < 0)
		return;
	struct stat held, named;
	if (fstat(fd, &held) == 0 && stat(path, &named) == 0 && same_file(&held, &named) &&
	    unlink(path) != 0)
		emu_warn("--pidfile %s: cannot remove it as uid %u (%s); it is left unlocked, and "
			 "the next start replaces it",
			 path, (unsigned)geteuid(), strerror(errno));
	close(fd);
}
