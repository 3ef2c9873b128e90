/*
 * privileges.c - --user USER: root makes the node, USER serves it.
 *
 * Root is needed to make the node (mount(2), or /dev/cuse and the node's
 * mode) and, at exit, to unmount it.  Everything else the daemon does it
 * does as USER: its uid, primary group and supplementary groups (the ones
 * login would give it, so files shared with USER's groups work as they do
 * for USER), with no capability left except, for FUSE, CAP_SYS_PTRACE:
 *
 *   - FUSE follows an ioctl's pointers (MSHV_ROOT_HVCALL's in_ptr and
 *     out_ptr, CREATE_PARTITION's v2 structure) with process_vm_readv and
 *     process_vm_writev on the caller, which the kernel allows only with
 *     ptrace access (PTRACE_MODE_ATTACH_REALCREDS): a caller of another
 *     uid, or one that is not dumpable (it changed uid, as a VMM started
 *     by root and switched to a user has), needs CAP_SYS_PTRACE.  Kept in
 *     the permitted and effective sets through the uid change with
 *     PR_SET_KEEPCAPS, only if the process had it (a bounding set without
 *     it keeps nothing, and such callers are answered EOPNOTSUPP, the
 *     transport's "no caller memory", with one log line that says why).
 *   - CUSE needs none: the kernel copies the caller's memory for it
 *     (unrestricted ioctls, cuse_ioctl.c).  It also gets no_new_privs and
 *     an empty bounding set.
 *   - FUSE does not get no_new_privs: libfuse unmounts as a user by running
 *     fusermount3, which is setuid root, and no_new_privs would run it as
 *     USER, unable to unmount.  fusermount3 unmounts only a mount whose
 *     user_id is the caller's uid: privileges_own_mount makes the mount
 *     USER's as it is made.  Its bounding set stays whole for the same
 *     reason (fusermount3 gets its capabilities from it); what an exec can
 *     gain is what any process of USER can.
 *
 * The daemon is left not dumpable: no other process of USER may ptrace it
 * (for FUSE the kernel already refuses, since the tracer would need
 * CAP_SYS_PTRACE too) or read its memory, core dumps included.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "front/front.h"
#include "privileges.h"

int privileges_lookup(const char *name, struct privileges *user)
{
	*user = (struct privileges){.name = name};
	if (geteuid() != 0) {
		emu_err("--user %s: only root can switch to another user, and this is uid %u; "
			"start mshv-emu as root, or leave out --user",
			name, (unsigned)geteuid());
		return 1;
	}
	struct passwd *pw = getpwnam(name);
	if (!pw) {
		emu_err("--user %s: no such user; name one that `getent passwd` lists, such "
			"as nobody",
			name);
		return 1;
	}
	if (pw->pw_uid == 0) {
		emu_err("--user %s: uid 0 is root; name an unprivileged user, such as nobody",
			name);
		return 1;
	}
	user->uid = pw->pw_uid;
	user->gid = pw->pw_gid;
	int count = 0;
	getgrouplist(name, user->gid, NULL, &count); /* -1, and the count */
	user->groups = calloc(count > 0 ? (size_t)count : 1, sizeof(gid_t));
	if (!user->groups || getgrouplist(name, user->gid, user->groups, &count) < 0) {
		emu_err("--user %s: cannot list its groups", name);
		privileges_free(user);
		return 1;
	}
	user->group_count = count;
	return 0;
}

void privileges_free(struct privileges *user)
{
	free(user->groups);
	user->groups = NULL;
	user->group_count = 0;
}

/* setgroups, gid and uid (real, effective, saved): USER's, for good. */
static int become(const struct privileges *user)
{
	if (setgroups((size_t)user->group_count, user->groups) != 0 ||
	    setresgid(user->gid, user->gid, user->gid) != 0 ||
	    setresuid(user->uid, user->uid, user->uid) != 0)
		return -1;
	return 0;
}

