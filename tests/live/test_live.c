/*
 * test_live.c - the real daemon through the real kernel.
 *
 * Each test starts mshv-emu on the front end named by MSHV_EMU_FRONT (fuse
 * here; cuse where /dev/cuse exists, which is what tests/vm arranges), waits
 * for its --ready-fd line with a deadline, talks to the node with plain
 * open/ioctl/close from this process and from children, and stops it by its
 * pid.  Names and directories are unique per run.  The daemon's log is
 * printed when a test fails.
 *
 * It depends only on uapi/ and libc, like any client: the VM runner copies
 * it into a busybox initramfs as it is.
 *
 * Environment: MSHV_EMU_FRONT (fuse|cuse), MSHV_EMU_BIN, MSHV_EMU_PROBE,
 * MSHV_EMU_POLICIES (the policies/ directory).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "live.h"

/* Run every case of the ABI table for POLICY, each on a fresh fd. */
static void run_table(const char *policy)
{
	char path[512];
	unsigned cases = 0;
	policy_path(policy, path, sizeof(path));
	daemon_start(&daemon_under_test, path);
	for (size_t c = 0; c < ABI_CASE_COUNT; c++) {
		const struct abi_case *abi = &abi_cases[c];
		if (strcmp(abi->policy, policy))
			continue;
		cases++;
		int fd = open_node(&daemon_under_test);
		for (unsigned i = 0; i < ABI_MAX_STEPS && abi->steps[i].cmd; i++) {
			const struct abi_step *step = &abi->steps[i];
			/* Over seccomp only the driver's 0xB8 numbers leave the
			 * kernel; another type is the installed socket's. */
			if (front_is_seccomp() && _IOC_TYPE(step->cmd) != 0xB8)
				continue;
			int got = do_ioctl(fd, step->cmd, step->arg, step->value);
			/* A valid CREATE_PARTITION or CREATE_VTL is a new fd where the
			 * transport can pass one (preload), else the transport's errno. */
			struct stat made;
			if (front_is_run() && step->expect == -EOPNOTSUPP && got >= 0 &&
			    fstat(got, &made) == 0 && S_ISCHR(made.st_mode)) {
				close(got);
				continue;
			}
			cr_expect_eq(got, step->expect,
				     "%s: %s: step %u (cmd 0x%08X, arg %u): got %d, want %d",
				     policy, abi->name, i + 1, step->cmd, step->value, got,
				     step->expect);
		}
		close(fd);
	}
	cr_assert_gt(cases, 0, "no ABI case for %s", policy);
}

TestSuite(live, .fini = teardown, .timeout = 120);

Test(live, rfc_2020)
{
	run_table("rfc-2020.yaml");
}
Test(live, rfc_2021_v1)
{
	run_table("rfc-2021-v1.yaml");
}
Test(live, rfc_2021)
{
	run_table("rfc-2021.yaml");
}
Test(live, vtl)
{
	run_table("vtl.yaml");
}
Test(live, root_6_15)
{
	run_table("root-6.15.yaml");
}
Test(live, negotiated_default)
{
	run_table("default.yaml");
}
Test(live, backport)
{
	run_table("backport.yaml");
}
Test(live, unstable_core)
{
	run_table("unstable-core.yaml");
}
Test(live, no_negotiation)
{
	run_table("no-negotiation.yaml");
}

Test(live, embedded_default_serves_with_mode_0600)
{
	if (front_is_run())
		cr_skip_test("the daemon's own life: FUSE and CUSE");
	struct daemon *d = &daemon_under_test;
	daemon_start(d, NULL);
	struct stat st;
	cr_assert_eq(stat(d->node, &st), 0, "stat %s: %s", d->node, strerror(errno));
	cr_expect_eq(st.st_mode & 07777, 0600, "node mode %04o", st.st_mode & 07777);
	cr_expect(front_is_cuse() ? S_ISCHR(st.st_mode) : S_ISREG(st.st_mode));
	int fd = open_node(d);
	cr_expect_eq(do_ioctl(fd, RV, ARG_U32, 0), -MSHV_ENOTSUPP, "errno 524 reaches the caller");
	cr_expect_eq(do_ioctl(fd, RV, ARG_U32, 1), 0);
	cr_expect_eq(do_ioctl(fd, CE_NEG, ARG_U32, MSHV_CAP_REGISTER_PAGE), 1);
	close(fd);
	cr_expect(log_wait_for(d, "profile negotiated", 1000), "start line names the profile");
	cr_expect(log_wait_for(d, "sha256:", 1000), "start line carries the digest");
}

