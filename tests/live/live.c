/*
 * live.c - helpers of the live suites (see live.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>

#include <criterion/criterion.h>

#include "live.h"
#include "seccomp.h"

#define READY_DEADLINE_MS 10000
#define STOP_DEADLINE_MS  10000

struct daemon daemon_under_test;

const char *env_or(const char *name, const char *fallback)
{
	const char *value = getenv(name);
	return value && *value ? value : fallback;
}

bool front_is_cuse(void)
{
	return !strcmp(env_or("MSHV_EMU_FRONT", "fuse"), "cuse");
}

/* preload, seccomp: each daemon is an mshv-emu-run whose device this
 * process joins: with the preload library in LD_PRELOAD, through its
 * environment; or with the run's seccomp filter, installed here. */
bool front_is_seccomp(void)
{
	return !strcmp(env_or("MSHV_EMU_FRONT", "fuse"), "seccomp");
}

bool front_is_run(void)
{
	return front_is_seccomp() || !strcmp(env_or("MSHV_EMU_FRONT", "fuse"), "preload");
}

const char *daemon_user(const struct daemon *d)
{
	if (front_is_run()) /* mshv-emu-run: not a daemon that switches users */
		return NULL;
	return d->user						     ? d->user
	       : getenv("MSHV_EMU_USER") && *getenv("MSHV_EMU_USER") ? getenv("MSHV_EMU_USER")
								     : NULL;
}

uid_t daemon_uid(const struct daemon *d)
{
	const char *user = daemon_user(d);
	if (!user)
		return geteuid();
	struct passwd *pw = getpwnam(user);
	cr_assert_not_null(pw, "--user %s: no such user here", user);
	return pw->pw_uid;
}

uid_t stranger_uid(const struct daemon *d)
{
	return daemon_uid(d) == 65534 ? 65533 : 65534;
}

bool is_mounted(const char *path)
{
	char line[8192], point[4096];
	bool found = false;
	FILE *mountinfo = fopen("/proc/self/mountinfo", "r");
	while (mountinfo && !found && fgets(line, sizeof(line), mountinfo))
		found = sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 && !strcmp(point, path);
	if (mountinfo)
		fclose(mountinfo);
	return found;
}

/* The run's command: it reports the run's names on READY_FD, then waits
 * for the run's SIGTERM and ends cleanly (the run's status is its). */
static void spawn_run(const struct daemon *d, const char *policy, int ready_fd, const char *control)
{
	/* fd 9: a shell names only single-digit fds. */
	if (dup2(ready_fd, 9) < 0)
		_exit(127);
	const char *script =
		front_is_seccomp()
			? "trap 'kill $! 2>/dev/null; exit 0' TERM; "
			  "printf 'ready /dev/mshv %s - %s\\n' \"$MSHV_EMU_RUN_SECCOMP\" "
			  "\"$MSHV_EMU_RUN_MODE\" >&9; exec 9>&-; "
			  "sleep 100000 & wait"
			: "trap 'kill $! 2>/dev/null; exit 0' TERM; "
			  "printf 'ready /dev/mshv %s %s %s\\n' \"$MSHV_EMU_RUN_SOCKET\" "
			  "\"$MSHV_EMU_RUN_ID\" \"$MSHV_EMU_RUN_MODE\" >&9; exec 9>&-; "
			  "sleep 100000 & wait";
	const char *bin = env_or("MSHV_EMU_RUN", "mshv-emu-run");
	const char *argv[16] = {bin, "--transport", front_is_seccomp() ? "seccomp" : "preload",
				"--control", control};
	int argc = 5;
	if (policy) {
		argv[argc++] = "--policy";
		argv[argc++] = policy;
	}
	argv[argc++] = "--";
	argv[argc++] = "/bin/sh";
	argv[argc++] = "-c";
	argv[argc++] = script;
	argv[argc] = NULL;
	execvp(bin, (char **)argv);
	fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
	_exit(127);
}

long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void print_log(const struct daemon *d)
{
	char line[1024];
	FILE *log = fopen(d->log, "r");
	if (!log)
		return;
	fprintf(stderr, "---- mshv-emu log (%s) ----\n", d->log);
	while (fgets(line, sizeof(line), log))
		fputs(line, stderr);
	fprintf(stderr, "---- end of log ----\n");
	fclose(log);
}

/* Wait until the log holds TEXT, or the deadline passes. */
bool log_wait_for(const struct daemon *d, const char *text, int deadline_ms)
{
	long end = now_ms() + deadline_ms;
	char buf[16384];
	do {
		FILE *log = fopen(d->log, "r");
		if (log) {
			size_t got = fread(buf, 1, sizeof(buf) - 1, log);
			buf[got] = '\0';
			fclose(log);
			if (strstr(buf, text))
				return true;
		}
		poll(NULL, 0, 20);
	} while (now_ms() < end);
	return false;
}

void mountpoint_of(const struct daemon *d, char *out, size_t size)
{
	snprintf(out, size, "%.*s/mnt", (int)sizeof(d->dir) - 1, d->dir);
}

