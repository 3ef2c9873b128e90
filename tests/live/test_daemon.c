/*
 * test_daemon.c - mshv-emu as a service sees it: what its command line
 * refuses and how it says so, its log lines, the sd_notify protocol, its
 * pidfile and --print-capabilities.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "live.h"

static const char *emu_bin(void)
{
	return env_or("MSHV_EMU_BIN", "mshv-emu");
}

/* A scratch directory under /tmp, removed by the caller (rm_scratch). */
static void scratch(char *dir, size_t size)
{
	snprintf(dir, size, "/tmp/mshv-daemon-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void rm_scratch(const char *dir)
{
	char command[256];
	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	cr_expect_eq(system(command), 0);
}

/* ---- the command line ---- */

Test(daemon_cli, dash_h_is_help)
{
	char dash_h[8192], help[8192];
	const char *argv_h[] = {emu_bin(), "-h", NULL};
	const char *argv_help[] = {emu_bin(), "--help", NULL};
	cr_expect_eq(run_command(argv_h, dash_h, sizeof(dash_h)), 0, "%s", dash_h);
	cr_expect_eq(run_command(argv_help, help, sizeof(help)), 0, "%s", help);
	cr_expect_str_eq(dash_h, help);
	cr_expect(strstr(dash_h, "usage: mshv-emu"), "%s", dash_h);
}

/* --mountpoint /run would hide /run from every process: refused, nothing
 * mounted, what was there still there. */
Test(daemon_cli, non_empty_mountpoint_is_refused)
{
	if (access("/dev/fuse", R_OK | W_OK) != 0)
		cr_skip_test("/dev/fuse is not usable here");
	char dir[64], file[96], out[4096];
	scratch(dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/keep-me", dir);
	int fd = open(file, O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	const char *argv[] = {emu_bin(), "--front",   "fuse", "--mountpoint",
			      dir,	 "--control", "",     NULL};
	cr_expect_eq(run_command(argv, out, sizeof(out)), 1, "%s", out);
	char want[256];
	snprintf(want, sizeof(want),
		 "--mountpoint %s: not empty (it holds `keep-me`), and the mount would hide", dir);
	cr_expect(strstr(out, want), "missing \"%s\" in:\n%s", want, out);
	cr_expect(strstr(out, "give an empty directory"), "%s", out);
	cr_expect(!strstr(out, "stopped"), "it never started:\n%s", out);
	cr_expect(!is_mounted(dir), "%s was mounted", dir);
	cr_expect_eq(access(file, F_OK), 0, "%s is hidden or gone", file);
	rm_scratch(dir);
}

Test(daemon_cli, mountpoint_that_is_a_file_is_refused)
{
	char dir[64], file[96], out[4096];
	scratch(dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/file", dir);
	int fd = open(file, O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	const char *argv[] = {emu_bin(), "--front",   "fuse", "--mountpoint",
			      file,	 "--control", "",     NULL};
	cr_expect_eq(run_command(argv, out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "file: not a directory; give an empty directory"), "%s", out);
	rm_scratch(dir);
}

Test(daemon_cli, missing_policy_says_no_such_file)
{
	char out[4096];
	const char *argv[] = {emu_bin(),   "--policy", "/nonexistent/mshv.yaml",
			      "--control", "",	       NULL};
	cr_expect_eq(run_command(argv, out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "/nonexistent/mshv.yaml: error: no such file; give the path of a "
			      "policy file"),
		  "%s", out);
	cr_expect(!strstr(out, "invalid policy"), "a missing file is not invalid:\n%s", out);
	cr_expect(!strstr(out, "stopped"), "%s", out);
}

Test(daemon_cli, directory_policy_says_directory)
{
	char dir[64], out[4096];
	scratch(dir, sizeof(dir));
	const char *argv[] = {emu_bin(), "--policy", dir, "--control", "", NULL};
	cr_expect_eq(run_command(argv, out, sizeof(out)), 1, "%s", out);
	char want[160];
	snprintf(want, sizeof(want),
		 "%s: error: a directory, not a regular file; give the path of a policy file", dir);
	cr_expect(strstr(out, want), "missing \"%s\" in:\n%s", want, out);
	cr_expect(!strstr(out, "Input/output error"), "%s", out);
	cr_expect(!strstr(out, "invalid policy"), "%s", out);
	rm_scratch(dir);
}

/* An invalid policy: each error as FILE:LINE:COL, then that nothing serves. */
Test(daemon_cli, invalid_policy_names_line_and_column)
{
	char dir[64], path[96], out[4096];
	scratch(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	FILE *file = fopen(path, "w");
	cr_assert_not_null(file);
	fprintf(file, "profile: vtl\n");
	fclose(file);
	const char *argv[] = {emu_bin(), "--policy", path, "--control", "", NULL};
	cr_expect_eq(run_command(argv, out, sizeof(out)), 1, "%s", out);
	char want[256];
	snprintf(want, sizeof(want), "%s:1:1: error: profile vtl answers MSHV_CREATE_VTL", path);
	cr_expect(strstr(out, want), "missing \"%s\" in:\n%s", want, out);
	snprintf(want, sizeof(want), "%s: not serving an invalid policy; fix the errors above",
		 path);
	cr_expect(strstr(out, want), "missing \"%s\" in:\n%s", want, out);
	rm_scratch(dir);
}

Test(daemon_cli, cpu_that_does_not_exist_names_those_that_do)
{
	char out[4096];
	const char *argv[] = {emu_bin(), "--cpu", "1000", "--control", "", NULL};
	cr_expect_eq(run_command(argv, out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "--cpu 1000: no CPU 1000 here; this process may run on CPU"), "%s",
		  out);
	cr_expect(strstr(out, "pick among them"), "%s", out);
	cr_expect(!strstr(out, "Invalid argument"), "%s", out);
	/* One of several missing: not quietly dropped. */
	const char *some[] = {emu_bin(), "--cpu", "0,1000-1001", "--control", "", NULL};
	cr_expect_eq(run_command(some, out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "no CPUs 1000-1001 here"), "%s", out);
	/* Online, but not for this process: said so, not "no CPU". */
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || access("/usr/bin/taskset", X_OK) != 0)
		return;
	const char *barred[] = {"/usr/bin/taskset", "-c", "0", emu_bin(), "--cpu", "1",
				"--control",	    "",	  NULL};
	cr_expect_eq(run_command(barred, out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "--cpu 1: CPU 1 is not this process's (taskset, or a cgroup's "
			      "cpuset); this process may run on CPU 0: pick among them"),
		  "%s", out);
}

/* "stopped" only after it served. */
Test(daemon_cli, stopped_only_after_serving, .fini = teardown)
{
	if (front_is_run())
		cr_skip_test("mshv-emu-run's device is not the daemon");
	struct daemon *d = &daemon_under_test;
	daemon_start(d, NULL);
	int status = daemon_stop(d);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
	cr_expect(log_wait_for(d, "mshv-emu: stopped", 1000));
}

/* ---- log lines ---- */

/* YYYY-MM-DDTHH:MM:SS.mmmZ, then a space. */
static bool starts_with_timestamp(const char *line)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
	for (size_t i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)line[i]) : line[i] != shape[i])
			return false;
	return true;
}

/* The first line of FILE into LINE. */
static void first_line(const char *file, char *line, size_t size)
{
	FILE *log = fopen(file, "r");
	cr_assert_not_null(log, "%s: %s", file, strerror(errno));
	if (!fgets(line, (int)size, log))
		line[0] = '\0';
	fclose(log);
}

/* The line of FILE that holds TEXT into LINE ("" if none). */
static void line_with(const char *file, const char *text, char *line, size_t size)
{
	FILE *log = fopen(file, "r");
	cr_assert_not_null(log, "%s: %s", file, strerror(errno));
	while (fgets(line, (int)size, log))
		if (strstr(line, text))
			break;
	if (!strstr(line, text))
		line[0] = '\0';
	fclose(log);
}

Test(daemon_log, lines_start_with_a_utc_timestamp, .fini = teardown)
{
	if (front_is_run())
		cr_skip_test("mshv-emu-run's device is not the daemon");
	unsetenv("JOURNAL_STREAM");
	struct daemon *d = &daemon_under_test;
	daemon_start(d, NULL);
	char line[1024];
	line_with(d->log, "serving", line, sizeof(line));
	cr_expect(starts_with_timestamp(line), "no timestamp: %s", line);
	cr_expect(strstr(line, "Z mshv-emu: serving "), "%s", line);
	/* UTC, and now (within a minute). */
	struct tm tm = {0};
	cr_assert(strptime(line, "%Y-%m-%dT%H:%M:%S", &tm), "%s", line);
	time_t logged = timegm(&tm), now = time(NULL);
	cr_expect(logged <= now && now - logged < 60, "logged at %lld, now %lld", (long long)logged,
		  (long long)now);
}

Test(daemon_log, journal_style_gives_syslog_priorities, .fini = teardown)
{
	if (front_is_run())
		cr_skip_test("mshv-emu-run's device is not the daemon");
	static const char *const args[] = {"--log", "journal", NULL};
	struct daemon *d = &daemon_under_test;
	d->args = args;
	daemon_start(d, NULL);
	char line[1024];
	line_with(d->log, "serving", line, sizeof(line));
	cr_expect(!strncmp(line, "<6>serving ", 11), "%s", line);
	/* An error is <3>, a usage error is not a log line. */
	char out[4096];
	const char *argv[] = {emu_bin(),	   "--log",	"journal", "--policy",
			      "/nonexistent.yaml", "--control", "",	   NULL};
	cr_expect_eq(run_command(argv, out, sizeof(out)), 1, "%s", out);
	cr_expect(!strncmp(out, "<3>/nonexistent.yaml: error: no such file", 41), "%s", out);
	const char *plain[] = {emu_bin(),	    "--log",	 "plain", "--policy",
			       "/nonexistent.yaml", "--control", "",	  NULL};
	cr_expect_eq(run_command(plain, out, sizeof(out)), 1, "%s", out);
	cr_expect(!strncmp(out, "mshv-emu: /nonexistent.yaml: error: no such file", 48), "%s", out);
	const char *bad[] = {emu_bin(), "--log", "syslog", NULL};
	cr_expect_eq(run_command(bad, out, sizeof(out)), 2, "%s", out);
	cr_expect(strstr(out, "--log syslog: expected auto, time, journal or plain"), "%s", out);
}

/* mshv-emu with stderr on FILE and JOURNAL_STREAM set to STREAM (NULL:
 * that file's own DEV:INO, as systemd sets it); the first line it logs. */
static void log_with_journal_stream(const char *stream, char *line, size_t size)
{
	char file[] = "/tmp/mshv-journal-XXXXXX";
	int fd = mkstemp(file);
	cr_assert_geq(fd, 0);
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	char value[64];
	if (stream)
		snprintf(value, sizeof(value), "%s", stream);
	else
		snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		setenv("JOURNAL_STREAM", value, 1);
		execlp(emu_bin(), emu_bin(), "--policy", "/nonexistent.yaml", "--control", "",
		       (char *)NULL);
		_exit(127);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);
	close(fd);
	first_line(file, line, size);
	unlink(file);
}

Test(daemon_log, journal_stream_on_stderr_selects_journal_style)
{
	char line[1024];
	log_with_journal_stream(NULL, line, sizeof(line));
	cr_expect(!strncmp(line, "<3>/nonexistent.yaml: error: no such file", 41), "%s", line);
	/* Another stream (a child's stderr was redirected): timestamps. */
	log_with_journal_stream("1:1", line, sizeof(line));
	cr_expect(starts_with_timestamp(line), "%s", line);
	log_with_journal_stream("garbage", line, sizeof(line));
	cr_expect(starts_with_timestamp(line), "%s", line);
}

/* ---- sd_notify ---- */

/* A service manager's end of NOTIFY_SOCKET: a datagram socket, bound to an
 * abstract name or a path, named in NOTIFY_SOCKET for the daemons this
 * process starts. */
struct receiver {
	int fd;
	char name[108]; /* as NOTIFY_SOCKET spells it */
	char dir[64];	/* a path socket's directory, or "" */
};

static void receiver_open(struct receiver *r, bool abstract)
{
	static unsigned serial;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	socklen_t size;
	r->dir[0] = '\0';
	if (abstract) {
		snprintf(r->name, sizeof(r->name), "@mshv-notify-%d-%u", (int)getpid(), serial++);
		memcpy(addr.sun_path, r->name, strlen(r->name));
		addr.sun_path[0] = '\0';
		size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(r->name));
	} else {
		scratch(r->dir, sizeof(r->dir));
		snprintf(r->name, sizeof(r->name), "%s/notify.sock", r->dir);
		snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", r->name);
		size = sizeof(addr);
	}
	r->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(r->fd, 0);
	cr_assert_eq(bind(r->fd, (struct sockaddr *)&addr, size), 0, "bind %s: %s", r->name,
		     strerror(errno));
	cr_assert_eq(setenv("NOTIFY_SOCKET", r->name, 1), 0);
}

static void receiver_close(struct receiver *r)
{
	unsetenv("NOTIFY_SOCKET");
	close(r->fd);
	if (r->dir[0])
		rm_scratch(r->dir);
}

/* The next datagram, waited for until DEADLINE_MS; false when none came. */
static bool receive(struct receiver *r, char *message, size_t size, int deadline_ms)
{
	struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
	if (poll(&pfd, 1, deadline_ms) != 1)
		return false;
	ssize_t got = recv(r->fd, message, size - 1, 0);
	if (got < 0)
		return false;
	message[got] = '\0';
	return true;
}

/* The next datagram, which must hold every one of WANT (NULL-terminated). */
static void expect_message(struct receiver *r, const struct daemon *d, const char *const want[])
{
	char message[2048];
	if (!receive(r, message, sizeof(message), 10000)) {
		print_log(d);
		cr_assert_fail("no datagram on NOTIFY_SOCKET within 10 s (wanted %s)", want[0]);
	}
	for (size_t i = 0; want[i]; i++)
		cr_expect(strstr(message, want[i]), "no \"%s\" in the datagram:\n%s", want[i],
			  message);
}

/* READY=1 once serving; RELOADING=1 then READY=1 around each reload, good
 * or bad, by SIGHUP or mshvctl; STOPPING=1 at the stop. */
Test(daemon_notify, ready_reloading_stopping_over_an_abstract_socket, .fini = teardown)
{
	if (front_is_run())
		cr_skip_test("mshv-emu-run's device is not the daemon");
	struct receiver r;
	receiver_open(&r, true);
	struct daemon *d = &daemon_under_test;
	char policy[512], status[1024];
	policy_path("default.yaml", policy, sizeof(policy));
	daemon_start(d, policy);
	unsetenv("NOTIFY_SOCKET");
	snprintf(status, sizeof(status), "STATUS=Serving %s: front %s, profile negotiated", d->node,
		 front_is_cuse() ? "cuse" : "fuse");
	expect_message(&r, d, (const char *[]){"READY=1", status, "generation 1", NULL});

	kill(d->pid, SIGHUP);
	expect_message(&r, d,
		       (const char *[]){"RELOADING=1\n", "MONOTONIC_USEC=", "STATUS=Reloading ",
					"default.yaml", NULL});
	expect_message(&r, d, (const char *[]){"READY=1", "STATUS=Serving ", "generation 2", NULL});

	char bad[1024], out[4096];
	snprintf(bad, sizeof(bad), "%s/bad.yaml", d->dir);
	FILE *file = fopen(bad, "w");
	cr_assert_not_null(file);
	fprintf(file, "profile: nonsense\n");
	fclose(file);
	cr_expect_eq(ctl(d, out, sizeof(out), (const char *[]){"reload", bad, NULL}), 1, "%s", out);
	expect_message(&r, d, (const char *[]){"RELOADING=1\n", bad, NULL});
	expect_message(&r, d,
		       (const char *[]){"READY=1", "STATUS=Reload of ",
					"rejected (see the log); "
					"still serving ",
					"generation 2", NULL});

	int stopped = daemon_stop(d);
	cr_expect(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0, "status 0x%x", stopped);
	expect_message(&r, d, (const char *[]){"STOPPING=1", NULL});
	receiver_close(&r);
}

Test(daemon_notify, ready_over_a_path_socket, .fini = teardown)
{
	if (front_is_run())
		cr_skip_test("mshv-emu-run's device is not the daemon");
	struct receiver r;
	receiver_open(&r, false);
	struct daemon *d = &daemon_under_test;
	daemon_start(d, NULL);
	unsetenv("NOTIFY_SOCKET");
	expect_message(&r, d, (const char *[]){"READY=1", "STATUS=Serving ", d->node, NULL});
	daemon_stop(d);
	expect_message(&r, d, (const char *[]){"STOPPING=1", NULL});
	receiver_close(&r);
}

/* A NOTIFY_SOCKET nothing listens on: said once, and the daemon serves. */
Test(daemon_notify, unreachable_socket_is_logged_and_ignored, .fini = teardown)
{
	if (front_is_run())
		cr_skip_test("mshv-emu-run's device is not the daemon");
	setenv("NOTIFY_SOCKET", "@mshv-notify-nobody-listens", 1);
	struct daemon *d = &daemon_under_test;
	daemon_start(d, NULL);
	unsetenv("NOTIFY_SOCKET");
	cr_expect(log_wait_for(d, "NOTIFY_SOCKET=@mshv-notify-nobody-listens: Connection refused",
			       1000));
	cr_expect(log_wait_for(d, "serving ", 1000));
}

/* ---- --pidfile ---- */

/* FILE's content as a number, or -1. */
static long pid_in(const char *file)
{
	FILE *f = fopen(file, "r");
	long pid = -1;
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = -1;
		fclose(f);
	}
	return pid;
}

