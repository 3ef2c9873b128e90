/*
 * mshv-emu-run - run CMD with /dev/mshv, served by one emulated device for
 * the whole run, without root.
 *
 *   mshv-emu-run [--policy FILE] [--transport auto|preload] [--hide-kvm]
 *                [--trace FILE] [--] CMD [ARGS...]
 *
 * The device lives in a process of its own (run/server.c), so that the run
 * outlives it and says so if it dies; CMD and its descendants reach it
 * through the preload shim (run/preload.c), which LD_PRELOAD puts in every
 * dynamically linked process.  Nothing is created on disk: the
 * device's socket has an abstract name, and no process outside the run
 * sees /dev/mshv.  It exits with CMD's status, as a shell does (128+N for a
 * signal, 127 when CMD is not found, 126 when it cannot be run); SIGINT,
 * SIGTERM and SIGQUIT are passed on to CMD; SIGHUP reloads the policy.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"
#include "daemon.h"
#include "diag.h"
#include "policy.h"
#include "server.h"
#include "trace.h"
#include "wire.h"

#define PRELOAD_NAME	  "libmshv-emu-preload.so"
#define READY_DEADLINE_MS 10000
#define STOP_DEADLINE_MS  10000

static const char usage_text[] =
	"usage: mshv-emu-run [--policy FILE] [--transport auto|preload] [--hide-kvm]\n"
	"                    [--trace FILE] [--control SOCKET] [--] CMD [ARGS...]\n"
	"       mshv-emu-run --help | --version\n";

static const char help_text[] =
	"\n"
	"Runs CMD with /dev/mshv served by one emulated device for the whole run:\n"
	"CMD and every process it starts see it, no other process does, and nothing\n"
	"needs root or is left behind.\n"
	"  --policy FILE      policy to serve (default: the embedded default policy)\n"
	"  --transport KIND   preload: a library (LD_PRELOAD) in every dynamically\n"
	"                     linked process of the run; auto (default): preload when\n"
	"                     CMD is dynamically linked, and says so on stderr\n"
	"  --hide-kvm         /dev/kvm is absent for CMD (ENOENT), so a VMM that tries\n"
	"                     KVM first picks mshv\n"
	"  --trace FILE       write a JSON Lines transcript of every call of the run\n"
	"  --control SOCKET   where mshvctl connects while the run lasts (default: none)\n"
	"Exit status: CMD's; 128+N when signal N ended it; 127 when CMD was not found,\n"
	"126 when it could not be run; 1 when the run could not start (an invalid\n"
	"policy: CMD does not run); 2 for a usage error.  SIGHUP reloads the policy.\n";

struct options {
	const char *policy;
	const char *trace;
	const char *control;
	bool hide_kvm;
	bool transport_auto;
	char **argv;
};

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"transport", required_argument, NULL, 't'},
		{"hide-kvm", no_argument, NULL, 'k'},
		{"trace", required_argument, NULL, 'r'},
		{"control", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	*o = (struct options){.transport_auto = true};
	int opt;
	while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			o->policy = optarg;
			break;
		case 't':
			if (strcmp(optarg, "auto") && strcmp(optarg, "preload")) {
				fprintf(stderr,
					"mshv-emu-run: --transport %s: this build has auto and "
					"preload\n%s",
					optarg, usage_text);
				return 2;
			}
			o->transport_auto = !strcmp(optarg, "auto");
			break;
		case 'k':
			o->hide_kvm = true;
			break;
		case 'r':
			o->trace = optarg;
			break;
		case 'c':
			o->control = optarg;
			break;
		case 'h':
			printf("%s%s", usage_text, help_text);
			return 0;
		case 'V':
			printf("mshv-emu-run %s\n", MSHV_EMU_VERSION);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "mshv-emu-run: no CMD to run\n%s", usage_text);
		return 2;
	}
	o->argv = argv + optind;
	return -1;
}

/* CMD as execvp would find it, into PATH_OUT; false if it would not. */
static bool command_path(const char *cmd, char *out, size_t size)
{
	if (strchr(cmd, '/')) {
		snprintf(out, size, "%s", cmd);
		return access(out, X_OK) == 0;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");
		snprintf(out, size, "%.*s/%s", (int)len, len ? path : ".", cmd);
		if (access(out, X_OK) == 0)
			return true;
		path += len + (path[len] == ':');
	}
	return false;
}