/* docs/abi.md, "The node itself": where the node differs from the driver's
 * misc device (major 10, dynamic minor, no mmap, noop llseek), per
 * transport.  A change here is a change to that section. */
Test(live, node_differs_from_the_driver_as_documented)
{
	struct daemon *d = &daemon_under_test;
	daemon_start(d, NULL);
	int fd = open_node(d);
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0, "fstat %s: %s", d->node, strerror(errno));
	errno = 0;
	cr_expect(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == ENODEV,
		  "MAP_SHARED: ENODEV, as the driver (%s)", strerror(errno));
	if (front_is_run()) {
		/* preload, seccomp: a character device at a fixed misc number */
		cr_expect(S_ISCHR(st.st_mode), "mode 0%o", st.st_mode);
		cr_expect(major(st.st_rdev) == 10 && minor(st.st_rdev) == 232, "rdev %u:%u",
			  major(st.st_rdev), minor(st.st_rdev));
	} else if (front_is_cuse()) {
		char sys[128];
		const char *name = strrchr(d->node, '/') + 1;
		cr_expect(S_ISCHR(st.st_mode), "mode 0%o", st.st_mode);
		cr_expect_neq(major(st.st_rdev), 10, "CUSE's major is its own, not misc's");
		snprintf(sys, sizeof(sys), "/sys/class/misc/%s", name);
		cr_expect_neq(access(sys, F_OK), 0, "%s exists", sys);
		errno = 0;
		cr_expect(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED &&
				  errno == ENODEV,
			  "MAP_PRIVATE: ENODEV (%s)", strerror(errno));
	} else {
		/* FUSE: a regular file that cannot seek, and whose private mapping
		 * is made but cannot be read (its page fault reads the file, which
		 * answers EINVAL: SIGBUS for a load, EFAULT for the kernel's copy,
		 * which is what is checked here, signal-free under any sanitizer). */
		cr_expect(S_ISREG(st.st_mode), "mode 0%o", st.st_mode);
		cr_expect_eq(st.st_rdev, 0);
		errno = 0;
		cr_expect(lseek(fd, 0, SEEK_SET) == -1 && errno == ESPIPE, "lseek: %s",
			  strerror(errno));
		void *map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
		cr_assert_neq(map, MAP_FAILED, "MAP_PRIVATE: %s", strerror(errno));
		int pipe_fds[2];
		cr_assert_eq(pipe(pipe_fds), 0, "pipe: %s", strerror(errno));
		errno = 0;
		cr_expect(write(pipe_fds[1], map, 1) == -1 && errno == EFAULT,
			  "reading the private mapping: %s, want EFAULT", strerror(errno));
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		munmap(map, 4096);
	}
	close(fd);
}

Test(live, sigint_and_sigterm_stop_cleanly_every_time)
{
	if (front_is_run())
		cr_skip_test("the daemon's own life: FUSE and CUSE");
	/* A clean stop on either signal, repeatedly.  (Linux gives a
	 * process-directed signal to the main thread when it does not block it,
	 * so this cannot force one onto a helper thread; front_thread_create is
	 * what keeps helpers from taking one.) */
	struct daemon *d = &daemon_under_test;
	for (int round = 0; round < 6; round++) {
		daemon_start(d, NULL);
		int fd = open_node(d);
		cr_expect_eq(do_ioctl(fd, RV, ARG_U32, 1), 0);
		close(fd);
		kill(d->pid, round % 2 ? SIGTERM : SIGINT);
		long end = now_ms() + STOP_DEADLINE_MS;
		int status = -1;
		while (waitpid(d->pid, &status, WNOHANG) == 0 && now_ms() < end)
			poll(NULL, 0, 10);
		if (!WIFEXITED(status)) {
			print_log(d);
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
		}
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "round %d: %s did not stop cleanly within %d ms (status 0x%x)", round,
			  round % 2 ? "SIGTERM" : "SIGINT", STOP_DEADLINE_MS, status);
		d->pid = 0;
		daemon_cleanup(d);
	}
}