Test(daemon_pidfile, written_locked_and_removed, .fini = teardown)
{
	if (front_is_run())
		cr_skip_test("mshv-emu-run's device is not the daemon");
	char dir[64], pidfile[96], out[4096];
	scratch(dir, sizeof(dir));
	chmod(dir, 0755); /* --user's daemon removes it: the directory is root's */
	snprintf(pidfile, sizeof(pidfile), "%s/mshv-emu.pid", dir);
	const char *args[] = {"--pidfile", pidfile, NULL};
	struct daemon *d = &daemon_under_test;
	d->args = args;
	daemon_start(d, NULL);
	struct stat st;
	cr_assert_eq(stat(pidfile, &st), 0, "%s: %s", pidfile, strerror(errno));
	cr_expect_eq(st.st_mode & 07777, 0644, "mode %04o", st.st_mode & 07777);
	cr_expect_eq(pid_in(pidfile), (long)d->pid);

	/* A second daemon on the same pidfile is refused, and leaves it be. */
	const char *argv[] = {emu_bin(), "--pidfile", pidfile,	      "--control",	  "",
			      "--front", "fuse",      "--mountpoint", "/nonexistent/mnt", NULL};
	cr_expect_eq(run_command(argv, out, sizeof(out)), 1, "%s", out);
	char want[200];
	snprintf(want, sizeof(want),
		 "--pidfile %s: mshv-emu pid %d is running with this pidfile; stop it, or pick "
		 "another --pidfile",
		 pidfile, (int)d->pid);
	cr_expect(strstr(out, want), "missing \"%s\" in:\n%s", want, out);
	cr_expect_eq(pid_in(pidfile), (long)d->pid, "the refused daemon touched the pidfile");

	int status = daemon_stop(d);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
	if (daemon_user(d)) /* as the user it may not remove a file in root's directory */
		cr_expect(log_wait_for(d, "cannot remove it as uid", 1000));
	else
		cr_expect_neq(access(pidfile, F_OK), 0, "%s outlived the daemon", pidfile);
	rm_scratch(dir);
}

