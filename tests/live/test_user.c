/*
 * test_user.c - mshv-emu --user: root makes the node, the user serves it.
 *
 * The daemon is started as `--user nobody` and checked from outside: its
 * /proc/PID/status (the user's ids, and no capability but CAP_SYS_PTRACE
 * for FUSE, none for CUSE), the files it makes afterwards (the control
 * socket, a transcript: the user's), reloads (read as the user: a file only
 * root may read is refused), the side channel for callers of other uids,
 * and a stop that leaves nothing mounted.  And the refusals that come
 * before anything is made.
 *
 * The whole live suite also runs with every daemon under --user when
 * MSHV_EMU_USER names the user (ctest's live-fuse-user).  uapi/ and libc
 * only, like test_live.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "live.h"

#define USER		   "nobody"
#define CAP_SYS_PTRACE_BIT (1ull << 19)
#define STRANGER	   1234 /* a caller's uid: neither root nor the daemon's */

static const char policy_text[] = "profile: microsoft\n"
				  "device:\n  mode: \"0666\"\n"
				  "hypervisor:\n  properties:\n"
				  "    - {name: PHYSICAL_ADDRESS_WIDTH, value: 52}\n";

TestSuite(user, .fini = teardown, .timeout = 120);

static void need_user(void)
{
	if (front_is_run())
		cr_skip_test("mshv-emu-run has no --user");
	if (geteuid() != 0)
		cr_skip_test("--user needs root");
	if (!getpwnam(USER))
		cr_skip_test("no user " USER " here");
}

/* Write TEXT to a new file PATH with MODE. */
static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* The text after "FIELD:\t" in /proc/PID/status, its tabs as spaces. */
static void status_field(pid_t pid, const char *field, char *out, size_t size)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *status = fopen(path, "r");
	cr_assert_not_null(status, "%s: %s", path, strerror(errno));
	size_t len = strlen(field);
	out[0] = '\0';
	while (fgets(line, sizeof(line), status))
		if (!strncmp(line, field, len) && line[len] == ':') {
			char *value = line + len + 1;
			value += strspn(value, " \t");
			value[strcspn(value, "\n")] = '\0';
			for (char *p = value; *p; p++)
				if (*p == '\t')
					*p = ' ';
			while (*value && value[strlen(value) - 1] == ' ')
				value[strlen(value) - 1] = '\0';
			snprintf(out, size, "%s", value);
		}
	fclose(status);
	cr_assert(out[0], "no %s: in %s", field, path);
}

static unsigned long long status_caps(pid_t pid, const char *field)
{
	char value[64];
	status_field(pid, field, value, sizeof(value));
	return strtoull(value, NULL, 16);
}

/* GET_PARTITION_PROPERTY PHYSICAL_ADDRESS_WIDTH: 0 and the value, or -errno. */
static int address_width(int fd, uint64_t *value)
{
	struct mshv_emu_hv_get_property_in in = {
		.partition_id = MSHV_EMU_HV_PARTITION_ID_SELF,
		.property_code = MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH};
	struct mshv_root_hvcall hdr = {.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
				       .in_sz = sizeof(in),
				       .out_sz = sizeof(*value),
				       .in_ptr = (uintptr_t)&in,
				       .out_ptr = (uintptr_t)value};
	*value = 0;
	return ioctl(fd, MSHV_ROOT_HVCALL, &hdr) == 0 ? 0 : -errno;
}

/* The same call from a child that has become UID (and dropped root's
 * groups): it is not dumpable, and of another uid than the daemon. */
