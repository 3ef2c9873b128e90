/*
 * test_run.c - mshv-emu-run as its users run it: a command, its exit
 * status, what it saw of /dev/mshv (run-client checks that from inside),
 * and what is left on the host afterwards.  No root needed but for the
 * test that drops to an unprivileged user.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

static const char *env_path(const char *name)
{
	const char *value = getenv(name);
	cr_assert_not_null(value, "%s is not set (ctest sets it)", name);
	return value;
}

static char output[1 << 16];

/* Run ARGV; its stdout and stderr into `output`; its exit status (128+N
 * for a signal). */
static int run_argv(const char *const argv[])
{
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	close(pipefd[1]);
	size_t used = 0;
	ssize_t got;
	char sink[4096];
	while ((got = read(pipefd[0], used + 1 < sizeof(output) ? output + used : sink,
			   used + 1 < sizeof(output) ? sizeof(output) - 1 - used : sizeof(sink))) >
	       0)
		if (used + 1 < sizeof(output))
			used += (size_t)got;
	output[used] = '\0';
	close(pipefd[0]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* mshv-emu-run ARGS... (NULL-terminated), with policies/POLICY if not NULL. */
static int run(const char *policy, ...)
{
	const char *argv[32] = {env_path("MSHV_EMU_RUN")};
	int argc = 1;
	char path[512];
	if (policy) {
		snprintf(path, sizeof(path), "%s/%s", env_path("MSHV_EMU_POLICIES"), policy);
		argv[argc++] = "--policy";
		argv[argc++] = path;
	}
	va_list ap;
	va_start(ap, policy);
	const char *arg;
	while ((arg = va_arg(ap, const char *)) && argc < 31)
		argv[argc++] = arg;
	va_end(ap);
	argv[argc] = NULL;
	return run_argv(argv);
}

static const char *client(void)
{
	return env_path("RUN_CLIENT");
}

static void expect_no_device_on_the_host(void)
{
	struct stat st;
	cr_expect(stat("/dev/mshv", &st) != 0 && errno == ENOENT,
		  "/dev/mshv exists on the host after the run");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/* A file from the mkstemp TEMPLATE (mode 0600), holding TEXT if not NULL. */
static void temp_file(char *template, const char *text)
{
	int fd = mkstemp(template);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	close(fd);
	if (text)
		write_file(template, text);
}

/* The text of the file at PATH (up to 64 KiB), which is then removed. */
static const char *take_file(const char *path)
{
	static char text[1 << 16];
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	text[len] = '\0';
	fclose(f);
	unlink(path);
	return text;
}

TestSuite(run, .timeout = 120);

Test(run, crate_sequence_reaches_a_vp_on_real_fds)
{
	/* policies/microsoft.yaml: PROCESSOR_FEATURES0 and four VMM capability
	 * bits (map_gpa_preserve_adjustable, vmm_can_provide_overlay_gpfn,
	 * vp_affinity_property, assignable_synthetic_proc_features: 0x17). */
	char trace[] = "/tmp/mshv-run-trace-XXXXXX";
	temp_file(trace, NULL);
	int status = run("microsoft.yaml", "--transport", "preload", "--trace", trace, "--",
			 client(), "crate", "0x00F1FFFF7FFFFFFF", "0x17", NULL);
	cr_expect_eq(status, 0, "run-client crate: %d\n%s", status, output);
	/* The transcript shows every call, the partition's included. */
	const char *text = take_file(trace);
	const char *wanted[] = {
		"\"name\":\"GET_PARTITION_PROPERTY_EX\"", "\"ioctl\":\"MSHV_CREATE_PARTITION\"",
		"\"name\":\"SET_PARTITION_PROPERTY\"",	  "\"ioctl\":\"MSHV_INITIALIZE_PARTITION\"",
		"\"ioctl\":\"MSHV_CREATE_VP\"",		  "\"event\":\"release\""};
	for (size_t i = 0; i < sizeof(wanted) / sizeof(*wanted); i++)
		cr_expect(strstr(text, wanted[i]), "the transcript has no %s:\n%s", wanted[i],
			  text);
	expect_no_device_on_the_host();
}

Test(run, dup_fork_and_exec_share_one_session)
{
	int status = run(NULL, "--", client(), "fds", NULL);
	cr_expect_eq(status, 0, "%s", output);
}

Test(run, threads_racing_request_version_on_one_fd)
{
	int status = run(NULL, "--", client(), "threads", "16", NULL);
	cr_expect_eq(status, 0, "%s", output);
}

Test(run, a_client_killed_mid_call_leaves_the_device_serving)
{
	char policy[] = "/tmp/mshv-run-hang-XXXXXX";
	temp_file(policy, "profile: negotiated\nversions: [1, 2]\n"
			  "capabilities: [{name: A, id: 1, value: 1}]\n"
			  "faults:\n  rules:\n"
			  "    - {name: hang-first, match: {ioctl: CHECK_EXTENSION},\n"
			  "       when: {once: true}, action: {hang: true}}\n");
	const char *argv[] = {env_path("MSHV_EMU_RUN"), "--policy", policy, "--", client(),
			      "killed-mid-call",	NULL};
	int status = run_argv(argv);
	unlink(policy);
	cr_expect_eq(status, 0, "%s", output);
}

Test(run, the_node_is_a_character_device_and_nothing_else_changes)
{
	cr_expect_eq(run(NULL, "--", client(), "node", "0600", NULL), 0, "%s", output);
	/* The policy's mode is the node's. */
	char policy[] = "/tmp/mshv-run-mode-XXXXXX";
	temp_file(policy, "profile: negotiated\nversions: [1]\ndevice: {mode: \"0640\"}\n");
	const char *argv[] = {
		env_path("MSHV_EMU_RUN"), "--policy", policy, "--", client(), "node", "0640", NULL};
	int status = run_argv(argv);
	unlink(policy);
	cr_expect_eq(status, 0, "%s", output);
}

Test(run, hide_kvm_makes_dev_kvm_absent)
{
	cr_expect_eq(run(NULL, "--hide-kvm", "--", client(), "hidden-kvm", NULL), 0, "%s", output);
	/* Without it, /dev/kvm is the host's, whatever that is. */
	struct stat host;
	bool host_has_kvm = stat("/dev/kvm", &host) == 0;
	int status = run(NULL, "--", "sh", "-c", "test -e /dev/kvm", NULL);
	cr_expect_eq(status, host_has_kvm ? 0 : 1, "without --hide-kvm: %s", output);
}

Test(run, the_device_dying_is_reported_and_nothing_hangs)
{
	/* run-client itself exits 0 when its calls failed as they should. */
	int status = run(NULL, "--", client(), "device-dies", NULL);
	cr_expect_eq(status, 1, "the run's status: %d\n%s", status, output);
	cr_expect(strstr(output, "the device") && strstr(output, "signal 9"),
		  "mshv-emu-run says the device died: %s", output);
	cr_expect_null(strstr(output, "run-client:"), "a check failed inside: %s", output);
}

Test(run, sighup_reloads_the_runs_device)
{
	char policy[] = "/tmp/mshv-run-reload-XXXXXX";
	temp_file(policy, "profile: negotiated\nversions: [1]\n"
			  "capabilities: [{name: A, id: 1, value: 1}]\n");
	char script[1024];
	snprintf(
		script, sizeof(script),
		"printf 'profile: negotiated\\nversions: [1]\\ncapabilities: "
		"[{name: A, id: 1, value: 5}]\\n' > %s && kill -HUP $PPID && exec %s await-cap 1 5",
		policy, client());
	const char *argv[] = {
		env_path("MSHV_EMU_RUN"), "--policy", policy, "--", "sh", "-c", script, NULL};
	int status = run_argv(argv);
	unlink(policy);
	cr_expect_eq(status, 0, "%s", output);
	cr_expect(strstr(output, "mshv-emu-run: reload: serving") &&
			  strstr(output, "as generation 2"),
		  "says so: %s", output);
}

Test(run, mshvctl_sees_every_process_of_the_run)
{
	char dir[] = "/tmp/mshv-run-ctl-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char sock[128], script[2048];
	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	/* Two processes, one device: the counters add up; then a hung call
	 * is released by mshvctl. */
	snprintf(script, sizeof(script),
		 "%s version 1 && %s version 2 && %s --socket %s stats && %s --socket %s status",
		 client(), client(), env_path("MSHV_EMU_CTL"), sock, env_path("MSHV_EMU_CTL"),
		 sock);
	const char *argv[] = {
		env_path("MSHV_EMU_RUN"), "--control", sock, "--", "sh", "-c", script, NULL};
	int status = run_argv(argv);
	cr_expect_eq(status, 0, "%s", output);
	const char *row = strstr(output, "MSHV_REQUEST_VERSION");
	unsigned calls = 0;
	cr_expect(row && sscanf(row, "%*s %*s %u", &calls) == 1 && calls == 2,
		  "REQUEST_VERSION counted %u times over two processes: %s", calls, output);
	cr_expect(strstr(output, "front       preload"), "%s", output);
	cr_expect_neq(access(sock, F_OK), 0, "the control socket is removed at the end");
	rmdir(dir);
}

Test(run, the_library_survives_what_programs_do)
{
	int status = run(NULL, "--", client(), "rough", NULL);
	cr_expect_eq(status, 0, "%s", output);
}

Test(run, pointers_fail_where_the_drivers_copies_would)
{
	cr_expect_eq(run("microsoft.yaml", "--", client(), "pointers", NULL), 0, "%s", output);
}

Test(run, exit_status_is_the_commands)
{
	cr_expect_eq(run(NULL, "--", "sh", "-c", "exit 7", NULL), 7, "%s", output);
	cr_expect_eq(run(NULL, "--", "sh", "-c", "kill -TERM $$", NULL), 128 + 15, "%s", output);
	cr_expect_eq(run(NULL, "--", "/nonexistent/command", NULL), 127, "%s", output);
	cr_expect(strstr(output, "/nonexistent/command"), "says which command: %s", output);
	char script[] = "/tmp/mshv-run-noexec-XXXXXX";
	temp_file(script, NULL); /* mode 0600: not executable */
	cr_expect_eq(run(NULL, "--", script, NULL), 126, "%s", output);
	unlink(script);
	cr_expect_eq(run(NULL, NULL), 2, "no command is a usage error: %s", output);
	cr_expect_eq(run(NULL, "--transport", "bogus", "--", "true", NULL), 2, "%s", output);
	expect_no_device_on_the_host();
}

Test(run, an_invalid_policy_runs_nothing)
{
	char policy[] = "/tmp/mshv-run-bad-XXXXXX", marker[] = "/tmp/mshv-run-ran-XXXXXX";
	temp_file(policy, NULL);
	temp_file(marker, NULL);
	unlink(marker);
	write_file(policy, "profile: negotiated\nversions: [1, 1]\n");
	const char *argv[] = {
		env_path("MSHV_EMU_RUN"), "--policy", policy, "--", "touch", marker, NULL};
	cr_expect_eq(run_argv(argv), 1, "%s", output);
	cr_expect(strstr(output, policy) && strstr(output, ":2:"),
		  "the diagnostics name the file and line: %s", output);
	cr_expect_neq(access(marker, F_OK), 0, "CMD ran with an invalid policy");
	unlink(marker);
	unlink(policy);
}

Test(run, a_static_program_is_refused_by_preload)
{
	int status = run(NULL, "--transport", "preload", "--", env_path("RUN_STATIC_CLIENT"),
			 "version", "1", NULL);
	cr_expect_eq(status, 1, "%s", output);
	cr_expect(strstr(output, "statically linked"), "says why: %s", output);
}

Test(run, nothing_is_left_behind)
{
	/* The device's socket is abstract: gone with the run. */
	cr_assert_eq(run(NULL, "--", "sh", "-c", "echo \"id=$MSHV_EMU_RUN_ID\"", NULL), 0, "%s",
		     output);
	char *id = strstr(output, "id=");
	cr_assert_not_null(id, "%s", output);
	id += 3;
	id[strcspn(id, "\n")] = '\0';
	cr_assert_gt(strlen(id), 0);
	char id_copy[128];
	snprintf(id_copy, sizeof(id_copy), "%s", id);
	FILE *f = fopen("/proc/net/unix", "r");
	cr_assert_not_null(f);
	char line[512];
	while (fgets(line, sizeof(line), f))
		cr_expect_null(strstr(line, id_copy), "a socket of the run is left: %s", line);
	fclose(f);
	expect_no_device_on_the_host();
	/* The same after SIGTERM to mshv-emu-run itself: CMD gets it, the run
	 * ends with CMD's status. */
	cr_expect_eq(run(NULL, "--", "sh", "-c", "kill -TERM $PPID; exec sleep 30", NULL), 128 + 15,
		     "%s", output);
	expect_no_device_on_the_host();
}

Test(run, an_unprivileged_user_sees_the_device)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to become user 65534");
	char command[1024];
	snprintf(command, sizeof(command), "test -c /dev/mshv && %s --device /dev/mshv",
		 env_path("MSHV_EMU_PROBE"));
	const char *argv[] = {"setpriv",
			      "--reuid",
			      "65534",
			      "--regid",
			      "65534",
			      "--clear-groups",
			      env_path("MSHV_EMU_RUN"),
			      "--",
			      "sh",
			      "-c",
			      command,
			      NULL};
	int status = run_argv(argv);
	cr_expect_eq(status, 0, "%s", output);
	cr_expect(strstr(output, "REQUEST_VERSION"), "mshv-probe reported the device: %s", output);
	/* mshv-ioctls 0.7's create_vm to a VP, as that user, with a transcript
	 * the run writes as that user. */
	char policy[512], trace[] = "/tmp/mshv-run-trace-XXXXXX";
	snprintf(policy, sizeof(policy), "%s/microsoft.yaml", env_path("MSHV_EMU_POLICIES"));
	temp_file(trace, NULL);
	cr_assert_eq(chown(trace, 65534, 65534), 0);
	const char *crate[] = {"setpriv",
			       "--reuid",
			       "65534",
			       "--regid",
			       "65534",
			       "--clear-groups",
			       env_path("MSHV_EMU_RUN"),
			       "--policy",
			       policy,
			       "--trace",
			       trace,
			       "--transport",
			       "preload",
			       "--",
			       client(),
			       "crate",
			       "0x00F1FFFF7FFFFFFF",
			       "0x17",
			       NULL};
	status = run_argv(crate);
	cr_expect_eq(status, 0, "crate as user 65534: %s", output);
	const char *text = take_file(trace);
	cr_expect(strstr(text, "\"ioctl\":\"MSHV_INITIALIZE_PARTITION\"") &&
			  strstr(text, "\"uid\":65534"),
		  "the transcript shows the user's calls:\n%s", text);
}

/* ---- --transport fuse (cuse runs in the VM: tests/vm/transports.sh) ---- */

static bool host_has_run_mounts(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	cr_assert_not_null(f);
	char line[1024];
	bool found = false;
	while (fgets(line, sizeof(line), f))
		found |= strstr(line, "mshv-emu-run") != NULL || strstr(line, "/dev/mshv") != NULL;
	fclose(f);
	return found;
}

Test(run, fuse_transport_serves_static_and_dynamic_programs)
{
	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0)
		cr_skip_test("needs root and /dev/fuse");
	char script[1024];
	snprintf(script, sizeof(script),
		 "test -f /dev/mshv && %s version 1 && %s fds && %s threads 8 && exit 7",
		 env_path("RUN_STATIC_CLIENT"), client(), client());
	int status = run(NULL, "--transport", "fuse", "--hide-kvm", "--", "sh", "-c", script, NULL);
	cr_expect_eq(status, 7, "%s", output);
	expect_no_device_on_the_host();
	cr_expect_not(host_has_run_mounts(), "a mount of the run is left on the host");
}

Test(run, fuse_transport_needs_root)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to become user 65534");
	const char *argv[] = {"setpriv",
			      "--reuid",
			      "65534",
			      "--regid",
			      "65534",
			      "--clear-groups",
			      env_path("MSHV_EMU_RUN"),
			      "--transport",
			      "fuse",
			      "--",
			      "true",
			      NULL};
	cr_expect_eq(run_argv(argv), 1, "%s", output);
	cr_expect(strstr(output, "needs root"), "says why: %s", output);
}