Test(live, restart_after_sigkill_serves_again)
{
	if (front_is_run())
		cr_skip_test("the daemon's own life: FUSE and CUSE");
	/* A killed daemon leaves a dead FUSE mount (or, for CUSE, a node the
	 * kernel removes): the next start on the same name must serve. */
	struct daemon *d = &daemon_under_test;
	daemon_start(d, NULL);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
	daemon_start(d, NULL);
	int fd = open_node(d);
	cr_expect_eq(do_ioctl(fd, RV, ARG_U32, 1), 0);
	close(fd);
}

Test(live, second_daemon_on_the_same_node_is_refused)
{
	if (front_is_run())
		cr_skip_test("the daemon's own life: FUSE and CUSE");
	struct daemon *d = &daemon_under_test;
	daemon_start(d, NULL);
	pid_t second = daemon_spawn(d, NULL, -1);
	int status;
	long end = now_ms() + READY_DEADLINE_MS;
	while (waitpid(second, &status, WNOHANG) == 0) {
		if (now_ms() > end) {
			kill(second, SIGKILL);
			waitpid(second, &status, 0);
			cr_assert_fail("a second daemon on %s kept running", d->node);
		}
		poll(NULL, 0, 10);
	}
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);
	cr_expect(log_wait_for(d, front_is_cuse() ? "already exists" : "already served", 100));
	int fd = open_node(d);
	cr_expect_eq(do_ioctl(fd, RV, ARG_U32, 1), 0, "the first daemon still serves");
	close(fd);
}

Test(live, read_and_write_are_einval)
{
	if (front_is_seccomp())
		cr_skip_test("seccomp: read and write reach the installed socket "
			     "(docs/transports.md)");
	struct daemon *d = &daemon_under_test;
	daemon_start(d, NULL);
	int fd = open_node(d);
	char buf[8] = {0};
	errno = 0;
	cr_expect_eq(read(fd, buf, sizeof(buf)), -1);
	cr_expect_eq(errno, EINVAL, "read: %s", strerror(errno));
	errno = 0;
	cr_expect_eq(write(fd, buf, sizeof(buf)), -1);
	cr_expect_eq(errno, EINVAL, "write: %s", strerror(errno));
	close(fd);
}

/* ---- many clients at once ---- */

static int client_rounds(const struct daemon *d, int rounds, uint32_t version)
{
	for (int r = 0; r < rounds; r++) {
		int fd = open(d->node, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return 1;
		int bad = do_ioctl(fd, CE_NEG, ARG_U32, 1) != -EBADFD ||
			  do_ioctl(fd, RV, ARG_U32, 0) != -MSHV_ENOTSUPP ||
			  do_ioctl(fd, RV, ARG_U32, version) != 0 ||
			  do_ioctl(fd, CE_NEG, ARG_U32, MSHV_CAP_DR6_SHARED) !=
				  (version == 2 ? 1 : -EOPNOTSUPP) ||
			  do_ioctl(fd, RV, ARG_U32, version) != -EBADFD;
		close(fd);
		if (bad)
			return 1;
	}
	return 0;
}

Test(live, concurrent_clients_keep_their_own_versions)
{
	struct daemon *d = &daemon_under_test;
	daemon_start(d, NULL);
	enum {
		CLIENTS = 6,
		ROUNDS = 100
	};
	pid_t pids[CLIENTS];
	for (int i = 0; i < CLIENTS; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0)
			_exit(client_rounds(d, ROUNDS, 1 + i % 2));
	}
	/* Many fds open at once in this process too, alternating versions. */
	int fds[32];
	for (int i = 0; i < 32; i++) {
		fds[i] = open_node(d);
		cr_expect_eq(do_ioctl(fds[i], RV, ARG_U32, 1 + i % 2), 0);
	}
	for (int i = 0; i < 32; i++) {
		cr_expect_eq(do_ioctl(fds[i], CE_NEG, ARG_U32, MSHV_CAP_VTL_RETURN_ACTION),
			     i % 2 ? 1 : -EOPNOTSUPP, "fd %d", i);
		close(fds[i]);
	}
	for (int i = 0; i < CLIENTS; i++) {
		int status;
		waitpid(pids[i], &status, 0);
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "client %d saw a wrong answer (status 0x%x)", i, status);
	}
}