/* The control socket of the daemon with PID: one per daemon process. */
void control_of(const struct daemon *d, pid_t pid, char *out, size_t size)
{
	snprintf(out, size, "%.*s/ctl-%d.sock", (int)sizeof(d->dir) - 1, d->dir, (int)pid);
}

void policy_path(const char *file, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", env_or("MSHV_EMU_POLICIES", "policies"), file);
}

/* Launch mshv-emu on D's name and directory; its stdout/stderr go to D's log. */
pid_t daemon_spawn(const struct daemon *d, const char *policy, int ready_fd)
{
	char mountpoint[96];
	mountpoint_of(d, mountpoint, sizeof(mountpoint));
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int log = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(log, STDOUT_FILENO);
		dup2(log, STDERR_FILENO);
		char fd_arg[16], control[128];
		snprintf(fd_arg, sizeof(fd_arg), "%d", ready_fd);
		control_of(d, getpid(), control, sizeof(control));
		if (front_is_run())
			spawn_run(d, policy, ready_fd, control);
		const char *bin = env_or("MSHV_EMU_BIN", "mshv-emu");
		const char *argv[32] = {bin, "--front", front_is_cuse() ? "cuse" : "fuse"};
		int argc = 3;
		argv[argc++] = "--name";
		argv[argc++] = d->name;
		argv[argc++] = "--mountpoint";
		argv[argc++] = mountpoint;
		argv[argc++] = "--control";
		argv[argc++] = control;
		if (d->control_group) {
			argv[argc++] = "--control-group";
			argv[argc++] = d->control_group;
		}
		if (ready_fd >= 0) {
			argv[argc++] = "--ready-fd";
			argv[argc++] = fd_arg;
		}
		if (policy) {
			argv[argc++] = "--policy";
			argv[argc++] = policy;
		}
		if (daemon_user(d)) {
			argv[argc++] = "--user";
			argv[argc++] = daemon_user(d);
		}
		for (size_t i = 0; d->args && d->args[i] && argc < 31; i++)
			argv[argc++] = d->args[i];
		/* Out of the bounding set, so not in what exec gives root either. */
		if (d->drop_ptrace && prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0) != 0) {
			fprintf(stderr, "drop CAP_SYS_PTRACE: %s\n", strerror(errno));
			_exit(127);
		}
		execvp(bin, (char **)argv);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Start the daemon serving POLICY (a path; NULL for the embedded default),
 * on a new name and directory, unless D already has them (a restart). */
void daemon_start(struct daemon *d, const char *policy)
{
	static unsigned serial;
	/* The kernel allows one seccomp listener in a process's filters: a
	 * process that joined a run cannot join (or start) another. */
	static bool joined;
	if (front_is_seccomp() && joined)
		cr_skip_test("seccomp: this test starts a second run, and a process joins "
			     "one (the kernel allows one listener per process: EBUSY)");
	joined = front_is_seccomp();
	if (!d->dir[0]) {
		snprintf(d->dir, sizeof(d->dir), "/tmp/mshv-live-XXXXXX");
		cr_assert_not_null(mkdtemp(d->dir), "mkdtemp: %s", strerror(errno));
		snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
		snprintf(d->name, sizeof(d->name), "mshv-t%d-%u", (int)getpid(), serial++);
		/* --user: the user makes its control socket and transcripts here,
		 * and unmounts DIR/mnt at exit. */
		const char *user = daemon_user(d);
		struct passwd *pw = user ? getpwnam(user) : NULL;
		cr_assert(!user || pw, "--user %s: no such user here", user);
		cr_assert(!pw || chown(d->dir, pw->pw_uid, pw->pw_gid) == 0, "chown %s: %s", d->dir,
			  strerror(errno));
	}
	d->pid = 0;
	d->node[0] = '\0';
	int ready[2];
	cr_assert_eq(pipe(ready), 0);
	d->pid = daemon_spawn(d, policy, ready[1]);
	close(ready[1]);
	/* Readiness is the daemon's word, read with a deadline: never a guess. */
	char line[512] = "";
	size_t used = 0;
	long end = now_ms() + READY_DEADLINE_MS;
	while (!strchr(line, '\n')) {
		long left = end - now_ms();
		struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t got = read(ready[0], line + used, sizeof(line) - 1 - used);
		if (got <= 0)
			break;
		used += (size_t)got;
		line[used] = '\0';
	}
	close(ready[0]);
	if (strncmp(line, "ready ", 6) || !strchr(line, '\n')) {
		print_log(d);
		cr_assert_fail("mshv-emu did not report readiness within %d ms (got \"%s\")",
			       READY_DEADLINE_MS, line);
	}
	line[strcspn(line, "\n")] = '\0';
	if (front_is_run()) {
		/* "ready /dev/mshv SOCKET ID MODE": this process joins the run. */
		char node[64], socket_name[128], id[96], mode[16];
		cr_assert_eq(
			sscanf(line, "ready %63s %127s %95s %15s", node, socket_name, id, mode), 4,
			"mshv-emu-run's command reported `%s`", line);
		if (front_is_seccomp()) {
			/* "ready /dev/mshv JOIN - MODE": the run's filter, here.
			 * After the run, the run's passthrough answers this
			 * process's calls, until it ends. */
			const char *what = "";
			int err = seccomp_join(socket_name, &what);
			cr_assert_eq(err, 0, "join the run: %s: %s", what, strerror(-err));
			snprintf(d->node, sizeof(d->node), "%s", node);
			return;
		}
		cr_assert_eq(setenv("MSHV_EMU_RUN_SOCKET", socket_name, 1), 0);
		cr_assert_eq(setenv("MSHV_EMU_RUN_ID", id, 1), 0);
		cr_assert_eq(setenv("MSHV_EMU_RUN_MODE", mode, 1), 0);
		snprintf(d->node, sizeof(d->node), "%s", node);
		return;
	}
	snprintf(d->node, sizeof(d->node), "%s", line + 6);
}