/* The directory fusermount3 changes to, as the user, to unmount MOUNTPOINT:
 * its parent (it never touches a mount point that may be dead). */
static void parent_of(const char *path, char *out, size_t size)
{
	snprintf(out, size, "%s", path);
	size_t len = strlen(out);
	while (len > 1 && out[len - 1] == '/')
		out[--len] = '\0';
	char *slash = strrchr(out, '/');
	if (!slash)
		snprintf(out, size, ".");
	else if (slash == out)
		out[1] = '\0';
	else
		*slash = '\0';
}

static int try_chdir(const char *dir)
{
	return chdir(dir) == 0 ? 0 : errno;
}

static int try_create_in(const char *dir)
{
	return access(dir, W_OK | X_OK) == 0 ? 0 : errno;
}

/* ATTEMPT(PATH) in a child that has become USER: 0, or the errno it met
 * (-1 when the child could not become USER). */
static int as_user(const struct privileges *user, int (*attempt)(const char *), const char *path)
{
	pid_t child = fork();
	if (child < 0)
		return -1;
	if (child == 0)
		_exit(become(user) != 0 ? 255 : attempt(path) & 0xff);
	int status;
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	int err = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
	return err == 255 ? -1 : err;
}

int privileges_preflight(const struct privileges *user, const char *mountpoint, const char *control)
{
	char dir[4096];
	if (mountpoint) {
		parent_of(mountpoint, dir, sizeof(dir));
		int err = as_user(user, try_chdir, dir);
		if (err < 0) {
			emu_err("--user %s: cannot become %s to try --mountpoint %s", user->name,
				user->name, mountpoint);
			return 1;
		}
		/* Anything but a refusal (a missing directory) is mkdir's to report. */
		if (err == EACCES) {
			emu_err("--user %s: --mountpoint %s: %s may not enter %s, and at exit it "
				"unmounts the mount as %s (fusermount3 enters the parent); let %s "
				"search every directory down to %s, or pick another --mountpoint",
				user->name, mountpoint, user->name, dir, user->name, user->name,
				dir);
			return 1;
		}
	}
	if (control && *control) {
		parent_of(control, dir, sizeof(dir));
		int err = as_user(user, try_create_in, dir);
		if (err != 0) {
			emu_err("--user %s: --control %s: %s cannot create it in %s (%s), and the "
				"socket is made as %s; put it in a directory %s may write, or use "
				"--control \"\" for none",
				user->name, control, user->name, dir,
				err < 0 ? "cannot become the user" : strerror(err), user->name,
				user->name);
			return 1;
		}
	}
	return 0;
}

int privileges_own_mount(const struct privileges *user)
{
	/* libfuse records getuid() and getgid() as the mount's owner. */
	if (setresgid(user->gid, (gid_t)-1, (gid_t)-1) != 0 ||
	    setresuid(user->uid, (uid_t)-1, (uid_t)-1) != 0) {
		emu_err("--user %s: cannot make it the mount's owner: %s", user->name,
			strerror(errno));
		return 1;
	}
	return 0;
}

/* Threads of this process: the switch is per thread for capabilities and
 * no_new_privs, so it must come before any is started. */
static int thread_count(void)
{
	DIR *tasks = opendir("/proc/self/task");
	int count = 0;
	struct dirent *entry;
	while (tasks && (entry = readdir(tasks)))
		count += entry->d_name[0] != '.';
	if (tasks)
		closedir(tasks);
	return count;
}