static int address_width_as(const struct daemon *d, uid_t uid, uint64_t *value)
{
	int report[2];
	cr_assert_eq(pipe(report), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		struct {
			int result;
			uint64_t value;
		} r = {.result = -ECHILD};
		if (setgroups(0, NULL) == 0 && setgid(uid) == 0 && setuid(uid) == 0) {
			int fd = open(d->node, O_RDONLY | O_CLOEXEC);
			r.result = fd < 0 ? -errno : address_width(fd, &r.value);
		}
		_exit(write(report[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(report[1]);
	struct {
		int result;
		uint64_t value;
	} r = {.result = -EPIPE};
	cr_expect_eq(read(report[0], &r, sizeof(r)), (ssize_t)sizeof(r), "no report from uid %u",
		     (unsigned)uid);
	close(report[0]);
	waitpid(child, NULL, 0);
	*value = r.value;
	return r.result;
}

/* mshvctl ARGS... against D as UID (0: as this process); its exit status. */
static int ctl_as(const struct daemon *d, uid_t uid, char *out, size_t size,
		  const char *const args[])
{
	char socket[128];
	control_of(d, d->pid, socket, sizeof(socket));
	const char *argv[16] = {env_or("MSHV_EMU_CTL", "mshvctl"), "--socket", socket};
	int argc = 3;
	for (int i = 0; args[i] && argc < 15; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	if (uid == 0)
		return run_command(argv, out, size);
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0)
			_exit(99);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	close(pipefd[1]);
	return command_finish(pipefd[0], child, out, size);
}

Test(user, serves_as_the_user_with_only_what_it_keeps)
{
	need_user();
	struct daemon *d = &daemon_under_test;
	struct passwd *pw = getpwnam(USER);
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	char policy[128], secret[128], out[8192], want[128];
	snprintf(policy, sizeof(policy), "/tmp/mshv-user-%d.yaml", (int)getpid());
	snprintf(secret, sizeof(secret), "/tmp/mshv-user-%d-root-only.yaml", (int)getpid());
	write_file(policy, policy_text, 0644);
	write_file(secret, policy_text, 0600);
	d->user = USER;
	daemon_start(d, policy);
	cr_assert_eq(chmod(d->dir, 0755), 0); /* for the caller of another uid */

	/* Who it is now, and what it kept. */
	snprintf(want, sizeof(want), "%u %u %u %u", uid, uid, uid, uid);
	status_field(d->pid, "Uid", out, sizeof(out));
	cr_expect_str_eq(out, want, "Uid: %s", out);
	snprintf(want, sizeof(want), "%u %u %u %u", gid, gid, gid, gid);
	status_field(d->pid, "Gid", out, sizeof(out));
	cr_expect_str_eq(out, want, "Gid: %s", out);
	gid_t groups[64];
	int count = 64;
	cr_assert_geq(getgrouplist(USER, gid, groups, &count), 0);
	want[0] = '\0';
	for (int i = 0; i < count; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%u", i ? " " : "",
			 (unsigned)groups[i]);
	status_field(d->pid, "Groups", out, sizeof(out));
	cr_expect_str_eq(out, want, "Groups: %s, want %s: the user's own", out, want);
	unsigned long long kept = front_is_cuse() ? 0 : CAP_SYS_PTRACE_BIT;
	cr_expect_eq(status_caps(d->pid, "CapEff"), kept, "CapEff %llx",
		     status_caps(d->pid, "CapEff"));
	cr_expect_eq(status_caps(d->pid, "CapPrm"), kept, "CapPrm %llx",
		     status_caps(d->pid, "CapPrm"));
	cr_expect_eq(status_caps(d->pid, "CapInh"), 0);
	cr_expect_eq(status_caps(d->pid, "CapAmb"), 0);
	status_field(d->pid, "NoNewPrivs", out, sizeof(out));
	cr_expect_str_eq(out, front_is_cuse() ? "1" : "0", "NoNewPrivs: %s", out);
	if (front_is_cuse())
		cr_expect_eq(status_caps(d->pid, "CapBnd"), 0, "CUSE empties the bounding set");
	cr_expect(log_wait_for(d, "running as " USER, 1000), "the switch is logged");

	/* The side channel reaches callers of other uids: this one (root) and
	 * one of a third uid. */
	uint64_t value;
	int fd = open_node(d);
	cr_expect_eq(address_width(fd, &value), 0, "root's call");
	cr_expect_eq(value, 52);
	close(fd);
	cr_expect_eq(address_width_as(d, STRANGER, &value), 0, "uid %d's call", STRANGER);
	cr_expect_eq(value, 52, "uid %d's call", STRANGER);

	/* What it makes now is the user's. */
	char socket[128], trace[128];
	struct stat st;
	control_of(d, d->pid, socket, sizeof(socket));
	cr_assert_eq(stat(socket, &st), 0, "%s: %s", socket, strerror(errno));
	cr_expect_eq(st.st_uid, uid, "the control socket is uid %u's", (unsigned)st.st_uid);
	snprintf(trace, sizeof(trace), "%.*s/transcript.jsonl", (int)sizeof(d->dir) - 1, d->dir);
	cr_assert_eq(
		ctl_as(d, 0, out, sizeof(out), (const char *[]){"trace", "start", trace, NULL}), 0,
		"%s", out);
	cr_assert_eq(stat(trace, &st), 0, "%s: %s", trace, strerror(errno));
	cr_expect_eq(st.st_uid, uid, "the transcript is uid %u's", (unsigned)st.st_uid);
	cr_expect_eq(ctl_as(d, 0, out, sizeof(out), (const char *[]){"trace", "stop", NULL}), 0);

	/* mshvctl: root, and now the user too; not a third uid. */
	cr_expect_eq(ctl_as(d, 0, out, sizeof(out), (const char *[]){"status", NULL}), 0, "%s",
		     out);
	cr_expect_eq(ctl_as(d, uid, out, sizeof(out), (const char *[]){"status", NULL}), 0,
		     "the daemon's user: %s", out);
	cr_expect(strstr(out, "profile     microsoft"), "%s", out);
	cr_expect_eq(ctl_as(d, STRANGER, out, sizeof(out), (const char *[]){"status", NULL}), 1,
		     "%s", out);

	/* Reloads read as the user: a file only root may read is refused. */
	cr_expect_eq(ctl_as(d, 0, out, sizeof(out), (const char *[]){"reload", secret, NULL}), 1,
		     "%s", out);
	cr_expect(strstr(out, "permission denied to uid"), "%s", out);
	char negotiated[512];
	policy_path("default.yaml", negotiated, sizeof(negotiated));
	cr_expect_eq(ctl_as(d, 0, out, sizeof(out), (const char *[]){"reload", negotiated, NULL}),
		     0, "%s", out);
	cr_expect(strstr(out, "as generation 2"), "%s", out);
	fd = open_node(d);
	cr_expect_eq(do_ioctl(fd, RV, ARG_U32, 0), -MSHV_ENOTSUPP, "legacy: version 0");
	cr_expect_eq(do_ioctl(fd, RV, ARG_U32, 1), 0, "legacy: version 1");
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, MSHV_CAP_REGISTER_PAGE), 1);
	close(fd);
	cr_expect_eq(ctl_as(d, 0, out, sizeof(out), (const char *[]){"reload", policy, NULL}), 0,
		     "%s", out);
	kill(d->pid, SIGHUP);
	cr_expect(log_wait_for(d, "as generation 4", 5000), "SIGHUP reloads as the user");
	fd = open_node(d);
	cr_expect_eq(address_width(fd, &value), 0);
	cr_expect_eq(value, 52);
	close(fd);

	/* A clean stop: exit 0, nothing mounted (daemon_cleanup checks), the
	 * socket removed by the user who made it. */
	int status = daemon_stop(d);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
	char mountpoint[96];
	mountpoint_of(d, mountpoint, sizeof(mountpoint));
	cr_expect(front_is_cuse() || !is_mounted(mountpoint), "%s is still mounted", mountpoint);
	cr_expect_neq(stat(socket, &st), 0, "%s is left behind", socket);
	unlink(policy);
	unlink(secret);
}

/* Without CAP_SYS_PTRACE to keep (out of the bounding set), --user keeps
 * nothing: FUSE cannot follow the pointers of a caller of another uid and
 * answers EOPNOTSUPP; CUSE, whose kernel copies them, answers. */
Test(user, without_ptrace_it_keeps_nothing)
{
	need_user();
	struct daemon *d = &daemon_under_test;
	char policy[128];
	snprintf(policy, sizeof(policy), "/tmp/mshv-user-%d.yaml", (int)getpid());
	write_file(policy, policy_text, 0644);
	d->user = USER;
	d->drop_ptrace = true;
	daemon_start(d, policy);
	unlink(policy);
	cr_expect_eq(status_caps(d->pid, "CapEff"), 0);
	cr_expect_eq(status_caps(d->pid, "CapPrm"), 0);
	uint64_t value;
	int fd = open_node(d);
	int result = address_width(fd, &value);
	close(fd);
	if (front_is_cuse()) {
		cr_expect_eq(result, 0, "CUSE: %s", strerror(-result));
		cr_expect_eq(value, 52);
	} else {
		cr_expect_eq(result, -EOPNOTSUPP, "FUSE: %d (%s)", result, strerror(-result));
		cr_expect(log_wait_for(d, "CAP_SYS_PTRACE was not in the bounding set", 1000));
		cr_expect(log_wait_for(d, "cannot reach the memory of pid", 1000));
	}
}

/* ---- refused before anything is made ---- */

/* mshv-emu ARGS... as UID (0: as this process): its status, output in OUT. */
static int emu_as(uid_t uid, char *out, size_t size, const char *const args[])
{
	const char *argv[24] = {env_or("MSHV_EMU_BIN", "mshv-emu"), "--front",
				front_is_cuse() ? "cuse" : "fuse"};
	int argc = 3;
	for (int i = 0; args[i] && argc < 23; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	if (uid == 0)
		return run_command(argv, out, size);
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0)
			_exit(99);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	close(pipefd[1]);
	return command_finish(pipefd[0], child, out, size);
}

/* A scratch directory of MODE, owned by OWNER; its mountpoint and socket. */
struct scratch {
	char dir[64], mnt[96], ctl[96], name[64];
};

static void scratch_make(struct scratch *s, mode_t mode, uid_t owner)
{
	snprintf(s->dir, sizeof(s->dir), "/tmp/mshv-live-XXXXXX");
	cr_assert_not_null(mkdtemp(s->dir));
	cr_assert_eq(chmod(s->dir, mode), 0);
	cr_assert_eq(chown(s->dir, owner, (gid_t)-1), 0);
	snprintf(s->mnt, sizeof(s->mnt), "%s/mnt", s->dir);
	snprintf(s->ctl, sizeof(s->ctl), "%s/ctl.sock", s->dir);
	snprintf(s->name, sizeof(s->name), "mshv-u%d", (int)getpid());
}

static void scratch_remove(struct scratch *s)
{
	cr_expect(!is_mounted(s->mnt), "%s is left mounted", s->mnt);
	if (is_mounted(s->mnt))
		umount2(s->mnt, MNT_DETACH);
	rmdir(s->mnt);
	unlink(s->ctl);
	rmdir(s->dir);
}

Test(user, needs_root)
{
	need_user();
	char out[4096];
	cr_expect_eq(emu_as(65534, out, sizeof(out),
			    (const char *[]){"--user", USER, "--control", "", NULL}),
		     1, "%s", out);
	cr_expect(strstr(out, "--user " USER ": only root can switch to another user, and this "
			      "is uid 65534"),
		  "%s", out);
}

Test(user, unknown_user_and_root_are_refused)
{
	need_user();
	char out[4096];
	cr_expect_eq(emu_as(0, out, sizeof(out),
			    (const char *[]){"--user", "no-such-user-mshv", "--control", "", NULL}),
		     1, "%s", out);
	cr_expect(strstr(out, "--user no-such-user-mshv: no such user"), "%s", out);
	cr_expect_eq(emu_as(0, out, sizeof(out),
			    (const char *[]){"--user", "root", "--control", "", NULL}),
		     1, "%s", out);
	cr_expect(strstr(out, "--user root: uid 0 is root"), "%s", out);
}

/* fusermount3 enters the mount point's parent as the user at exit: a
 * parent the user may not enter would leave the mount behind. */
Test(user, a_mountpoint_the_user_cannot_unmount_is_refused)
{
	need_user();
	if (front_is_cuse())
		cr_skip_test("FUSE only: CUSE has no mount");
	struct scratch s;
	scratch_make(&s, 0700, 0);
	char out[4096];
	cr_expect_eq(emu_as(0, out, sizeof(out),
			    (const char *[]){"--user", USER, "--name", s.name, "--mountpoint",
					     s.mnt, "--control", "", NULL}),
		     1, "%s", out);
	cr_expect(strstr(out, "nobody may not enter"), "%s", out);
	cr_expect_neq(access(s.mnt, F_OK), 0, "%s was made", s.mnt);
	scratch_remove(&s);
}

/* The control socket is made as the user, so its directory must be one the
 * user may write: said before anything is made. */
Test(user, a_control_socket_the_user_cannot_make_is_refused)
{
	need_user();
	struct scratch s;
	scratch_make(&s, 0755, 0);
	char out[4096];
	cr_expect_eq(emu_as(0, out, sizeof(out),
			    (const char *[]){"--user", USER, "--name", s.name, "--mountpoint",
					     s.mnt, "--control", s.ctl, NULL}),
		     1, "%s", out);
	cr_expect(strstr(out, "nobody cannot create it in"), "%s", out);
	cr_expect_neq(access(s.mnt, F_OK), 0, "%s was made", s.mnt);
	scratch_remove(&s);
}

/* A start that fails after the node exists (here: the transcript, opened as
 * the user, in a directory only root may write) undoes the mount as the
 * user. */
Test(user, a_start_that_fails_as_the_user_leaves_nothing_mounted)
{
	need_user();
	struct scratch s;
	scratch_make(&s, 0755, getpwnam(USER)->pw_uid);
	char forbidden[64] = "/tmp/mshv-live-XXXXXX", trace[96];
	cr_assert_not_null(mkdtemp(forbidden));
	snprintf(trace, sizeof(trace), "%s/t.jsonl", forbidden);
	char out[4096];
	cr_expect_eq(emu_as(0, out, sizeof(out),
			    (const char *[]){"--user", USER, "--name", s.name, "--mountpoint",
					     s.mnt, "--control", s.ctl, "--trace", trace, NULL}),
		     1, "%s", out);
	cr_expect(strstr(out, "permission denied to uid"), "%s", out);
	/* It never served: nothing to say "stopped" about. */
	cr_expect(!strstr(out, "mshv-emu: stopped"), "%s", out);
	rmdir(forbidden);
	scratch_remove(&s);
}