/* ---- --transport seccomp: any program, no root ---- */

static const char *static_client(void)
{
	return env_path("RUN_STATIC_CLIENT");
}

#define FEATURES0 "0x00F1FFFF7FFFFFFF" /* policies/microsoft.yaml, as above */
#define VMM_CAPS  "0x17"

Test(run, seccomp_runs_the_crate_sequence_in_a_static_program)
{
	char trace[] = "/tmp/mshv-run-trace-XXXXXX";
	temp_file(trace, NULL);
	int status = run("microsoft.yaml", "--transport", "seccomp", "--trace", trace, "--",
			 static_client(), "crate", FEATURES0, VMM_CAPS, NULL);
	cr_expect_eq(status, 0, "%s", output);
	const char *text = take_file(trace);
	cr_expect(strstr(text, "\"ioctl\":\"MSHV_CREATE_VP\"") &&
			  strstr(text, "\"event\":\"release\""),
		  "the transcript has the VP and the releases:\n%s", text);
	/* auto picks it for a static program, and says so. */
	status = run("microsoft.yaml", "--", static_client(), "crate", FEATURES0, VMM_CAPS, NULL);
	cr_expect_eq(status, 0, "%s", output);
	cr_expect(strstr(output, "transport seccomp (CMD is statically linked)"),
		  "auto says which: %s", output);
	/* A dynamically linked program too. */
	status = run("microsoft.yaml", "--transport", "seccomp", "--", client(), "crate", FEATURES0,
		     VMM_CAPS, NULL);
	cr_expect_eq(status, 0, "%s", output);
	expect_no_device_on_the_host();
}