enum linkage {
	LINK_DYNAMIC, /* an ELF with an interpreter, or a script */
	LINK_STATIC,  /* an ELF without */
	LINK_UNKNOWN, /* not found or unreadable: exec will say */
};

static enum linkage linkage_of(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return LINK_UNKNOWN;
	Elf64_Ehdr eh;
	enum linkage result = LINK_DYNAMIC; /* a script runs its (dynamic) interpreter */
	if (read(fd, &eh, sizeof(eh)) == (ssize_t)sizeof(eh) &&
	    !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_ident[EI_CLASS] == ELFCLASS64) {
		result = LINK_STATIC;
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * eh.e_phentsize)) !=
			    (ssize_t)sizeof(ph))
				break;
			if (ph.p_type == PT_INTERP) {
				result = LINK_DYNAMIC;
				break;
			}
		}
	}
	close(fd);
	return result;
}

/* The shim: MSHV_EMU_PRELOAD, else beside this program's lib directory. */
static bool preload_path(char *out, size_t size)
{
	const char *forced = getenv("MSHV_EMU_PRELOAD");
	if (forced) {
		snprintf(out, size, "%s", forced);
		return access(out, R_OK) == 0;
	}
	char self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0)
		return false;
	self[len] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = '\0';
	static const char *const candidates[] = {"/../lib/" PRELOAD_NAME,
						 "/../lib/mshv-emu/" PRELOAD_NAME};
	for (size_t i = 0; i < sizeof(candidates) / sizeof(*candidates); i++) {
		char path[PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s%s", self, candidates[i]);
		if (realpath(path, out) && access(out, R_OK) == 0)
			return true;
	}
	return false;
}

static struct policy_snapshot *load(const char *path)
{
	struct diag_list diags = {0};
	struct policy_snapshot *snap =
		path ? policy_load_file(path, &diags) : policy_load_default(&diags);
	diag_print(&diags, stderr);
	diag_free(&diags);
	return snap;
}

/* ---- the device's process ---- */

struct ready {
	char socket_name[108];
	char id[64];
};

/*
 * The run's device, in a process of its own so that the run outlives it
 * and can say so: serve until the supervisor's SIGTERM; SIGHUP reloads.
 * SIGINT from a terminal is for CMD, not for it.  Never returns.
 */
static struct run_server *device_server;

static unsigned device_held(void)
{
	return device_server ? run_server_held(device_server) : 0;
}

static unsigned device_release(void)
{
	return device_server ? run_server_release_hung(device_server) : 0;
}

static void device_node(char *out, size_t size)
{
	snprintf(out, size, "%s (mshv-emu-run, preload)", WIRE_DEVICE);
}

static void device_main(const struct options *o, struct policy_snapshot *snap, int ready_fd)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM); /* the supervisor is gone: so is the run */
	emu_log_name = "mshv-emu-run";
	static struct daemon d;		  /* the control thread reads it until the end */
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	d.started_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	d.uid = geteuid();
	d.front = "preload";
	d.held_count = device_held;
	d.release_held = device_release;
	d.node_path = device_node;
	pthread_mutex_init(&d.reload_lock, NULL);
	d.policy_path = o->policy ? strdup(o->policy) : NULL;
	core_init(&d.core, snap);
	int rc = 1;
	if (o->trace) {
		struct diag_list diags = {0};
		struct trace *trace = trace_open(o->trace, &diags);
		diag_print(&diags, stderr);
		diag_free(&diags);
		if (!trace)
			goto out_core;
		core_trace_start(&d.core, trace);
	}
	struct ready ready;
	device_server = run_server_start(&d.core, getuid(), ready.socket_name,
					 sizeof(ready.socket_name), ready.id, sizeof(ready.id));
	if (!device_server)
		goto out_trace;
	if (o->control && control_start(&d, o->control) != 0)
		goto out_server;
	if (write(ready_fd, &ready, sizeof(ready)) != (ssize_t)sizeof(ready))
		goto out_control;
	close(ready_fd);
	sigset_t wait_set;
	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGTERM);
	sigaddset(&wait_set, SIGHUP);
	for (;;) {
		int sig;
		if (sigwait(&wait_set, &sig) != 0)
			continue;
		if (sig == SIGTERM)
			break;
		daemon_reload(&d, NULL, NULL);
	}
	rc = 0;