/* One a killed daemon left (nothing holds its lock) is replaced. */
Test(daemon_pidfile, stale_one_is_replaced, .fini = teardown)
{
	if (front_is_run())
		cr_skip_test("mshv-emu-run's device is not the daemon");
	char dir[64], pidfile[96];
	scratch(dir, sizeof(dir));
	snprintf(pidfile, sizeof(pidfile), "%s/mshv-emu.pid", dir);
	FILE *f = fopen(pidfile, "w");
	cr_assert_not_null(f);
	fprintf(f, "999999999\n");
	fclose(f);
	const char *args[] = {"--pidfile", pidfile, NULL};
	struct daemon *d = &daemon_under_test;
	d->args = args;
	daemon_start(d, NULL);
	cr_expect_eq(pid_in(pidfile), (long)d->pid);
	cr_expect(log_wait_for(
		d, "replacing a stale pidfile (it says `999999999`, and no mshv-emu holds it)",
		1000));
	daemon_stop(d);
	rm_scratch(dir);
}

Test(daemon_pidfile, symlink_and_missing_directory_are_refused)
{
	char dir[64], link[96], target[96], out[4096];
	scratch(dir, sizeof(dir));
	snprintf(link, sizeof(link), "%s/link.pid", dir);
	snprintf(target, sizeof(target), "%s/target", dir);
	cr_assert_eq(symlink(target, link), 0);
	const char *argv[] = {emu_bin(), "--pidfile", link, "--control", "", NULL};
	cr_expect_eq(run_command(argv, out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "link.pid: a symlink, which is not followed"), "%s", out);
	cr_expect_neq(access(target, F_OK), 0, "the symlink was followed");
	const char *missing[] = {emu_bin(),   "--pidfile", "/nonexistent/mshv-emu.pid",
				 "--control", "",	   NULL};
	cr_expect_eq(run_command(missing, out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "--pidfile /nonexistent/mshv-emu.pid: no such directory"), "%s", out);
	rm_scratch(dir);
}