Test(run, seccomp_serves_raw_syscalls)
{
	int status = run("microsoft.yaml", "--transport", "seccomp", "--", static_client(), "raw",
			 FEATURES0, VMM_CAPS, NULL);
	cr_expect_eq(status, 0, "%s", output);
}

Test(run, seccomp_serves_a_program_with_its_own_filter)
{
	int status = run("microsoft.yaml", "--transport", "seccomp", "--", static_client(),
			 "own-filter", FEATURES0, VMM_CAPS, NULL);
	cr_expect_eq(status, 0, "%s", output);
}

Test(run, seccomp_fds_threads_and_the_node)
{
	/* fork, dup, F_DUPFD and exec share one session; O_CLOEXEC holds. */
	cr_expect_eq(run(NULL, "--transport", "seccomp", "--", static_client(), "fds", NULL), 0,
		     "fds: %s", output);
	cr_expect_eq(
		run(NULL, "--transport", "seccomp", "--", static_client(), "threads", "16", NULL),
		0, "threads: %s", output);
	cr_expect_eq(
		run(NULL, "--transport", "seccomp", "--", static_client(), "node", "0600", NULL), 0,
		"node: %s", output);
	cr_expect_eq(run(NULL, "--transport", "seccomp", "--", static_client(), "rough", NULL), 0,
		     "rough: %s", output);
	cr_expect_eq(run("microsoft.yaml", "--transport", "seccomp", "--", static_client(),
			 "pointers", NULL),
		     0, "pointers: %s", output);
	cr_expect_eq(run(NULL, "--transport", "seccomp", "--hide-kvm", "--", static_client(),
			 "hidden-kvm", NULL),
		     0, "hidden-kvm: %s", output);
	/* Paths that are not the device go on in the kernel. */
	cr_expect_eq(run(NULL, "--transport", "seccomp", "--", "sh", "-c",
			 "test -c /dev/mshv && test -c /dev/null && ! test -e /nonexistent && "
			 "cat /proc/self/comm >/dev/null && ls / >/dev/null",
			 NULL),
		     0, "%s", output);
	expect_no_device_on_the_host();
}

