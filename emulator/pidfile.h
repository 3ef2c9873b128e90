/*
 * pidfile.h - --pidfile: FILE holds the daemon's pid while it runs.
 *
 * The file is held with an exclusive flock for the daemon's life, so a
 * pidfile is "running" exactly when some process holds its lock: a second
 * daemon is refused, and one left by a daemon that was killed (its lock
 * went with it) is replaced.  It is created O_EXCL|O_NOFOLLOW, mode 0644;
 * an existing one is taken only if it is a regular file with one link that
 * belongs to this user, so that a pidfile path in a shared directory
 * cannot aim the daemon (often root) at another file.
 */
#ifndef MSHV_EMU_PIDFILE_H
#define MSHV_EMU_PIDFILE_H

/* pidfile_create - PATH holds this process's pid, locked.  Its fd (keep it
 * open: it holds the lock), or -1 after logging why and what to do. */
int pidfile_create(const char *path);

/* pidfile_remove - remove PATH if it is still the file FD holds, then
 * close FD.  Nothing for FD -1.  A failure is logged (the file is left,
 * unlocked: the next start replaces it). */
void pidfile_remove(const char *path, int fd);

#endif