Test(live, killed_clients_do_not_disturb_others)
{
	struct daemon *d = &daemon_under_test;
	daemon_start(d, NULL);
	enum {
		VICTIMS = 8
	};
	for (int i = 0; i < VICTIMS; i++) {
		int started[2];
		cr_assert_eq(pipe(started), 0);
		pid_t victim = fork();
		cr_assert_geq(victim, 0);
		if (victim == 0) {
			close(started[0]);
			/* Say so once a round has gone through, then keep calling. */
			if (client_rounds(d, 1, 1) == 0 && write(started[1], "x", 1) == 1)
				client_rounds(d, 1000000, 1);
			_exit(0);
		}
		close(started[1]);
		struct pollfd pfd = {.fd = started[0], .events = POLLIN};
		char byte;
		cr_assert(poll(&pfd, 1, READY_DEADLINE_MS) == 1 && read(started[0], &byte, 1) == 1,
			  "victim %d never completed a round", i);
		close(started[0]);
		/* It is in its loop now: kill it wherever it is, mid-open or mid-ioctl;
		 * a few ms more each time spread where that is. */
		poll(NULL, 0, i);
		kill(victim, SIGKILL);
		waitpid(victim, NULL, 0);
		cr_expect_eq(client_rounds(d, 20, 2), 0, "a survivor saw a wrong answer");
	}
	int fd = open_node(d);
	cr_expect_eq(do_ioctl(fd, RV, ARG_U32, 2), 0);
	close(fd);
}

/* ---- reload ---- */

static void write_policy(const char *path, int register_page_value)
{
	FILE *file = fopen(path, "w");
	cr_assert_not_null(file);
	fprintf(file,
		"profile: negotiated\nversions: [1, 2]\ncapabilities:\n"
		"  - {name: REGISTER_PAGE, id: 1, value: %d}\n",
		register_page_value);
	fclose(file);
}

/* Poll fresh answers until capability 1 reads WANT, within a deadline. */
static bool wait_for_answer(const struct daemon *d, int want, int deadline_ms)
{
	long end = now_ms() + deadline_ms;
	do {
		int fd = open_node(d);
		do_ioctl(fd, RV, ARG_U32, 1);
		int got = do_ioctl(fd, CE_NEG, ARG_U32, 1);
		close(fd);
		if (got == want)
			return true;
		poll(NULL, 0, 20);
	} while (now_ms() < end);
	return false;
}

Test(live, sighup_reload_mid_run)
{
	struct daemon *d = &daemon_under_test;
	char path[256];
	snprintf(path, sizeof(path), "/tmp/mshv-reload-%d.yaml", (int)getpid());
	write_policy(path, 5);
	daemon_start(d, path);
	int old_fd = open_node(d);
	cr_assert_eq(do_ioctl(old_fd, RV, ARG_U32, 2), 0);
	cr_expect_eq(do_ioctl(old_fd, CE_NEG, ARG_U32, 1), 5);

	write_policy(path, 9);
	kill(d->pid, SIGHUP);
	cr_assert(wait_for_answer(d, 9, 5000), "the new policy did not serve within 5 s");
	/* Logged after the old policy's grace period, so later than it serves. */
	cr_expect(log_wait_for(d, "generation 2", 5000), "the reload logs its generation");
	/* The open fd keeps version 2 and answers from the new policy. */
	cr_expect_eq(do_ioctl(old_fd, CE_NEG, ARG_U32, 1), 9);
	cr_expect_eq(do_ioctl(old_fd, RV, ARG_U32, 1), -EBADFD);

	/* A broken file is rejected; the old policy keeps serving. */
	FILE *file = fopen(path, "w");
	fprintf(file, "profile: negotiated\nversions: [1, 2]\nbogus: 1\n");
	fclose(file);
	kill(d->pid, SIGHUP);
	cr_assert(log_wait_for(d, "rejected", 5000), "the broken reload was not reported");
	cr_expect(log_wait_for(d, ":3:1: error: unknown key `bogus`", 100),
		  "the log carries FILE:LINE:COL");
	cr_expect_eq(do_ioctl(old_fd, CE_NEG, ARG_U32, 1), 9);
	cr_expect(wait_for_answer(d, 9, 100));
	close(old_fd);
	unlink(path);
}