/* A client killed inside a held call; and the device, which answers in
 * mshv-emu-run's own process under seccomp (its pid is the run's), reloads
 * on SIGHUP there. */
Test(run, seccomp_a_killed_client_and_a_reload)
{
	char policy[] = "/tmp/mshv-run-hang-XXXXXX";
	temp_file(policy, "profile: negotiated\nversions: [1, 2]\n"
			  "capabilities: [{name: A, id: 1, value: 1}]\n"
			  "faults:\n  rules:\n"
			  "    - {name: hang-first, match: {ioctl: CHECK_EXTENSION},\n"
			  "       when: {once: true}, action: {hang: true}}\n");
	const char *argv[] = {
		env_path("MSHV_EMU_RUN"), "--transport",     "seccomp", "--policy", policy, "--",
		static_client(),	  "killed-mid-call", NULL};
	int status = run_argv(argv);
	cr_expect_eq(status, 0, "%s", output);
	write_file(policy, "profile: negotiated\nversions: [1]\n"
			   "capabilities: [{name: A, id: 1, value: 1}]\n");
	char script[1024];
	snprintf(script, sizeof(script),
		 "test \"$MSHV_EMU_RUN_DEVICE_PID\" = \"$PPID\" || exit 9; printf 'profile: "
		 "negotiated\\nversions: [1]\\ncapabilities: [{name: A, id: 1, value: 5}]\\n' > "
		 "%s && kill -HUP \"$MSHV_EMU_RUN_DEVICE_PID\" && exec %s await-cap 1 5",
		 policy, static_client());
	const char *reload[] = {env_path("MSHV_EMU_RUN"),
				"--transport",
				"seccomp",
				"--policy",
				policy,
				"--",
				"sh",
				"-c",
				script,
				NULL};
	status = run_argv(reload);
	unlink(policy);
	cr_expect_eq(status, 0, "%s", output);
	cr_expect(strstr(output, "mshv-emu-run: reload: serving") &&
			  strstr(output, "as generation 2"),
		  "says so: %s", output);
}