int daemon_stop(struct daemon *d)
{
	int status = -1;
	if (d->pid <= 0)
		return status;
	kill(d->pid, SIGTERM);
	long end = now_ms() + STOP_DEADLINE_MS;
	while (waitpid(d->pid, &status, WNOHANG) == 0) {
		if (now_ms() > end) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &status, 0);
			print_log(d);
			cr_expect_fail("mshv-emu did not stop within %d ms of SIGTERM",
				       STOP_DEADLINE_MS);
			break;
		}
		poll(NULL, 0, 10);
	}
	d->pid = 0;
	return status;
}

/* Stop D if it still runs (it must exit 0 on SIGTERM), print its log and
 * remove its scratch files. */
void daemon_cleanup(struct daemon *d)
{
	char mountpoint[96];
	mountpoint_of(d, mountpoint, sizeof(mountpoint));
	if (d->pid > 0) {
		int status = daemon_stop(d);
		bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		cr_expect(clean, "mshv-emu did not exit cleanly on SIGTERM (status 0x%x)", status);
		/* As root, or as --user through fusermount3: nothing left mounted. */
		cr_expect(!clean || front_is_cuse() || front_is_run() || !is_mounted(mountpoint),
			  "%s is still mounted after a clean stop", mountpoint);
	}
	/* criterion's fini cannot tell a failed test from a passed one: the log is
	 * short, so it is always printed (ctest shows it only on failure). */
	print_log(d);
	/* A daemon that crashed could not unmount: detach its dead mount. */
	umount2(mountpoint, MNT_DETACH);
	rmdir(mountpoint);
	/* The log, and control sockets a SIGKILLed daemon could not remove. */
	DIR *dir = opendir(d->dir);
	struct dirent *entry;
	while (dir && (entry = readdir(dir)))
		if (entry->d_name[0] != '.')
			unlinkat(dirfd(dir), entry->d_name, 0);
	if (dir)
		closedir(dir);
	rmdir(d->dir);
	memset(d, 0, sizeof(*d));
}

void teardown(void)
{
	daemon_cleanup(&daemon_under_test);
}

/* ---- one ioctl the way a VMM makes it ---- */

int do_ioctl(int fd, uint32_t cmd, enum abi_arg arg, uint32_t value)
{
	uint32_t u32 = value;
	struct mshv_create_partition partition = {0};
	char byte = 0;
	void *ptr;
	switch (arg) {
	case ARG_U32:
		ptr = &u32;
		break;
	case ARG_BAD_PTR:
		ptr = (void *)16; /* unmapped */
		break;
	case ARG_PARTITION:
		ptr = &partition;
		break;
	case ARG_BYTE:
		ptr = &byte;
		break;
	default:
		ptr = (void *)(uintptr_t)value;
		break;
	}
	int result = ioctl(fd, cmd, ptr);
	return result < 0 ? -errno : result;
}

int open_node(const struct daemon *d)
{
	int fd = open(d->node, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		print_log(d);
		cr_assert_fail("open %s: %s", d->node, strerror(errno));
	}
	return fd;
}

int command_finish(int fd, pid_t pid, char *output, size_t size)
{
	size_t used = 0;
	ssize_t got;
	while (used + 1 < size && (got = read(fd, output + used, size - 1 - used)) > 0)
		used += (size_t)got;
	output[used] = '\0';
	close(fd);
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int run_command(const char *const argv[], char *output, size_t size)
{
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	close(pipefd[1]);
	return command_finish(pipefd[0], pid, output, size);
}

int ctl(const struct daemon *d, char *out, size_t size, const char *const args[])
{
	char socket[128];
	const char *argv[16] = {env_or("MSHV_EMU_CTL", "mshvctl"), "--socket", socket};
	int argc = 3;
	control_of(d, d->pid, socket, sizeof(socket));
	for (int i = 0; args[i] && argc < 15; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	return run_command(argv, out, size);
}