out_control:
	if (o->control)
		control_stop();
out_server:
	run_server_stop(device_server);
	device_server = NULL;
out_trace:
	if (o->trace)
		core_trace_stop(&d.core);
out_core:
	core_fini(&d.core);
	free(d.policy_path);
	_exit(rc);
}

/* Start the device; its names into READY.  Returns its pid, or -1. */
static pid_t device_start(const struct options *o, struct policy_snapshot *snap,
			  struct ready *ready)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		fprintf(stderr, "mshv-emu-run: pipe: %s\n", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "mshv-emu-run: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(pipefd[0]);
		device_main(o, snap, pipefd[1]);
	}
	close(pipefd[1]);
	/* Readiness is the device's word, with a deadline. */
	struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
	bool ok = poll(&pfd, 1, READY_DEADLINE_MS) == 1 &&
		  read(pipefd[0], ready, sizeof(*ready)) == (ssize_t)sizeof(*ready);
	close(pipefd[0]);
	if (!ok) {
		fprintf(stderr, "mshv-emu-run: the device did not start within %d ms\n",
			READY_DEADLINE_MS);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* Stop the device: SIGTERM, then SIGKILL after a deadline. */
static void device_stop(pid_t device)
{
	kill(device, SIGTERM);
	for (int waited_ms = 0; waitpid(device, NULL, WNOHANG) == 0; waited_ms += 10) {
		if (waited_ms >= STOP_DEADLINE_MS) {
			fprintf(stderr,
				"mshv-emu-run: the device did not stop within %d ms; "
				"killed\n",
				STOP_DEADLINE_MS);
			kill(device, SIGKILL);
			waitpid(device, NULL, 0);
			return;
		}
		struct timespec tick = {0, 10 * 1000 * 1000};
		nanosleep(&tick, NULL);
	}
}

/* ---- the command ---- */

/* Exec CMD in the child; tell the parent errno through REPORT if it fails. */
static void child_exec(char **argv, const sigset_t *mask, int report)
{
	sigprocmask(SIG_SETMASK, mask, NULL);
	execvp(argv[0], argv);
	int err = errno;
	if (write(report, &err, sizeof(err)) < 0)
		_exit(127);
	_exit(err == ENOENT ? 127 : 126);
}

static const char *status_text(int status, char *buf, size_t size)
{
	if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
	return buf;
}

/* Run CMD to its end; its status as a shell gives it.  The device dying
 * first is reported, and makes the run's status non-zero. */
static int run_command(struct options *o, pid_t device, const sigset_t *saved)
{
	int report[2];
	if (pipe2(report, O_CLOEXEC) != 0) {
		fprintf(stderr, "mshv-emu-run: pipe: %s\n", strerror(errno));
		return 1;
	}
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "mshv-emu-run: fork: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0) {
		close(report[0]);
		child_exec(o->argv, saved, report[1]);
	}
	close(report[1]);
	int err = 0;
	if (read(report[0], &err, sizeof(err)) == (ssize_t)sizeof(err))
		fprintf(stderr, "mshv-emu-run: %s: %s\n", o->argv[0], strerror(err));
	close(report[0]);

	sigset_t wait_set;
	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGCHLD);
	sigaddset(&wait_set, SIGINT);
	sigaddset(&wait_set, SIGTERM);
	sigaddset(&wait_set, SIGQUIT);
	sigaddset(&wait_set, SIGHUP);
	bool device_lost = false;
	for (;;) {
		int status;
		char text[64];
		if (!device_lost && waitpid(device, &status, WNOHANG) == device) {
			device_lost = true;
			fprintf(stderr,
				"mshv-emu-run: the device (pid %d) ended under the run (%s): the "
				"run's calls now fail with ENODEV, its opens with ENOENT\n",
				(int)device, status_text(status, text, sizeof(text)));
		}
		if (waitpid(child, &status, WNOHANG) == child) {
			int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			if (!device_lost)
				device_stop(device);
			return device_lost && rc == 0 ? 1 : rc;
		}
		int sig;
		if (sigwait(&wait_set, &sig) != 0)
			continue;
		if (sig == SIGHUP && !device_lost)
			kill(device, SIGHUP); /* the device reloads */
		else if (sig != SIGCHLD && sig != SIGHUP)
			kill(child, sig); /* CMD decides; its status is the run's */
	}
}

