/*
 * mshv-emu-run - run CMD with /dev/mshv, served by one emulated device for
 * the whole run, without root.
 *
 *   mshv-emu-run [--policy FILE] [--transport auto|preload|seccomp|fuse|cuse]
 *                [--hide-kvm] [--trace FILE] [--] CMD [ARGS...]
 *
 * The device (run/server.c) lives in a process of its own under the
 * preload transport, so that the run outlives it and says so if it dies;
 * CMD and its descendants reach it through the preload shim
 * (run/preload.c), which LD_PRELOAD puts in every dynamically linked
 * process.  Under the seccomp transport (run/seccomp.c) the notifications
 * are answered here, and the device runs here too, so that a call needs
 * no hop to another process.  Nothing is created on disk: the
 * device's socket has an abstract name, and no process outside the run
 * sees /dev/mshv.  It exits with CMD's status, as a shell does (128+N for a
 * signal, 127 when CMD is not found, 126 when it cannot be run); SIGINT,
 * SIGTERM and SIGQUIT are passed on to CMD; SIGHUP reloads the policy.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "core.h"
#include "daemon.h"
#include "diag.h"
#include "policy.h"
#include "seccomp.h"
#include "server.h"
#include "trace.h"
#include "wire.h"

#define PRELOAD_NAME	  "libmshv-emu-preload.so"
#define READY_DEADLINE_MS 10000
#define STOP_DEADLINE_MS  10000

static const char usage_text[] =
	"usage: mshv-emu-run [--policy FILE] [--transport auto|preload|seccomp|fuse|cuse]\n"
	"                    [--hide-kvm]\n"
	"                    [--trace FILE] [--control SOCKET] [--in-process] [--] CMD [ARGS...]\n"
	"       mshv-emu-run --help | --version\n";

static const char help_text[] =
	"\n"
	"Runs CMD with /dev/mshv served by one emulated device for the whole run:\n"
	"CMD and every process it starts see it, no other process does, and nothing\n"
	"needs root or is left behind.\n"
	"  --policy FILE      policy to serve (default: the embedded default policy)\n"
	"  --transport KIND   preload: a library (LD_PRELOAD) in every dynamically\n"
	"                     linked process of the run, no root; seccomp: the kernel's\n"
	"                     seccomp user notification hands this program the calls\n"
	"                     of every process of the run (static ones, raw syscalls),\n"
	"                     no root; fuse, cuse: mshv-emu through the kernel, its\n"
	"                     node bound at /dev/mshv in a private mount namespace\n"
	"                     (root); auto (default): preload for a dynamically linked\n"
	"                     CMD, else seccomp, and says which on stderr\n"
	"  --hide-kvm         /dev/kvm is absent for CMD (ENOENT), so a VMM that tries\n"
	"                     KVM first picks mshv\n"
	"  --trace FILE       write a JSON Lines transcript of every call of the run\n"
	"  --control SOCKET   where mshvctl connects while the run lasts (default: none)\n"
	"  --in-process       the speed mode: the core inside each process, no round trip;\n"
	"                     each process has its own device, made at its first open\n"
	"  -h, --help         this help\n"
	"  --version          the version\n"
	"Options come before CMD, as --opt VALUE or --opt=VALUE, by their whole name;\n"
	"the first argument that is not one (or what follows --) is CMD.\n"
	"Exit status: CMD's; 128+N when signal N ended it; 127 when CMD was not found,\n"
	"126 when it could not be run; 1 when the run could not start (an invalid\n"
	"policy: CMD does not run); 2 for a usage error (nothing starts).  SIGHUP\n"
	"reloads the policy.\n";

struct options {
	const char *policy;
	const char *trace;
	const char *control;
	bool hide_kvm;
	bool in_process;
	enum transport {
		TRANSPORT_AUTO,
		TRANSPORT_PRELOAD,
		TRANSPORT_SECCOMP,
		TRANSPORT_FUSE,
		TRANSPORT_CUSE
	} transport;
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
		{"in-process", no_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	*o = (struct options){.transport = TRANSPORT_AUTO};
	/* No --json: CMD's output is the run's stdout, where an object of
	 * ours would be mixed with it. */
	struct cli cli;
	cli_init(&cli, "mshv-emu-run", usage_text, 0, argv);
	int opt;
	while ((opt = cli_getopt(&cli, argc, argv, "+h", longopts)) != -1) {
		switch (opt) {
		case 'p':
			o->policy = optarg;
			break;
		case 't': {
			static const char *const names[] = {[TRANSPORT_AUTO] = "auto",
							    [TRANSPORT_PRELOAD] = "preload",
							    [TRANSPORT_SECCOMP] = "seccomp",
							    [TRANSPORT_FUSE] = "fuse",
							    [TRANSPORT_CUSE] = "cuse"};
			bool known = false;
			for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
				if (!strcmp(optarg, names[i])) {
					o->transport = (enum transport)i;
					known = true;
				}
			if (known)
				break;
			return cli_usage_error(&cli,
					       "--transport `%s`: expected auto, preload, seccomp, "
					       "fuse or cuse",
					       optarg);
		}
		case 'k':
			o->hide_kvm = true;
			break;
		case 'r':
			o->trace = optarg;
			break;
		case 'c':
			o->control = optarg;
			break;
		case 'i':
			o->in_process = true;
			break;
		case 'h':
			printf("%s%s", usage_text, help_text);
			return 0;
		case 'V':
			return cli_version(&cli);
		default:
			return cli_usage_error(&cli, NULL);
		}
	}
	if (o->in_process &&
	    (o->trace || o->control ||
	     (o->transport != TRANSPORT_AUTO && o->transport != TRANSPORT_PRELOAD))) {
		return cli_usage_error(&cli, "--in-process gives each process a device of its "
					     "own: it goes with the preload transport, and "
					     "without --trace or --control, which need the run's "
					     "one device");
	}
	if (optind >= argc)
		return cli_usage_error(&cli, "no CMD to run; give it after the options (after "
					     "`--` if it starts with `-`)");
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