int privileges_drop(const struct privileges *user, bool keep_ptrace, bool no_new_privs)
{
	int threads = thread_count();
	if (threads != 1) {
		emu_err("--user %s: %d threads run already, and the switch to the user must come "
			"before any starts (a bug: please report it)",
			user->name, threads);
		return 1;
	}
	cap_t caps = cap_get_proc();
	cap_flag_value_t had_ptrace = CAP_CLEAR;
	if (!caps || cap_get_flag(caps, CAP_SYS_PTRACE, CAP_PERMITTED, &had_ptrace) != 0) {
		emu_err("--user %s: cannot read the capabilities: %s", user->name, strerror(errno));
		cap_free(caps);
		return 1;
	}
	cap_free(caps);
	bool keep = keep_ptrace && had_ptrace == CAP_SET;
	const char *failed = NULL;
	bool bounded = false; /* the bounding set is empty */
	if (no_new_privs) {
		/* Needs CAP_SETPCAP.  Without it no_new_privs still keeps an exec
		 * from gaining anything: say so, and go on. */
		cap_value_t cap = 0;
		while (cap < cap_max_bits() && (cap_drop_bound(cap) == 0 || errno == EINVAL))
			cap++;
		bounded = cap == cap_max_bits();
		if (!bounded)
			emu_warn("--user %s: the bounding set stays as it is (%s); no_new_privs "
				 "still keeps an exec from gaining a capability",
				 user->name, strerror(errno));
	}
	/* Without KEEPCAPS the uid change clears every capability. */
	if (!failed && keep && prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0)
		failed = "keep capabilities across the uid change";
	if (!failed && become(user) != 0)
		failed = "switch uid and groups";
	if (!failed && keep && prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) != 0)
		failed = "clear PR_SET_KEEPCAPS";
	caps = cap_init(); /* every set empty */
	cap_value_t ptrace[] = {CAP_SYS_PTRACE};
	if (!failed && (!caps ||
			(keep && (cap_set_flag(caps, CAP_PERMITTED, 1, ptrace, CAP_SET) ||
				  cap_set_flag(caps, CAP_EFFECTIVE, 1, ptrace, CAP_SET))) ||
			cap_set_proc(caps) != 0))
		failed = "set the capabilities";
	cap_free(caps);
	if (!failed && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L) != 0)
		failed = "clear the ambient capabilities";
	if (!failed && no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0)
		failed = "set no_new_privs";
	if (!failed && prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L) != 0)
		failed = "make the process not dumpable";
	/* There is no way back: a uid that could return to root would be a bug. */
	if (!failed && (setresuid(0, 0, 0) == 0 || setresgid(0, 0, 0) == 0))
		failed = "give up root for good";
	if (failed) {
		emu_err("--user %s: cannot %s: %s", user->name, failed, strerror(errno));
		return 1;
	}
	caps = cap_get_proc();
	char *text = caps ? cap_to_text(caps, NULL) : NULL;
	char groups[256] = "";
	size_t used = 0;
	for (int i = 0; i < user->group_count && used < sizeof(groups); i++)
		used += (size_t)snprintf(groups + used, sizeof(groups) - used, "%s%u", i ? "," : "",
					 (unsigned)user->groups[i]);
	emu_log("running as %s (uid %u, gid %u, groups %s); capabilities: %s%s; no_new_privs %s",
		user->name, (unsigned)user->uid, (unsigned)user->gid,
		user->group_count ? groups : "none", keep ? text : "none",
		keep ? " (to read the memory of callers of other users)" : "",
		no_new_privs ? (bounded ? "on, bounding set empty" : "on")
			     : "off (fusermount3 unmounts at exit)");
	if (keep_ptrace && !keep)
		emu_warn("--user %s: CAP_SYS_PTRACE was not in the bounding set: ioctls that "
			 "follow pointers answer EOPNOTSUPP to callers %s may not ptrace (other "
			 "users, and processes that changed uid)",
			 user->name, user->name);
	cap_free(text);
	cap_free(caps);
	return 0;
}

void privileges_check_readable(const struct privileges *user, const char *path)
{
	if (!path)
		return;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return;
	}
	emu_warn("--user %s: %s: %s as %s; SIGHUP and mshvctl reload read the policy as %s "
		 "and will fail: let %s read it",
		 user->name, path, strerror(errno), user->name, user->name, user->name);
}
