/*
 * daemon.h - the running daemon's state, shared by main.c (start, signals),
 * control.c (mshvctl's socket) and daemon.c (what either asks for).
 */
#ifndef MSHV_EMU_DAEMON_H
#define MSHV_EMU_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/types.h>

#include "front/front.h"

struct daemon {
	struct emu_core core;
	pthread_mutex_t reload_lock; /* one reload at a time: SIGHUP or mshvctl */
	char *policy_path;	     /* under reload_lock; NULL: the embedded default */
	const char *front;	     /* "cuse" or "fuse" */
	struct front_options front_options;
	uint64_t started_ns; /* CLOCK_MONOTONIC */
	uid_t uid;
	/* What the front end holds, for mshvctl: calls a fault holds now, let
	 * the hung ones go (returns how many), the node served. */
	unsigned (*held_count)(void);
	unsigned (*release_held)(void);
	void (*node_path)(char *out, size_t size);
	/* SIGHUP's reload thread (daemon_reloader_start).  The flag is
	 * written by the stopping thread and read by the reload thread:
	 * neither pthread_kill nor sigwait orders memory, so it is atomic. */
	pthread_t reloader;
	atomic_bool reloader_stopping;
	/* Around every reload (SIGHUP or mshvctl), under reload_lock, if not
	 * NULL: FILE is the policy read (NULL: the embedded default); RC is
	 * daemon_reload's.  The service manager is told (main.c). */
	void (*reloading)(struct daemon *daemon, const char *file);
	void (*reloaded)(struct daemon *daemon, const char *file, int rc);
};

/*
 * daemon_reload - load PATH (NULL: the current policy file) and publish it.
 * A PATH that loads becomes the file later reloads read.  Logs the outcome;
 * writes diagnostics, or the new generation and digest, to REPORT too if
 * not NULL.  Returns 0, or 1 when the policy was rejected (the old one keeps
 * serving).  Cold path.
 */
int daemon_reload(struct daemon *daemon, const char *path, FILE *report);

/*
 * daemon_reloader_start - a thread that takes SIGHUP with sigwait and calls
 * daemon_reload: parsing is not signal-handler work.  SIGHUP must be blocked
 * in every thread (block it before creating any), so that only sigwait
 * takes it.  Returns 0 or an errno.
 */
int daemon_reloader_start(struct daemon *daemon);

/* daemon_reloader_stop - stop and join that thread. */
void daemon_reloader_stop(struct daemon *daemon);

/* daemon_load_policy - PATH (NULL: the embedded default), its diagnostics
 * on stderr; the snapshot, or NULL when it is invalid. */
struct policy_snapshot *daemon_load_policy(const char *path);

/*
 * control_open - mshvctl's Unix socket at PATH, listening (as whoever calls
 * it: mshvctl trusts a server that is root or its own user, so a daemon
 * that drops to another user opens it first), mode 0600 and OWNER's, or
 * 0660 and GROUP's too unless GROUP is (gid_t)-1 (its members are then
 * admitted).  PATH's directory must be one only OWNER or root can write;
 * control_open logs why and returns -1 otherwise.
 * control_serve - start answering (as the daemon's user: DAEMON->uid).
 * control_start - both, OWNER being this process's user.
 * control_stop - stop, remove the socket; nothing if none was opened.
 */
int control_open(struct daemon *daemon, const char *path, gid_t group, uid_t owner);
int control_serve(void);
int control_start(struct daemon *daemon, const char *path, gid_t group);
void control_stop(void);

#endif