/* This program's directory, into SELF (PATH_MAX bytes); false if unknown. */
static bool self_dir(char *self)
{
	ssize_t len = readlink("/proc/self/exe", self, PATH_MAX - 1);
	if (len <= 0)
		return false;
	self[len] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = '\0';
	return true;
}

/* The shim: MSHV_EMU_PRELOAD, else ../lib from this program (the build
 * tree), else the installed libraries' directory (CMakeLists.txt). */
static bool preload_path(char *out, size_t size)
{
	const char *forced = getenv("MSHV_EMU_PRELOAD");
	if (forced) {
		snprintf(out, size, "%s", forced);
		return access(out, R_OK) == 0;
	}
	char self[PATH_MAX];
	if (!self_dir(self))
		return false;
	static const char *const candidates[] = {"/../lib/" PRELOAD_NAME,
						 "/" MSHV_EMU_BIN_TO_PKGLIBDIR "/" PRELOAD_NAME};
	for (size_t i = 0; i < sizeof(candidates) / sizeof(*candidates); i++) {
		char path[PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s%s", self, candidates[i]);
		if (realpath(path, out) && access(out, R_OK) == 0)
			return true;
	}
	return false;
}

/* The signals the run takes with sigwait (and SIGPIPE, which its writes to
 * a closed pipe meet as EPIPE): blocked here, in the device and in the
 * server's threads; CMD gets the mask from before, in SAVED. */
static void block_run_signals(sigset_t *saved)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, saved);
}

/* ---- the device ---- */

struct ready {
	char socket_name[108];
	char id[64];
};

/*
 * The run's device: the core, the transcript, the server (run/server.c)
 * and mshvctl's socket.  The preload transport runs it in a process of its
 * own (device_main), so that the run outlives it and can say so if it
 * dies; the seccomp transport in mshv-emu-run's own process, whose threads
 * answer the notifications and call it directly (no hop to another
 * process on each call).
 */
static struct daemon device_daemon; /* the control thread reads it until the end */
static struct run_server *device_server;
static const char *device_front = "preload"; /* the transport, as mshvctl says it */

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
	snprintf(out, size, "%s (mshv-emu-run, %s)", WIRE_DEVICE, device_front);
}