Test(run, seccomp_mshvctl_and_an_unprivileged_user)
{
	char dir[] = "/tmp/mshv-run-ctl-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char sock[128], script[2048];
	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	snprintf(script, sizeof(script), "%s version 1 && %s version 2 && %s --socket %s status",
		 static_client(), client(), env_path("MSHV_EMU_CTL"), sock);
	const char *argv[] = {env_path("MSHV_EMU_RUN"),
			      "--transport",
			      "seccomp",
			      "--control",
			      sock,
			      "--",
			      "sh",
			      "-c",
			      script,
			      NULL};
	cr_expect_eq(run_argv(argv), 0, "%s", output);
	cr_expect(strstr(output, "front       seccomp"), "%s", output);
	rmdir(dir);
	if (geteuid() != 0)
		return;
	const char *as_nobody[] = {"setpriv",
				   "--reuid",
				   "65534",
				   "--regid",
				   "65534",
				   "--clear-groups",
				   env_path("MSHV_EMU_RUN"),
				   "--transport",
				   "seccomp",
				   "--policy",
				   NULL,
				   "--",
				   static_client(),
				   "crate",
				   FEATURES0,
				   VMM_CAPS,
				   NULL};
	char policy[512];
	snprintf(policy, sizeof(policy), "%s/microsoft.yaml", env_path("MSHV_EMU_POLICIES"));
	as_nobody[10] = policy;
	cr_expect_eq(run_argv(as_nobody), 0, "as user 65534: %s", output);
}

