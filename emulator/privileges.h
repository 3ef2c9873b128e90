/*
 * privileges.h - --user: the daemon stops being root once its node exists.
 * main.c calls these in order, each in the main thread before any other
 * thread exists (capabilities and no_new_privs belong to a thread, so
 * threads started later inherit exactly what the switch left).
 */
#ifndef MSHV_EMU_PRIVILEGES_H
#define MSHV_EMU_PRIVILEGES_H

#include <stdbool.h>
#include <sys/types.h>

struct privileges {
	const char *name;
	uid_t uid;
	gid_t gid;     /* the user's primary group */
	gid_t *groups; /* its supplementary groups, as login gives them */
	int group_count;
};

/*
 * privileges_lookup - the user NAME, before anything is created.  Refuses
 * (logs why, returns 1) when mshv-emu is not root, when NAME is unknown,
 * and when it is root itself.  0 on success.
 */
int privileges_lookup(const char *name, struct privileges *user);

/*
 * privileges_preflight - before anything is made, what USER must be able
 * to do later, tried in a child that becomes USER: at exit, enter the
 * parent of MOUNTPOINT (FUSE; NULL for none), where fusermount3 unmounts it
 * as USER; at start, create the socket CONTROL (NULL or "" for none) in its
 * directory.  0, or 1 after saying what to change.
 */
int privileges_preflight(const struct privileges *user, const char *mountpoint,
			 const char *control);

/*
 * privileges_own_mount - make USER the real uid and gid (the effective ids
 * stay root), so that the FUSE mount about to be made records USER as its
 * owner (user_id=, group_id=) and fusermount3 lets USER unmount it.  0 or 1.
 */
int privileges_own_mount(const struct privileges *user);

/*
 * privileges_drop - become USER for good: its uid, primary group and
 * supplementary groups, no way back, not dumpable.  Every capability goes
 * except CAP_SYS_PTRACE when KEEP_PTRACE (FUSE reads callers' memory) and
 * the process still has it.  NO_NEW_PRIVS: set PR_SET_NO_NEW_PRIVS and
 * empty the bounding set too (not for FUSE: its unmount runs the setuid
 * fusermount3).  Logs what it kept.  0, or 1 after saying why.
 */
int privileges_drop(const struct privileges *user, bool keep_ptrace, bool no_new_privs);

/* privileges_check_readable - after the drop: warn when PATH (the policy
 * that SIGHUP reloads) cannot be read as the user. */
void privileges_check_readable(const struct privileges *user, const char *path);

void privileges_free(struct privileges *user);

#endif