/* Start the device in this process, serving SNAP (its own from now on)
 * to the run's user and the descendants of RUN_PID; its names into READY.
 * Returns 0, or 1 after saying why. */
static int device_up(const struct options *o, struct policy_snapshot *snap, pid_t run_pid,
		     struct ready *ready)
{
	struct daemon *d = &device_daemon;
	emu_log_name = "mshv-emu-run";
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	d->started_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	d->uid = geteuid();
	d->front = device_front;
	d->held_count = device_held;
	d->release_held = device_release;
	d->node_path = device_node;
	pthread_mutex_init(&d->reload_lock, NULL);
	d->policy_path = o->policy ? strdup(o->policy) : NULL;
	trace_set_log(emu_log); /* a transcript's write errors go to our log */
	core_init(&d->core, snap);
	if (o->trace) {
		struct diag_list diags = {0};
		struct trace *trace = trace_open(o->trace, &diags);
		diag_print(&diags, stderr);
		diag_free(&diags);
		if (!trace)
			goto out_core;
		core_trace_start(&d->core, trace);
	}
	device_server = run_server_start(&d->core, getuid(), run_pid, ready->socket_name,
					 sizeof(ready->socket_name), ready->id, sizeof(ready->id));
	if (!device_server)
		goto out_trace;
	if (o->control && control_start(d, o->control, (gid_t)-1) != 0)
		goto out_server;
	return 0;
out_server:
	run_server_stop(device_server);
	run_server_free(device_server);
	device_server = NULL;
out_trace:
	if (o->trace)
		core_trace_stop(&d->core, NULL);
out_core:
	core_fini(&d->core);
	free(d->policy_path);
	d->policy_path = NULL;
	return 1;
}

/* Stop serving: mshvctl's socket closes, held calls end (ENODEV), and so
 * does every call after; device_down frees it, once nothing calls it. */
static void device_halt(const struct options *o)
{
	if (o->control)
		control_stop();
	run_server_stop(device_server);
}

static void device_down(const struct options *o)
{
	run_server_free(device_server);
	device_server = NULL;
	if (o->trace)
		core_trace_stop(&device_daemon.core, NULL);
	core_fini(&device_daemon.core);
	free(device_daemon.policy_path);
	device_daemon.policy_path = NULL;
}

/* The device's own process: serve until the supervisor's SIGTERM; SIGHUP
 * reloads.  SIGINT from a terminal is for CMD, not for it.  Never returns. */
static void device_main(const struct options *o, struct policy_snapshot *snap, int ready_fd)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM); /* the supervisor is gone: so is the run */
	/* Signals to the run's process group (a terminal's ^C, timeout(1), a
	 * CI runner's SIGTERM) are CMD's to handle; the device stops when the
	 * supervisor says, after CMD. */
	setpgid(0, 0);
	struct ready ready;
	if (device_up(o, snap, getppid(), &ready) != 0)
		_exit(1);
	int rc = 1;
	if (write(ready_fd, &ready, sizeof(ready)) != (ssize_t)sizeof(ready))
		goto out;
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
		daemon_reload(&device_daemon, NULL, NULL);
	}
	rc = 0;