/* A process of the run that outlives CMD keeps working (its device calls
 * are ENODEV, its paths the kernel's), and orphans that end during the run
 * leave no zombie behind. */
Test(run, seccomp_orphans_during_and_after_the_run)
{
	char dir[] = "/tmp/mshv-run-orphan-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char script[2048];
	snprintf(script, sizeof(script),
		 /* 20 orphans end at once; none may stay a zombie of the run. */
		 "run=$PPID; for i in $(seq 20); do (true &); done; i=0; "
		 "while [ $i -lt 200 ]; do "
		 "  z=$(grep -ls '^PPid:[[:space:]]*'$run'$' /proc/[0-9]*/status | "
		 "      xargs -r grep -l '^State:[[:space:]]*Z' | wc -l); "
		 "  [ \"$z\" = 0 ] && break; sleep 0.05; i=$((i + 1)); done; "
		 "[ \"$z\" = 0 ] || { echo \"$z zombies\"; exit 3; }; "
		 /* One outlives the run: it starts once the test says so. */
		 "(i=0; while [ ! -e %s/go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); "
		 "done; if test -r /etc/hostname && ! test -e /dev/mshv && "
		 "%s version 1 2>%s/err; then echo bad >%s/out; else cat /etc/hostname "
		 ">/dev/null && echo ok >%s/out; fi) & exit 0",
		 dir, static_client(), dir, dir, dir);
	cr_expect_eq(run(NULL, "--transport", "seccomp", "--", "sh", "-c", script, NULL), 0, "%s",
		     output);
	char path[256], text[64] = "";
	snprintf(path, sizeof(path), "%s/go", dir);
	write_file(path, "");
	snprintf(path, sizeof(path), "%s/out", dir);
	for (int waited_ms = 0; waited_ms < 10000 && !text[0]; waited_ms += 20) {
		FILE *f = fopen(path, "r");
		if (f) {
			if (!fgets(text, sizeof(text), f))
				text[0] = '\0';
			fclose(f);
		}
		if (!text[0])
			usleep(20000);
	}
	cr_expect_str_eq(text, "ok\n",
			 "the orphan after the run: opened /dev/mshv, or "
			 "its paths failed (\"%s\")",
			 text);
	char err[256];
	snprintf(err, sizeof(err), "%s/err", dir);
	FILE *f = fopen(err, "r");
	char line[256] = "";
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	cr_expect(strstr(line, "No such file"), "its open of /dev/mshv: %s", line);
	unlink(err);
	unlink(path);
	snprintf(path, sizeof(path), "%s/go", dir);
	unlink(path);
	rmdir(dir);
	expect_no_device_on_the_host();
}