/* ---- --print-capabilities ---- */

Test(daemon_cli, print_capabilities_is_one_json_object)
{
	char out[8192], file[] = "/tmp/mshv-caps-XXXXXX";
	/* Checked by a JSON parser: the VM's busybox root has none. */
	const char *python[] = {"python3", "-c", "", NULL};
	if (run_command(python, out, sizeof(out)) == 127)
		cr_skip_test("no python3 here to parse the JSON (the VM's root is busybox)");
	const char *argv[] = {emu_bin(), "--print-capabilities", NULL};
	cr_assert_eq(run_command(argv, out, sizeof(out)), 0, "%s", out);
	int fd = mkstemp(file);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, out, strlen(out)), (ssize_t)strlen(out));
	close(fd);
	/* Parsed by a JSON parser, not by eye. */
	const char *check[] = {"python3", "-m", "json.tool", file, NULL};
	char parsed[16384];
	cr_expect_eq(run_command(check, parsed, sizeof(parsed)), 0, "%s\n%s", out, parsed);
	const char *script =
		"import json, sys\n"
		"caps = json.load(open(sys.argv[1]))\n"
		"assert caps['name'] == 'mshv-emu', caps\n"
		"assert caps['version'], caps\n"
		"assert set(caps['fronts']) == {'cuse', 'fuse'}, caps\n"
		"assert set(caps['usable_fronts']) <= {'cuse', 'fuse'}, caps\n"
		"assert {'preload', 'seccomp'} <= set(caps['transports']), caps\n"
		"assert {'negotiated', 'rfc-2020', 'microsoft'} <= set(caps['profiles']), caps\n"
		"assert {'sd-notify', 'pidfile', 'reload', 'faults', 'transcript',\n"
		"        'control-socket', 'log-journal'} <= set(caps['features']), caps\n";
	const char *keys[] = {"python3", "-c", script, file, NULL};
	cr_expect_eq(run_command(keys, parsed, sizeof(parsed)), 0, "%s\n%s", out, parsed);
	cr_expect_eq(strchr(out, '\n'), out + strlen(out) - 1, "not one line: %s", out);
	unlink(file);
}