out:
	device_halt(o);
	device_down(o);
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
	int polled = poll(&pfd, 1, READY_DEADLINE_MS);
	bool ok = polled == 1 && read(pipefd[0], ready, sizeof(*ready)) == (ssize_t)sizeof(*ready);
	close(pipefd[0]);
	if (!ok) {
		if (polled == 1) /* the pipe closed: the device ended first */
			fprintf(stderr, "mshv-emu-run: the device could not start (its "
					"messages are above)\n");
		else
			fprintf(stderr, "mshv-emu-run: the device did not start within %d ms\n",
				READY_DEADLINE_MS);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* Stop the device: SIGTERM, then SIGKILL after a deadline.  SIGCHLD is
 * blocked here, so its arrival is waited for, not polled.  Returns its
 * wait status: exit 0 when it stopped as asked. */
static int device_stop(pid_t device)
{
	kill(device, SIGTERM);
	int status = 0;
	sigset_t child;
	sigemptyset(&child);
	sigaddset(&child, SIGCHLD);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (waitpid(device, &status, WNOHANG) == 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long waited_ms = (now.tv_sec - start.tv_sec) * 1000 +
				 (now.tv_nsec - start.tv_nsec) / 1000000;
		if (waited_ms >= STOP_DEADLINE_MS) {
			fprintf(stderr,
				"mshv-emu-run: the device did not stop within %d ms; "
				"killed\n",
				STOP_DEADLINE_MS);
			kill(device, SIGKILL);
			waitpid(device, &status, 0);
			return status;
		}
		long left_ms = STOP_DEADLINE_MS - waited_ms;
		struct timespec left = {left_ms / 1000, (left_ms % 1000) * 1000000};
		sigtimedwait(&child, NULL, &left); /* any child: check again */
	}
	return status;
}

/* ---- fuse and cuse: the daemon, in a private mount namespace ---- */

/* NAME beside this program (mshv-emu), into OUT; false if not there. */
static bool sibling_path(const char *name, char *out, size_t size)
{
	char self[PATH_MAX];
	if (!self_dir(self))
		return false;
	int len_out = snprintf(out, size, "%s/%s", self, name);
	return len_out > 0 && (size_t)len_out < size && access(out, X_OK) == 0;
}

/* Bind what HOST (the machine's /dev, by fd) holds at NAME over /dev/NAME. */
static int bind_entry(int host, const char *name)
{
	struct stat st;
	char source[PATH_MAX], target[PATH_MAX];
	snprintf(source, sizeof(source), "/proc/self/fd/%d/%s", host, name);
	snprintf(target, sizeof(target), "/dev/%s", name);
	if (fstatat(host, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return -errno;
	if (S_ISLNK(st.st_mode)) {
		char link[PATH_MAX];
		ssize_t len = readlinkat(host, name, link, sizeof(link) - 1);
		if (len < 0)
			return -errno;
		link[len] = '\0';
		return symlink(link, target) == 0 ? 0 : -errno;
	}
	if (S_ISDIR(st.st_mode) ? mkdir(target, st.st_mode & 07777) != 0
				: mknod(target, S_IFREG | 0600, 0) != 0)
		return -errno;
	return mount(source, target, NULL, MS_BIND | MS_REC, NULL) == 0 ? 0 : -errno;
}

/*
 * A private /dev: a tmpfs over /dev in this (private) mount namespace, with
 * every entry of the machine's /dev bound back into it, but /dev/kvm when
 * HIDE_KVM and any /dev/mshv.  Nothing is created in the machine's /dev.
 */
static int private_dev(int host, bool hide_kvm)
{
	if (mount("mshv-emu-run", "/dev", "tmpfs", MS_NOSUID, "mode=755") != 0)
		return -errno;
	int list = openat(host, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = list >= 0 ? fdopendir(list) : NULL;
	if (!dir) {
		int err = -errno;
		if (list >= 0)
			close(list);
		return err;
	}
	struct dirent *entry;
	int err = 0;
	while (!err && (entry = readdir(dir))) {
		const char *name = entry->d_name;
		if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "mshv") ||
		    (hide_kvm && !strcmp(name, "kvm")))
			continue;
		err = bind_entry(host, name);
		if (err)
			fprintf(stderr, "mshv-emu-run: private /dev: %s: %s\n", name,
				strerror(-err));
	}
	closedir(dir);
	return err;
}

/* Start mshv-emu on FRONT; its node's path into NODE.  Returns its pid. */
static pid_t daemon_start(const struct options *o, const char *front, const char *name,
			  const char *mountpoint, char *node, size_t node_size)
{
	char bin[PATH_MAX];
	const char *forced = getenv("MSHV_EMU_BIN");
	if (forced)
		snprintf(bin, sizeof(bin), "%s", forced);
	else if (!sibling_path("mshv-emu", bin, sizeof(bin))) {
		fprintf(stderr, "mshv-emu-run: cannot find mshv-emu beside this program; set "
				"MSHV_EMU_BIN to its path\n");
		return -1;
	}
	int ready[2];
	if (pipe(ready) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		setpgid(0, 0); /* signals to the run's group are CMD's, as for the device */
		close(ready[0]);
		char fd_text[16];
		snprintf(fd_text, sizeof(fd_text), "%d", ready[1]);
		const char *argv[20] = {bin,
					"--front",
					front,
					"--name",
					name,
					"--mountpoint",
					mountpoint,
					"--ready-fd",
					fd_text,
					"--control",
					o->control ? o->control : ""};
		int argc = 11;
		if (o->policy) {
			argv[argc++] = "--policy";
			argv[argc++] = o->policy;
		}
		if (o->trace) {
			argv[argc++] = "--trace";
			argv[argc++] = o->trace;
		}
		argv[argc] = NULL;
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(bin, (char **)argv);
		fprintf(stderr, "mshv-emu-run: exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(ready[1]);
	if (pid < 0) {
		close(ready[0]);
		return -1;
	}
	/* "ready PATH\n", with a deadline. */
	char line[PATH_MAX + 16] = "";
	size_t used = 0;
	for (int waited_ms = 0; !strchr(line, '\n') && waited_ms < READY_DEADLINE_MS;) {
		struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
		int left = READY_DEADLINE_MS - waited_ms;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (poll(&pfd, 1, left) <= 0)
			break;
		ssize_t got = read(ready[0], line + used, sizeof(line) - 1 - used);
		if (got <= 0)
			break;
		used += (size_t)got;
		line[used] = '\0';
		clock_gettime(CLOCK_MONOTONIC, &t1);
		waited_ms +=
			(int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	}
	close(ready[0]);
	if (strncmp(line, "ready ", 6) || !strchr(line, '\n')) {
		fprintf(stderr,
			"mshv-emu-run: mshv-emu --front %s did not report readiness within "
			"%d ms (its messages are above)\n",
			front, READY_DEADLINE_MS);
		device_stop(pid);
		return -1;
	}
	line[strcspn(line, "\n")] = '\0';
	size_t node_len = strlen(line + 6);
	if (node_len >= node_size) {
		device_stop(pid);
		return -1;
	}
	memcpy(node, line + 6, node_len + 1);
	return pid;
}

/*
 * --transport fuse|cuse: a private mount namespace whose /dev is a tmpfs
 * holding the machine's /dev bound back entry by entry, with the daemon's
 * node bound at /dev/mshv.  Only CMD and its descendants are in it; it
 * ends with them.  Needs root.  Returns the daemon's pid, or -1.
 */
static pid_t kernel_transport(const struct options *o, bool cuse)
{
	if (geteuid() != 0) {
		fprintf(stderr,
			"mshv-emu-run: --transport %s needs root (a mount namespace%s); "
			"--transport preload does not\n",
			cuse ? "cuse" : "fuse", cuse ? " and /dev/cuse" : " and a FUSE mount");
		return -1;
	}
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		fprintf(stderr, "mshv-emu-run: a private mount namespace: %s\n", strerror(errno));
		return -1;
	}
	int host = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (host < 0) {
		fprintf(stderr, "mshv-emu-run: /dev: %s\n", strerror(errno));
		return -1;
	}
	char node[PATH_MAX], name[64];
	pid_t daemon = -1;
	/* CUSE's node appears in the machine's devtmpfs, where mshv-emu waits
	 * for it: start it before /dev is replaced.  FUSE mounts in the
	 * private /dev, so after. */
	if (cuse) {
		snprintf(name, sizeof(name), "mshv-run-%d", (int)getpid());
		daemon = daemon_start(o, "cuse", name, "/", node, sizeof(node));
		if (daemon < 0)
			goto fail;
	}
	int err = private_dev(host, o->hide_kvm);
	if (err)
		goto fail;
	if (!cuse) {
		if (mkdir("/dev/.mshv-emu", 0755) != 0)
			goto fail;
		daemon = daemon_start(o, "fuse", "mshv", "/dev/.mshv-emu", node, sizeof(node));
		if (daemon < 0)
			goto fail;
	}
	char source[PATH_MAX + 32];
	if (cuse) /* the node is in the machine's /dev, behind HOST */
		snprintf(source, sizeof(source), "/proc/self/fd/%d/%s", host, name);
	else
		snprintf(source, sizeof(source), "%s", node);
	if (mknod("/dev/mshv", S_IFREG | 0600, 0) != 0 ||
	    mount(source, "/dev/mshv", NULL, MS_BIND, NULL) != 0) {
		fprintf(stderr, "mshv-emu-run: bind %s at /dev/mshv: %s\n", source,
			strerror(errno));
		goto fail;
	}
	close(host);
	return daemon;
fail:
	if (daemon > 0)
		device_stop(daemon);
	close(host);
	return -1;
}

/* ---- the command ---- */

/* Exec CMD in the child; tell the parent errno through REPORT if it fails.
 * JOIN: the seccomp transport's join socket, joined first; if that fails,
 * CMD does not run (the report is then -errno, the child's status 1). */
static void child_exec(char **argv, const sigset_t *mask, int report, const char *join)
{
	if (join) {
		const char *what = "";
		int joined = seccomp_join(join, &what);
		if (joined < 0) {
			fprintf(stderr,
				"mshv-emu-run: --transport seccomp: %s: %s; %s did not run\n", what,
				strerror(-joined), argv[0]);
			if (write(report, &joined, sizeof(joined)) < 0)
				_exit(1);
			_exit(1);
		}
	}
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
static int run_command(struct options *o, pid_t device, const sigset_t *saved, const char *join)
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
		child_exec(o->argv, saved, report[1], join);
	}
	close(report[1]);
	int err = 0;
	if (read(report[0], &err, sizeof(err)) == (ssize_t)sizeof(err) && err > 0)
		fprintf(stderr, "mshv-emu-run: %s: %s\n", o->argv[0], strerror(err));
	close(report[0]);

	sigset_t wait_set;
	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGCHLD);
	sigaddset(&wait_set, SIGINT);
	sigaddset(&wait_set, SIGTERM);
	sigaddset(&wait_set, SIGQUIT);
	sigaddset(&wait_set, SIGHUP);
	bool device_lost = false, child_done = false;
	int child_status = 0;
	for (;;) {
		int status;
		char text[64];
		/* Any child: CMD, the device, and (the seccomp transport makes
		 * this process the run's subreaper) orphans of CMD, reaped here
		 * so that they leave no zombies while the run lasts. */
		for (pid_t pid; !child_done && (pid = waitpid(-1, &status, WNOHANG)) > 0;) {
			if (pid == device && !device_lost) {
				device_lost = true;
				fprintf(stderr,
					"mshv-emu-run: the device (pid %d) ended under the run "
					"(%s): "
					"the run's calls now fail with ENODEV, its opens with "
					"ENOENT\n",
					(int)device, status_text(status, text, sizeof(text)));
			} else if (pid == child) {
				child_done = true;
				child_status = status;
			}
		}
		if (child_done) {
			status = child_status;
			int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			if (device > 0 && !device_lost) {
				/* It may have died as CMD ended (CMD saw it go): its status
				 * says whether it stopped because we asked. */
				int device_status = device_stop(device);
				if (!WIFEXITED(device_status) || WEXITSTATUS(device_status)) {
					device_lost = true;
					fprintf(stderr,
						"mshv-emu-run: the device (pid %d) ended under the "
						"run (%s)\n",
						(int)device,
						status_text(device_status, text, sizeof(text)));
				}
			}
			return device_lost && rc == 0 ? 1 : rc;
		}
		siginfo_t info;
		int sig = sigwaitinfo(&wait_set, &info);
		if (sig < 0)
			continue;
		/* A terminal's ^C or ^\ reached CMD's process group already: do
		 * not send it twice.  A kill(2) is passed on (one aimed at the
		 * whole group reaches CMD twice: docs/transports.md). */
		if ((sig == SIGINT || sig == SIGQUIT) && info.si_code == SI_KERNEL)
			continue;
		if (sig == SIGHUP && device > 0 && !device_lost)
			kill(device, SIGHUP); /* the device reloads */
		else if (sig == SIGHUP && device_server)
			daemon_reload(&device_daemon, NULL, NULL); /* it is here */
		else if (sig != SIGCHLD && sig != SIGHUP)
			kill(child, sig); /* CMD decides; its status is the run's */
	}
}

/*
 * --transport seccomp: this process answers the run's notifications (so it
 * is an ancestor of every process it reads the memory of, as Yama's
 * ptrace_scope 1 wants; orphans of the run are reparented to it), from
 * the run's device, which runs here too (device_up): a call goes from the
 * answering thread to the core without another process.  SNAP: the
 * policy, the device's from now on.
 */
static int run_seccomp(struct options *o, struct policy_snapshot *snap, const char *why,
		       const sigset_t *saved)
{
	unsigned mode = snap->device_mode;
	struct ready ready;
	if (device_up(o, snap, getpid(), &ready) != 0)
		return 1;
	struct seccomp_config config = {.server = device_server,
					.run_id = ready.id,
					.mode = mode,
					.hide_kvm = o->hide_kvm,
					.uid = getuid()};
	char join[108], mode_text[16], device_text[16];
	struct seccomp_served *served = seccomp_serve_start(&config, join, sizeof(join));
	if (!served) {
		device_halt(o);
		device_down(o);
		return 1;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	snprintf(mode_text, sizeof(mode_text), "%04o", mode);
	snprintf(device_text, sizeof(device_text), "%d", (int)getpid());
	int rc = 1;
	if (setenv(SECCOMP_ENV_JOIN, join, 1) || setenv(WIRE_ENV_MODE, mode_text, 1) ||
	    setenv(WIRE_ENV_DEVICE_PID, device_text, 1) || unsetenv(WIRE_ENV_SOCKET) ||
	    unsetenv(WIRE_ENV_ID)) {
		fprintf(stderr, "mshv-emu-run: environment: %s\n", strerror(errno));
	} else {
		if (why)
			fprintf(stderr, "mshv-emu-run: transport seccomp (%s)\n", why);
		rc = run_command(o, -1, saved, join);
	}
	/* CMD has ended: calls still held end (ENODEV), the answering threads
	 * finish what they took, and only then does the device go. */
	device_halt(o);
	seccomp_serve_end(served);
	device_down(o);
	return rc;
}

/* --in-process: no device process; each process of CMD loads the core. */
static int run_in_process(struct options *o, const char *shim, unsigned mode, const char *why)
{
	char lib[PATH_MAX + 32], policy[PATH_MAX] = "";
	const char *slash = strrchr(shim, '/');
	snprintf(lib, sizeof(lib), "%.*s/libmshv-emu-inproc.so", (int)(slash ? slash - shim : 1),
		 slash ? shim : ".");
	if (access(lib, R_OK) != 0) {
		fprintf(stderr,
			"mshv-emu-run: --in-process: %s: %s (not built in this "
			"configuration?)\n",
			lib, strerror(errno));
		return 1;
	}
	if (o->policy && !realpath(o->policy, policy)) {
		fprintf(stderr, "mshv-emu-run: %s: %s\n", o->policy, strerror(errno));
		return 1;
	}
	const char *before = getenv("LD_PRELOAD");
	char *preload = NULL;
	char mode_text[16];
	snprintf(mode_text, sizeof(mode_text), "%04o", mode);
	if (asprintf(&preload, "%s%s%s", shim, before && *before ? ":" : "", before ? before : "") <
		    0 ||
	    setenv("LD_PRELOAD", preload, 1) || setenv(WIRE_ENV_INPROC, lib, 1) ||
	    setenv(WIRE_ENV_POLICY, policy, 1) || setenv(WIRE_ENV_MODE, mode_text, 1) ||
	    unsetenv(WIRE_ENV_SOCKET) || unsetenv(WIRE_ENV_ID) ||
	    (o->hide_kvm ? setenv(WIRE_ENV_HIDE_KVM, "1", 1) : unsetenv(WIRE_ENV_HIDE_KVM))) {
		fprintf(stderr, "mshv-emu-run: environment: %s\n", strerror(errno));
		free(preload);
		return 1;
	}
	free(preload);
	if (why)
		fprintf(stderr, "mshv-emu-run: transport preload, in process (%s)\n", why);
	sigset_t saved;
	block_run_signals(&saved);
	return run_command(o, -1, &saved, NULL);
}

int main(int argc, char **argv)
{
	struct options o;
	int parsed = parse_options(argc, argv, &o);
	if (parsed >= 0)
		return parsed;
	struct policy_snapshot *snap = daemon_load_policy(o.policy);
	if (!snap) {
		fprintf(stderr, "mshv-emu-run: %s: not running %s with an invalid policy\n",
			o.policy ? o.policy : "<embedded default>", o.argv[0]);
		return 1;
	}
	char path[PATH_MAX];
	bool found = command_path(o.argv[0], path, sizeof(path));
	bool is_static = found && linkage_of(path) == LINK_STATIC;
	const char *why = NULL;
	if (o.transport == TRANSPORT_AUTO) {
		/* Preload for what calls libc; seccomp sees the rest. */
		o.transport = !is_static ? TRANSPORT_PRELOAD : TRANSPORT_SECCOMP;
		why = !is_static ? "CMD is dynamically linked" : "CMD is statically linked";
	}
	if (o.transport == TRANSPORT_PRELOAD && is_static) {
		fprintf(stderr,
			"mshv-emu-run: %s is statically linked: the preload transport cannot "
			"reach it (a static program calls no shared libc); use --transport "
			"seccomp, or as root fuse or cuse\n",
			path);
		policy_free(snap);
		return 1;
	}
	if (o.transport == TRANSPORT_SECCOMP) {
		/* Before anything starts: no half-started CMD on a kernel or in a
		 * container that has no seccomp user notification. */
		const char *what = "";
		int err = seccomp_probe(&what);
		if (err == -EBUSY) {
			fprintf(stderr,
				"mshv-emu-run: --transport seccomp: this process already "
				"runs under a seccomp filter with a listener (a seccomp run, "
				"or a container manager's), and the kernel allows one per "
				"process: run it outside, or use --transport preload\n");
			policy_free(snap);
			return 1;
		}
		if (err) {
			fprintf(stderr,
				"mshv-emu-run: --transport seccomp needs seccomp user notification "
				"(Linux 5.14 or later, and a seccomp policy that allows seccomp() "
				"with SECCOMP_FILTER_FLAG_NEW_LISTENER): %s: %s; use --transport "
				"preload for a dynamically linked CMD, or as root fuse or cuse\n",
				what, strerror(-err));
			policy_free(snap);
			return 1;
		}
	}
	sigset_t saved;
	if (o.transport == TRANSPORT_FUSE || o.transport == TRANSPORT_CUSE) {
		bool cuse = o.transport == TRANSPORT_CUSE;
		policy_free(snap); /* mshv-emu loads it again */
		if (why)
			fprintf(stderr, "mshv-emu-run: transport %s (%s)\n", cuse ? "cuse" : "fuse",
				why);
		block_run_signals(&saved);
		pid_t daemon = kernel_transport(&o, cuse);
		return daemon < 0 ? 1 : run_command(&o, daemon, &saved, NULL);
	}
	bool seccomp = o.transport == TRANSPORT_SECCOMP;
	char shim[PATH_MAX];
	if (!seccomp && !preload_path(shim, sizeof(shim))) {
		fprintf(stderr,
			"mshv-emu-run: cannot find " PRELOAD_NAME
			" in ../lib or " MSHV_EMU_BIN_TO_PKGLIBDIR " from this program; set "
			"MSHV_EMU_PRELOAD to its path\n");
		policy_free(snap);
		return 1;
	}
	unsigned mode = snap->device_mode;
	if (o.in_process)
		return run_in_process(&o, shim, mode, why);
	/* Signals are taken with sigwait, here and in the device; every
	 * thread started from now on has them blocked. */
	block_run_signals(&saved);
	if (seccomp) {
		device_front = "seccomp";
		return run_seccomp(&o, snap, why, &saved);
	}
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
	if (why)
		fprintf(stderr, "mshv-emu-run: transport preload (%s)\n", why);
	return run_command(&o, device, &saved, NULL);
}