int main(int argc, char **argv)
{
	struct options o;
	int parsed = parse_options(argc, argv, &o);
	if (parsed >= 0)
		return parsed;
	struct policy_snapshot *snap = load(o.policy);
	if (!snap) {
		fprintf(stderr, "mshv-emu-run: %s: not running %s with an invalid policy\n",
			o.policy ? o.policy : "<embedded default>", o.argv[0]);
		return 1;
	}
	char path[PATH_MAX];
	bool found = command_path(o.argv[0], path, sizeof(path));
	if (found && linkage_of(path) == LINK_STATIC) {
		fprintf(stderr,
			"mshv-emu-run: %s is statically linked: the preload transport cannot "
			"reach it (a static program calls no shared libc)\n",
			path);
		policy_free(snap);
		return 1;
	}
	char shim[PATH_MAX];
	if (!preload_path(shim, sizeof(shim))) {
		fprintf(stderr, "mshv-emu-run: cannot find " PRELOAD_NAME " beside this program "
				"(../lib); set MSHV_EMU_PRELOAD to its path\n");
		policy_free(snap);
		return 1;
	}
	unsigned mode = snap->device_mode;
	/* Signals are taken with sigwait, here and in the device. */
	sigset_t all, saved;
	sigemptyset(&all);
	sigaddset(&all, SIGCHLD);
	sigaddset(&all, SIGINT);
	sigaddset(&all, SIGTERM);
	sigaddset(&all, SIGQUIT);
	sigaddset(&all, SIGHUP);
	sigaddset(&all, SIGPIPE);
	sigprocmask(SIG_BLOCK, &all, &saved);
	struct ready ready;
	pid_t device = device_start(&o, snap, &ready);
	policy_free(snap); /* the device's copy serves */
	if (device < 0)
		return 1;

	const char *before = getenv("LD_PRELOAD");
	char *preload = NULL;
	char mode_text[16], device_text[16];
	snprintf(mode_text, sizeof(mode_text), "%04o", mode);
	snprintf(device_text, sizeof(device_text), "%d", (int)device);
	if (asprintf(&preload, "%s%s%s", shim, before && *before ? ":" : "", before ? before : "") <
		    0 ||
	    setenv("LD_PRELOAD", preload, 1) || setenv(WIRE_ENV_SOCKET, ready.socket_name, 1) ||
	    setenv(WIRE_ENV_ID, ready.id, 1) || setenv(WIRE_ENV_MODE, mode_text, 1) ||
	    setenv(WIRE_ENV_DEVICE_PID, device_text, 1) ||
	    (o.hide_kvm ? setenv(WIRE_ENV_HIDE_KVM, "1", 1) : unsetenv(WIRE_ENV_HIDE_KVM))) {
		fprintf(stderr, "mshv-emu-run: environment: %s\n", strerror(errno));
		free(preload);
		device_stop(device);
		return 1;
	}
	free(preload);
	if (o.transport_auto && found)
		fprintf(stderr, "mshv-emu-run: transport preload (CMD is dynamically linked)\n");
	return run_command(&o, device, &saved);
}