/* ---- the command line ---- */

Test(cli, unknown_option_is_usage_error)
{
	char out[4096];
	const char *argv[] = {env_or("MSHV_EMU_BIN", "mshv-emu"), "--bogus", NULL};
	cr_expect_eq(run_command(argv, out, sizeof(out)), 2);
	cr_expect(strstr(out, "unknown option `--bogus`"), "%s", out);
	cr_expect(strstr(out, "usage: mshv-emu"), "%s", out);
}

Test(cli, check_accepts_shipped_and_rejects_broken)
{
	char out[8192], good[512], bad[512];
	policy_path("vtl.yaml", good, sizeof(good));
	snprintf(bad, sizeof(bad), "/tmp/mshv-bad-%d.yaml", (int)getpid());
	FILE *file = fopen(bad, "w");
	fprintf(file, "profile: vtl\ncapabilities:\n  - {name: A, id: zero, value: 1}\n");
	fclose(file);
	const char *ok_argv[] = {env_or("MSHV_EMU_BIN", "mshv-emu"), "--check", good, NULL};
	cr_expect_eq(run_command(ok_argv, out, sizeof(out)), 0, "%s", out);
	const char *bad_argv[] = {env_or("MSHV_EMU_BIN", "mshv-emu"), "--check", good, bad, NULL};
	cr_expect_eq(run_command(bad_argv, out, sizeof(out)), 1);
	char want[600];
	snprintf(want, sizeof(want), "%s:1:1: error: profile vtl answers MSHV_CREATE_VTL", bad);
	cr_expect(strstr(out, want), "missing \"%s\" in:\n%s", want, out);
	snprintf(want, sizeof(want), "%s:3:19: error: capabilities[0].id: `zero` is not a number",
		 bad);
	cr_expect(strstr(out, want), "missing \"%s\" in:\n%s", want, out);
	unlink(bad);
}

Test(cli, cuse_front_without_cuse_names_the_module)
{
	if (access("/dev/cuse", F_OK) == 0)
		cr_skip_test("/dev/cuse exists here");
	char out[4096];
	/* No control socket: the default path is the machine's, and another
	 * daemon listening there would be refused first. */
	const char *argv[] = {
		env_or("MSHV_EMU_BIN", "mshv-emu"), "--front", "cuse", "--control", "", NULL};
	cr_expect_eq(run_command(argv, out, sizeof(out)), 1);
	cr_expect(strstr(out, "modprobe cuse"), "%s", out);
}

Test(cli, probe_reports_the_default_policy_as_json, .fini = teardown)
{
	struct daemon *d = &daemon_under_test;
	daemon_start(d, NULL);
	char out[16384];
	const char *argv[] = {env_or("MSHV_EMU_PROBE", "mshv-probe"), "--device", d->node, "--json",
			      NULL};
	cr_assert_eq(run_command(argv, out, sizeof(out)), 0, "%s", out);
	cr_expect(strstr(out, "{\"version\":1,\"accepted\":true}"), "%s", out);
	cr_expect(strstr(out, "{\"version\":0,\"accepted\":false,\"errno\":524,"
			      "\"errno_name\":\"ENOTSUPP\"}"),
		  "%s", out);
	cr_expect(strstr(out, "\"before_version\":{\"errno\":77,\"errno_name\":\"EBADFD\"}"), "%s",
		  out);
}