/* No seccomp() for mshv-emu-run (a container's policy, an old kernel): it
 * says what is missing, and CMD never starts. */
Test(run, seccomp_unavailable_is_said_and_runs_nothing)
{
	char marker[] = "/tmp/mshv-run-ran-XXXXXX", log[] = "/tmp/mshv-run-log-XXXXXX";
	temp_file(marker, NULL);
	unlink(marker);
	temp_file(log, NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_seccomp, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = {.len = sizeof(f) / sizeof(*f), .filter = f};
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
			_exit(99);
		int out = open(log, O_WRONLY);
		dup2(out, STDERR_FILENO);
		execl(env_path("MSHV_EMU_RUN"), "mshv-emu-run", "--transport", "seccomp", "--",
		      "touch", marker, (char *)NULL);
		_exit(98);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);
	cr_expect_neq(access(marker, F_OK), 0, "CMD ran without its transport");
	unlink(marker);
	FILE *f = fopen(log, "r");
	cr_assert_not_null(f);
	size_t len = fread(output, 1, sizeof(output) - 1, f);
	output[len] = '\0';
	fclose(f);
	unlink(log);
	cr_expect(strstr(output, "needs seccomp user notification") &&
			  strstr(output, "Operation not permitted"),
		  "says what is missing: %s", output);
}

/* ---- --in-process: the core in each process ---- */

Test(run, in_process_runs_the_crate_sequence_without_a_device_process)
{
	int status = run("microsoft.yaml", "--in-process", "--", client(), "crate",
			 "0x00F1FFFF7FFFFFFF", "0x17", NULL);
	if (status == 1 && strstr(output, "not built in this configuration"))
		cr_skip_test("no in-process library in a sanitizer build");
	cr_expect_eq(status, 0, "%s", output);
	cr_expect_eq(run(NULL, "--in-process", "--", client(), "threads", "16", NULL), 0, "%s",
		     output);
	cr_expect_eq(run(NULL, "--in-process", "--", client(), "node", "0600", NULL), 0, "%s",
		     output);
	/* No device process: nothing names one. */
	cr_expect_eq(run(NULL, "--in-process", "--", "sh", "-c",
			 "test -z \"$MSHV_EMU_RUN_DEVICE_PID$MSHV_EMU_RUN_SOCKET\"", NULL),
		     0, "%s", output);
	/* The transcript and mshvctl need the run's one device. */
	cr_expect_eq(run(NULL, "--in-process", "--trace", "/dev/null", "--", "true", NULL), 2, "%s",
		     output);
	expect_no_device_on_the_host();
}