/* A node that answers none of the profile's ioctls (each is ENOTTY, no
 * such ioctl: here a root device probed as the 2020 RFC's) is no mshv device
 * to the probe: exit 1, saying so and what to do, as text and as JSON. */
Test(cli, probe_says_when_no_mshv_device_answers, .fini = teardown)
{
	struct daemon *d = &daemon_under_test;
	char path[512], out[4096];
	policy_path("root-6.15.yaml", path, sizeof(path));
	daemon_start(d, path);
	const char *probe = env_or("MSHV_EMU_PROBE", "mshv-probe");
	char want[1024];
	snprintf(want, sizeof(want),
		 "no mshv device answers at %s: each of its ioctls of profile "
		 "rfc-2020 got ENOTTY",
		 d->node);
	const char *argv[] = {probe, "--device", d->node, "--profile", "rfc-2020", NULL};
	cr_expect_eq(run_command(argv, out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, want) && strstr(out, "pass its --profile"), "want %s in %s", want,
		  out);
	const char *json[] = {probe, "--json", "--device", d->node, "--profile=rfc-2020", NULL};
	cr_expect_eq(run_command(json, out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "{\"error\":\"no mshv device answers at "), "%s", out);
	/* Probed as what it is, it answers. */
	const char *right[] = {probe, "--device", d->node, "--profile", "root-6.15", NULL};
	cr_expect_eq(run_command(right, out, sizeof(out)), 0, "%s", out);
}

/* The probe issues only the profile's ioctls and reports them, for each profile. */
Test(cli, probe_follows_each_profile, .fini = teardown)
{
	static const struct {
		const char *policy, *profile, *fragment;
	} probes[] = {
		{"rfc-2020.yaml", "rfc-2020", "{\"version\":0,\"accepted\":true}"},
		{"rfc-2021-v1.yaml", "rfc-2021",
		 "{\"version\":null,\"id\":1,\"name\":\"REGISTER_PAGE\",\"errno\":524,"
		 "\"errno_name\":\"ENOTSUPP\"}"},
		{"vtl.yaml", "vtl",
		 "\"create_vtl\":{\"cmd\":\"0x8001b81d\",\"errno\":1,\"errno_name\":\"EPERM\"}"},
		{"root-6.15.yaml", "root-6.15",
		 "\"create_partition\":{\"cmd\":\"0x4010b800\",\"errno\":95,"
		 "\"errno_name\":\"EOPNOTSUPP\"}"},
	};
	struct daemon *d = &daemon_under_test;
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		char path[512], out[16384];
		policy_path(probes[i].policy, path, sizeof(path));
		daemon_start(d, path);
		const char *argv[] = {env_or("MSHV_EMU_PROBE", "mshv-probe"),
				      "--device",
				      d->node,
				      "--profile",
				      probes[i].profile,
				      "--json",
				      NULL};
		cr_expect_eq(run_command(argv, out, sizeof(out)), 0, "%s: %s", probes[i].policy,
			     out);
		/* Over preload a valid CREATE_PARTITION is an fd, not the errno. */
		if (!front_is_run() || !strstr(probes[i].fragment, "EOPNOTSUPP"))
			cr_expect(strstr(out, probes[i].fragment) != NULL, "%s: no %s in:\n%s",
				  probes[i].policy, probes[i].fragment, out);
		daemon_cleanup(d);
	}
}

int main(int argc, char *argv[])
{
	const char *device = front_is_cuse() ? "/dev/cuse" : "/dev/fuse";
	if (access(device, R_OK | W_OK) != 0) {
		printf("SKIP: %s is not usable here (%s); the %s front cannot be tested\n", device,
		       strerror(errno), front_is_cuse() ? "cuse" : "fuse");
		return 77;
	}
	struct criterion_test_set *tests = criterion_initialize();
	int result = 0;
	if (criterion_handle_args(argc, argv, true))
		result = !criterion_run_all_tests(tests);
	criterion_finalize(tests);
	return result;
}
