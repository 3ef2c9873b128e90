/*
 * main.c - the mshv-emu daemon: options, policy loading, SIGHUP reload,
 * picking a front end, shutdown.
 *
 * Start-up order matters: parse options (an unknown --user is refused
 * here), load the policy (fail fast, before anything is created), block
 * SIGHUP and give it a handler of our own before libfuse sets up (libfuse
 * only installs its teardown handlers where the disposition is still the
 * default, and would otherwise exit on SIGHUP), then hand over to a front
 * end.  Once the node exists it calls node_made, still with no other
 * thread: --user's switch (privileges.c), then the transcript, the reload
 * thread and the control socket, all as the user; then it signals
 * readiness.  It never daemonizes: run it under a supervisor, or with &
 * and --ready-fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "daemon.h"
#include "front/hold.h"
#include "json.h"
#include "notify.h"
#include "pidfile.h"
#include "privileges.h"

#define DEFAULT_MOUNTPOINT "/run/mshv-emu"
#define DEFAULT_CONTROL	   "/run/mshv-emu.sock"

enum front_kind {
	FRONT_AUTO,
	FRONT_CUSE,
	FRONT_FUSE
};

struct daemon_options {
	const char *policy_path; /* NULL: the embedded default */
	enum front_kind front;
	const char *name;
	const char *mountpoint;
	const char *control; /* mshvctl's socket; "" for none */
	gid_t control_group; /* --control-group, or (gid_t)-1 */
	const char *trace;   /* transcript file, or NULL */
	const char *cpus;    /* --cpu LIST, or NULL */
	const char *user;    /* --user NAME, or NULL */
	const char *pidfile; /* --pidfile FILE, or NULL */
	int ready_fd;
	enum log_style log;
};

static const char usage_text[] =
	"usage: mshv-emu [--policy FILE] [--front cuse|fuse|auto] [--name NAME]\n"
	"                [--mountpoint DIR] [--ready-fd N] [--control SOCKET]\n"
	"                [--control-group GROUP] [--trace FILE] [--cpu LIST] [--user USER]\n"
	"                [--log auto|time|journal|plain] [--pidfile FILE]\n"
	"       mshv-emu --check [--json] FILE...\n"
	"       mshv-emu -h | --help | --version | --print-capabilities\n";

static const char help_text[] =
	"\n"
	"Serves /dev/mshv from userspace, answering from a capability policy.\n"
	"  --policy FILE     policy to serve (default: the embedded default policy)\n"
	"  --front KIND      cuse: a character device /dev/NAME (needs /dev/cuse);\n"
	"                    fuse: a file DIR/NAME on a FUSE mount;\n"
	"                    auto (default): cuse when /dev/cuse exists, else fuse\n"
	"  --name NAME       device or file name (default: the policy's device.name)\n"
	"  --mountpoint DIR  FUSE front: where to mount, an empty directory or a new one\n"
	"                    (default " DEFAULT_MOUNTPOINT ")\n"
	"  --ready-fd N      write \"ready PATH\\n\" to fd N once the node exists, then close it\n"
	"  --control SOCKET  where mshvctl connects (default " DEFAULT_CONTROL "; \"\" for none):\n"
	"                    mode 0600, in a directory only this user (or root) can write\n"
	"  --control-group GROUP\n"
	"                    make the socket 0660 and GROUP's, and let GROUP's members use it\n"
	"  --trace FILE      write a JSON Lines transcript of every open, ioctl and release\n"
	"  --cpu LIST        run every thread on these CPUs (\"0\", \"0,2\", \"0-3\"): put the\n"
	"                    daemon on the CPU its client runs on, and a round trip skips a\n"
	"                    cross-CPU wake-up (docs/benchmarks.md)\n"
	"  --user USER       once the node exists, run as USER (its uid, group and groups)\n"
	"                    with no capability but, for FUSE, CAP_SYS_PTRACE (it reads\n"
	"                    callers' memory); transcripts and the control socket are\n"
	"                    made, and reloads read, as USER.  Root only (README.md)\n"
	"  --log STYLE       how each log line on stderr starts: time (an ISO 8601 UTC\n"
	"                    timestamp), journal (a <N> syslog priority, for systemd's\n"
	"                    journal), plain (the name only), or auto (the default:\n"
	"                    journal when stderr is the journal's, else time)\n"
	"  --pidfile FILE    write the daemon's pid to FILE (mode 0644), locked while it\n"
	"                    runs and removed at the stop; refused if a running mshv-emu\n"
	"                    holds it, replaced if the one that wrote it is gone\n"
	"  --print-capabilities\n"
	"                    print one JSON object: the fronts, mshv-emu-run's transports,\n"
	"                    the profiles and the features of this build, and the fronts\n"
	"                    usable here now\n"
	"  --check FILE...   validate policies, print every error as FILE:LINE:COL, exit 1 if any\n"
	"  --json            with --check: one JSON object on stdout, each file's errors\n"
	"                    as {\"line\", \"column\", \"message\"}; usage errors as {\"error\"}\n"
	"Signals: SIGHUP reloads the policy (a bad one keeps the old serving);\n"
	"SIGTERM and SIGINT stop cleanly.  With NOTIFY_SOCKET set, it tells the service\n"
	"manager READY=1, RELOADING=1 and STOPPING=1 (sd_notify; docs/service.md).\n";

/* The command line (tools/cli.h): whole option names, usage errors exit 2,
 * and with --json one object on stdout, errors included. */
static struct cli cli;

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	char message[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return cli_usage_error(&cli, "%s", message);
}

/* --check --json: one file's object in the "files" list. */
static void check_json(const char *path, const struct policy_snapshot *snap,
		       const struct diag_list *diags)
{
	fputs("{\"file\":", stdout);
	json_string(stdout, path, SIZE_MAX);
	if (snap) {
		printf(",\"ok\":true,\"profile\":\"%s\",\"capabilities\":%u,\"ioctls\":%u,"
		       "\"fault_rules\":%u,\"digest\":\"%s\"}",
		       profile_get(snap->profile)->name, snap->cap_count, snap->ioctl_count,
		       snap->fault_count, snap->digest);
		return;
	}
	fputs(",\"ok\":false,\"errors\":[", stdout);
	for (size_t i = 0; i < diags->count; i++) {
		const struct diag *d = &diags->items[i];
		printf("%s{\"line\":%u,\"column\":%u,\"message\":", i ? "," : "", d->line,
		       d->column);
		json_string(stdout, d->message, SIZE_MAX);
		putchar('}');
	}
	fputs("]}", stdout);
}

/* --check FILE...: each file's errors on stderr as FILE:LINE:COL, and a line
 * per valid file on stdout; with --json, stdout is one object instead:
 * {"ok": all valid, "files": [{"file", "ok", then the profile and counts,
 * or "errors": [{"line", "column", "message"}]}]}.  Exit 1 if any is
 * invalid. */
static int check_policies(int count, char **paths)
{
	int failed = 0;
	if (cli.json)
		fputs("{\"files\":[", stdout);
	for (int i = 0; i < count; i++) {
		struct diag_list diags = {0};
		struct policy_snapshot *snap = policy_load_file(paths[i], &diags);
		diag_print(&diags, stderr);
		if (cli.json) {
			if (i)
				putchar(',');
			check_json(paths[i], snap, &diags);
		} else if (snap) {
			printf("%s: ok (profile %s, %u capabilities, %u ioctls, %u fault rules, "
			       "%s)\n",
			       paths[i], profile_get(snap->profile)->name, snap->cap_count,
			       snap->ioctl_count, snap->fault_count, snap->digest);
		}
		if (!snap)
			failed = 1;
		policy_free(snap);
		diag_free(&diags);
	}
	if (cli.json)
		printf("],\"ok\":%s}\n", failed ? "false" : "true");
	return failed;
}

/* --check's operands: the FILEs after it, where `--json` may still come
 * (before a `--`, after which every word is a FILE). */
static int check_operands(int argc, char **argv)
{
	int count = 0;
	bool files_only = false;
	for (int i = 0; i < argc; i++) {
		if (!files_only && !strcmp(argv[i], "--")) {
			files_only = true;
		} else if (!files_only && !strcmp(argv[i], "--json")) {
			continue; /* cli_init saw it */
		} else if (!files_only && argv[i][0] == '-' && argv[i][1]) {
			return usage_error(
				"--check takes FILEs, not the option %s; put `--` before "
				"a FILE whose name starts with -",
				argv[i]);
		} else {
			argv[count++] = argv[i];
		}
	}
	if (!count)
		return usage_error("--check needs %s", "FILE...");
	return check_policies(count, argv);
}

/* ---- SIGHUP (its reload thread is daemon.c's) ---- */

static void sighup_noop(int sig)
{
	(void)sig;
}

/* libfuse's own messages ("fuse: ..."), as lines of our log: its levels
 * are syslog's priorities. */
__attribute__((format(printf, 2, 0))) static void log_from_fuse(enum fuse_log_level level,
								const char *fmt, va_list ap)
{
	emu_vlogp((int)level, fmt, ap);
}

/* ---- --print-capabilities ---- */

static void json_list(const char *key, const char *const *items, size_t count, bool last)
{
	printf("\"%s\":[", key);
	for (size_t i = 0; i < count; i++) {
		json_string(stdout, items[i], 64);
		if (i + 1 < count)
			putchar(',');
	}
	printf("]%s", last ? "" : ",");
}

/* What this build can do, for scripts: one JSON object on stdout. */
static int print_capabilities(void)
{
	static const char *const fronts[] = {"cuse", "fuse"};
	/* mshv-emu-run --transport, and --in-process where it is built. */
	static const char *const transports[] = {
		"preload",    "seccomp", "fuse", "cuse",
#ifdef MSHV_EMU_HAVE_INPROC
		"in-process",
#endif
	};
	static const char *const profiles[] = {
#define X(id, name) name,
		MSHV_EMU_PROFILES(X)
#undef X
	};
	/* check: --check; control-socket, control-group: mshvctl's; faults: the
	 * policy's faults: and mshvctl fault/inject; log-journal, log-time:
	 * --log; reload: SIGHUP and mshvctl reload; transcript: --trace and
	 * mshvctl trace; cpu-affinity: --cpu; user: --user. */
	static const char *const features[] = {
		"check",  "control-socket", "control-group", "cpu-affinity",
		"faults", "log-journal",    "log-time",	     "pidfile",
		"reload", "sd-notify",	    "transcript",    "user",
	};
	const char *usable[2];
	size_t usable_count = 0;
	if (access("/dev/cuse", R_OK | W_OK) == 0)
		usable[usable_count++] = "cuse";
	if (access("/dev/fuse", R_OK | W_OK) == 0)
		usable[usable_count++] = "fuse";
	printf("{\"name\":\"mshv-emu\",\"version\":");
	json_string(stdout, MSHV_EMU_VERSION, 64);
	putchar(',');
	json_list("fronts", fronts, sizeof(fronts) / sizeof(fronts[0]), false);
	json_list("usable_fronts", usable, usable_count, false);
	json_list("transports", transports, sizeof(transports) / sizeof(transports[0]), false);
	json_list("profiles", profiles, sizeof(profiles) / sizeof(profiles[0]), false);
	json_list("features", features, sizeof(features) / sizeof(features[0]), true);
	printf("}\n");
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- options ---- */

/* "0", "0,2", "0-3,6" into SET (may be NULL to only validate).  0 or -1. */
static int parse_cpus(const char *text, cpu_set_t *set)
{
	cpu_set_t cpus;
	CPU_ZERO(&cpus);
	const char *p = text;
	while (*p) {
		char *end;
		errno = 0;
		long first = strtol(p, &end, 10), last = first;
		if (end == p || errno || first < 0 || first >= CPU_SETSIZE)
			return -1;
		p = end;
		if (*p == '-') {
			last = strtol(++p, &end, 10);
			if (end == p || errno || last < first || last >= CPU_SETSIZE)
				return -1;
			p = end;
		}
		for (long cpu = first; cpu <= last; cpu++)
			CPU_SET(cpu, &cpus);
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return -1;
	}
	if (set)
		*set = cpus;
	return CPU_COUNT(&cpus) ? 0 : -1;
}

/* SET as "0-3,6" into OUT. */
static void format_cpus(const cpu_set_t *set, char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	for (int cpu = 0; cpu < CPU_SETSIZE && used < size; cpu++) {
		if (!CPU_ISSET(cpu, set))
			continue;
		int last = cpu;
		while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, set))
			last++;
		int n = last == cpu
				? snprintf(out + used, size - used, "%s%d", used ? "," : "", cpu)
				: snprintf(out + used, size - used, "%s%d-%d", used ? "," : "", cpu,
					   last);
		used += n > 0 ? (size_t)n : 0;
		cpu = last;
	}
}

/*
 * Pin this process to --cpu TEXT, every CPU of which must be one it may run
 * on (sched_setaffinity would quietly drop the others, or say only EINVAL
 * when none is).  0, or -1 after saying which CPUs there are.
 */
static int pin_cpus(const char *text)
{
	cpu_set_t wanted, allowed, missing;
	parse_cpus(text, &wanted);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
		emu_err("--cpu %s: cannot read this process's CPUs: %s", text, strerror(errno));
		return -1;
	}
	CPU_AND(&missing, &wanted, &allowed);
	CPU_XOR(&missing, &missing, &wanted);
	if (CPU_COUNT(&missing)) {
		/* Not here at all, or online but not for us (taskset, a cpuset). */
		char text_online[256] = "", gone[256], barred[256], present[256];
		cpu_set_t online, absent, excluded;
		FILE *file = fopen("/sys/devices/system/cpu/online", "r");
		if (file && fgets(text_online, sizeof(text_online), file))
			text_online[strcspn(text_online, "\n")] = '\0';
		if (file)
			fclose(file);
		if (parse_cpus(text_online, &online) != 0)
			CPU_ZERO(&online);
		CPU_AND(&excluded, &missing, &online);
		CPU_XOR(&absent, &missing, &excluded);
		format_cpus(&absent, gone, sizeof(gone));
		format_cpus(&excluded, barred, sizeof(barred));
		format_cpus(&allowed, present, sizeof(present));
		char why[600];
		int n = 0;
		if (CPU_COUNT(&absent))
			n = snprintf(why, sizeof(why), "no CPU%s %s here",
				     CPU_COUNT(&absent) > 1 ? "s" : "", gone);
		if (CPU_COUNT(&excluded))
			snprintf(why + n, sizeof(why) - (size_t)n,
				 "%sCPU%s %s %s not this process's (taskset, or a cgroup's cpuset)",
				 n ? ", and " : "", CPU_COUNT(&excluded) > 1 ? "s" : "", barred,
				 CPU_COUNT(&excluded) > 1 ? "are" : "is");
		emu_err("--cpu %s: %s; this process may run on CPU%s %s: pick among them", text,
			why, CPU_COUNT(&allowed) > 1 ? "s" : "", present);
		return -1;
	}
	if (sched_setaffinity(0, sizeof(wanted), &wanted) != 0) {
		emu_err("--cpu %s: %s", text, strerror(errno));
		return -1;
	}
	return 0;
}

/* A group name, or number, into GID.  0 or -1. */
static int parse_group(const char *text, gid_t *gid)
{
	char *end;
	errno = 0;
	unsigned long number = strtoul(text, &end, 10);
	if (*text && !*end && !errno && number < (gid_t)-1) {
		*gid = (gid_t)number;
		return 0;
	}
	struct group *group = getgrnam(text);
	if (!group)
		return -1;
	*gid = group->gr_gid;
	return 0;
}

/* parse_options - fill OPTIONS.  Returns -1 to go on serving, or the exit
 * code when the work is done (--help, --check) or the command line is wrong. */
static int parse_options(int argc, char **argv, struct daemon_options *options)
{
	enum {
		OPT_CHECK = 256,
		OPT_VERSION,
		OPT_CAPABILITIES,
		OPT_JSON
	};
	static const struct option longopts[] = {
		{"policy", required_argument, NULL, 'p'},
		{"front", required_argument, NULL, 'f'},
		{"name", required_argument, NULL, 'n'},
		{"mountpoint", required_argument, NULL, 'm'},
		{"ready-fd", required_argument, NULL, 'r'},
		{"control", required_argument, NULL, 'c'},
		{"control-group", required_argument, NULL, 'G'},
		{"trace", required_argument, NULL, 't'},
		{"cpu", required_argument, NULL, 'C'},
		{"user", required_argument, NULL, 'u'},
		{"log", required_argument, NULL, 'L'},
		{"pidfile", required_argument, NULL, 'P'},
		{"check", no_argument, NULL, OPT_CHECK},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{"print-capabilities", no_argument, NULL, OPT_CAPABILITIES},
		{"json", no_argument, NULL, OPT_JSON},
		{NULL, 0, NULL, 0},
	};
	*options = (struct daemon_options){.front = FRONT_AUTO,
					   .ready_fd = -1,
					   .mountpoint = DEFAULT_MOUNTPOINT,
					   .control = DEFAULT_CONTROL,
					   .control_group = (gid_t)-1};
	log_style_parse("auto", &options->log);
	cli_init(&cli, "mshv-emu", usage_text, argc, argv);
	int opt;
	bool capabilities = false;
	while ((opt = cli_getopt(&cli, argc, argv, "+h", longopts)) != -1) {
		char *end;
		switch (opt) {
		case 'p':
			options->policy_path = optarg;
			break;
		case 'f':
			if (!strcmp(optarg, "cuse"))
				options->front = FRONT_CUSE;
			else if (!strcmp(optarg, "fuse"))
				options->front = FRONT_FUSE;
			else if (!strcmp(optarg, "auto"))
				options->front = FRONT_AUTO;
			else
				return usage_error("--front %s: expected cuse, fuse or auto",
						   optarg);
			break;
		case 'n':
			if (!policy_device_name_ok(optarg))
				return usage_error(
					"--name %s: use letters, digits, '_', '-' or '.'", optarg);
			options->name = optarg;
			break;
		case 'm':
			options->mountpoint = optarg;
			break;
		case 'c':
			options->control = optarg;
			break;
		case 'G':
			if (parse_group(optarg, &options->control_group) != 0)
				return usage_error(
					"--control-group %s: no such group; give a group "
					"name or number",
					optarg);
			break;
		case 't':
			if (!*optarg)
				return usage_error("--trace needs a FILE, not %s", "\"\"");
			options->trace = optarg;
			break;
		case 'C':
			if (parse_cpus(optarg, NULL) != 0)
				return usage_error(
					"--cpu %s: expected CPU numbers such as 0, 0,2 or 0-3",
					optarg);
			options->cpus = optarg;
			break;
		case 'L':
			if (log_style_parse(optarg, &options->log) != 0)
				return usage_error(
					"--log %s: expected auto, time, journal or plain", optarg);
			break;
		case 'P':
			if (!*optarg)
				return usage_error("--pidfile needs a FILE, not %s", "\"\"");
			options->pidfile = optarg;
			break;
		case 'u':
			options->user = optarg;
			break;
		case 'r':
			errno = 0;
			long fd = strtol(optarg, &end, 10);
			if (errno || *end || !*optarg || fd < 0 || fd > INT32_MAX)
				return usage_error(
					"--ready-fd %s: expected a file descriptor number", optarg);
			options->ready_fd = (int)fd;
			break;
		case OPT_CHECK:
			if (capabilities)
				return usage_error("--check and --print-capabilities are two "
						   "modes: give %s",
						   "one");
			return check_operands(argc - optind, argv + optind);
		case OPT_JSON:
			break; /* cli_init saw it */
		case 'h':
			printf("%s%s", usage_text, help_text);
			return 0;
		case OPT_CAPABILITIES:
			/* Answered once every option is parsed: the options are
			 * checked (a unit's ExecStart, tests/service), operands
			 * and --check refused. */
			capabilities = true;
			break;
		case OPT_VERSION:
			return cli_version(&cli);
		default: /* cli_getopt said what is wrong */
			return cli_usage_error(&cli, NULL);
		}
	}
	if (capabilities) {
		if (optind < argc)
			return usage_error("--print-capabilities takes no argument, not %s",
					   argv[optind]);
		return print_capabilities();
	}
	if (cli.json)
		return usage_error("--json goes with --check FILE...: a serving daemon prints no "
				   "results (--print-capabilities is JSON already)");
	if (optind < argc)
		return usage_error("unexpected argument %s", argv[optind]);
	if (options->control_group != (gid_t)-1 && !*options->control)
		return usage_error("--control-group needs a control socket, and --control is %s",
				   "\"\"");
	return -1;
}

/*
 * The policy to serve, or NULL after saying why: what is wrong with the file
 * itself (missing, a directory...) says it all; errors in its content, each
 * FILE:LINE:COL, are followed by a line saying that nothing is served.
 */
static struct policy_snapshot *load_policy(const char *path)
{
	struct diag_list diags = {0};
	struct policy_snapshot *snap =
		path ? policy_load_file(path, &diags) : policy_load_default(&diags);
	bool in_content = false;
	for (size_t i = 0; i < diags.count; i++)
		in_content |= diags.items[i].line != 0;
	emu_log_diags(LOG_ERR, &diags);
	diag_free(&diags);
	if (!snap && in_content)
		emu_err("%s: not serving an invalid policy; fix the errors above (mshv-emu --check "
			"lists them)",
			path ? path : "<embedded default>");
	return snap;
}

/* ---- once the node exists ---- */

struct start {
	struct daemon *daemon;
	const struct daemon_options *options;
	enum front_kind kind;
	struct privileges *user; /* NULL without --user */
	bool reloading;		 /* the reload thread runs */
	bool served;		 /* the node served (front_ready) */
};

static int before_mount(void *arg)
{
	struct start *start = arg;
	return start->user ? privileges_own_mount(start->user) : 0;
}

/* The node exists, and no other thread yet: become the user, then start
 * what runs as the user (every thread inherits what the switch left). */
static int node_made(void *arg)
{
	struct start *start = arg;
	struct daemon *daemon = start->daemon;
	if (start->user) {
		/* FUSE reads callers' memory, and unmounts through fusermount3. */
		bool fuse = start->kind == FRONT_FUSE;
		if (privileges_drop(start->user, fuse, !fuse) != 0)
			return 1;
		daemon->uid = start->user->uid;
		privileges_check_readable(start->user, daemon->policy_path);
	}
	if (start->options->trace) {
		struct diag_list diags = {0};
		struct trace *trace = trace_open(start->options->trace, &diags);
		emu_log_diags(LOG_ERR, &diags);
		diag_free(&diags);
		if (!trace) {
			if (start->user)
				emu_err("--user %s: the transcript is made as %s: give it a "
					"file %s may write",
					start->user->name, start->user->name, start->user->name);
			return 1;
		}
		core_trace_start(&daemon->core, trace);
	}
	/* It only sigwaits SIGHUP; nothing else may land there.  A SIGHUP sent
	 * before it starts waits, blocked, for it. */
	if (daemon_reloader_start(daemon) != 0) {
		emu_err("start: cannot create the reload thread");
		return 1;
	}
	start->reloading = true;
	if (*start->options->control && control_serve() != 0)
		return 1;
	return 0;
}

/* ---- the service manager (sd_notify) ---- */

/* "NODE: front F, profile P, policy SOURCE, generation N" into OUT. */
static void serving_status(struct daemon *daemon, char *out, size_t size)
{
	char node[4096];
	struct core_identity id;
	daemon->node_path(node, sizeof(node));
	core_identity(&daemon->core, &id);
	int n = snprintf(out, size, "%s: front %s, profile %s, policy %s, generation %llu", node,
			 daemon->front, profile_get(id.profile)->name, id.source,
			 (unsigned long long)id.generation);
	/* A status line is for people: a very long path is cut, marked so. */
	if (n >= (int)size && size > 4)
		memcpy(out + size - 4, "...", 4);
}

static void notify_ready(void *arg, const char *path)
{
	struct start *start = arg;
	char status[512];
	(void)path;
	start->served = true;
	serving_status(start->daemon, status, sizeof(status));
	notify_send("READY=1\nSTATUS=Serving %s", status);
}

static void notify_reloading(struct daemon *daemon, const char *file)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	(void)daemon;
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading %s",
		    (unsigned long long)now.tv_sec * 1000000ull +
			    (unsigned long long)now.tv_nsec / 1000,
		    file ? file : "<embedded default>");
}

static void notify_reloaded(struct daemon *daemon, const char *file, int rc)
{
	char status[512];
	serving_status(daemon, status, sizeof(status));
	if (rc == 0)
		notify_send("READY=1\nSTATUS=Serving %s", status);
	else
		notify_send("READY=1\nSTATUS=Reload of %s rejected (see the log); still serving %s",
			    file ? file : "<embedded default>", status);
}

int main(int argc, char **argv)
{
	struct daemon_options options;
	int exit_code = parse_options(argc, argv, &options);
	if (exit_code >= 0)
		return exit_code;
	log_set_style(options.log);
	fuse_set_log_func(log_from_fuse);
	notify_open(); /* before --user's switch, and before any thread */
	struct privileges user = {0};
	if (options.user && privileges_lookup(options.user, &user) != 0)
		return 1;

	int rc = 1, pidfile = -1;
	struct policy_snapshot *snap = load_policy(options.policy_path);
	if (!snap)
		goto out_user;
	if (options.ready_fd >= 0 && fcntl(options.ready_fd, F_GETFD) < 0) {
		emu_err("--ready-fd %d: not an open file descriptor; open it where mshv-emu is "
			"started (a shell's %d>FILE, or a pipe's end the caller keeps), or drop "
			"--ready-fd",
			options.ready_fd, options.ready_fd);
		goto out_policy;
	}
	/* Before any thread exists: every thread inherits the mask. */
	if (options.cpus && pin_cpus(options.cpus) != 0)
		goto out_policy;
	enum front_kind kind = options.front;
	if (kind == FRONT_AUTO)
		kind = access("/dev/cuse", F_OK) == 0 ? FRONT_CUSE : FRONT_FUSE;
	if (options.user &&
	    privileges_preflight(&user, kind == FRONT_FUSE ? options.mountpoint : NULL,
				 options.control) != 0)
		goto out_policy;
	if (options.pidfile && (pidfile = pidfile_create(options.pidfile)) < 0)
		goto out_policy;
	char name[POLICY_NAME_MAX];
	snprintf(name, sizeof(name), "%s", options.name ? options.name : snap->device_name);
	unsigned mode = snap->device_mode;

	/* SIGTERM/SIGINT stop us even when started from a script that ignores
	 * SIGINT (a shell's background job): libfuse installs its teardown
	 * handlers only where the disposition is the default. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);

	/* SIGHUP: blocked in every thread (they inherit this mask) and taken by
	 * sigwait in the reload thread; the no-op handler keeps libfuse's hands off. */
	struct sigaction hup = {.sa_handler = sighup_noop};
	sigemptyset(&hup.sa_mask);
	sigaction(SIGHUP, &hup, NULL);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, NULL);

	static struct daemon daemon; /* the control thread reads it until the end */
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	daemon.started_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	daemon.uid = geteuid(); /* --user's once the node exists */
	daemon.held_count = front_hold_count;
	daemon.release_held = front_hold_release;
	daemon.node_path = front_node_path;
	daemon.reloading = notify_reloading;
	daemon.reloaded = notify_reloaded;
	pthread_mutex_init(&daemon.reload_lock, NULL);
	if (options.policy_path && !(daemon.policy_path = strdup(options.policy_path)))
		goto out_policy;
	trace_set_log(emu_warn); /* a transcript's write errors go to our log */
	core_init(&daemon.core, snap);
	snap = NULL; /* the core's now */
	struct start start = {
		.daemon = &daemon,
		.options = &options,
		.kind = kind,
		.user = options.user ? &user : NULL,
	};
	daemon.front = kind == FRONT_CUSE ? "cuse" : "fuse"; /* before mshvctl can ask */
	/* Listening as root: mshvctl trusts a server that is root or its own
	 * user, and root and USER both use this one.  It answers once the node
	 * exists, as USER under --user (node_made). */
	if (*options.control && control_open(&daemon, options.control, options.control_group,
					     options.user ? user.uid : geteuid()) != 0) {
		core_fini(&daemon.core);
		free(daemon.policy_path);
		goto out_policy;
	}
	daemon.front_options = (struct front_options){
		.core = &daemon.core,
		.name = name,
		.mode = mode,
		.mountpoint = options.mountpoint,
		.ready_fd = options.ready_fd,
		.max_threads = 16,
		.owner_uid = geteuid(),
		.owner_gid = getegid(),
		.before_mount = before_mount,
		.node_made = node_made,
		.ready = notify_ready,
		.hook_arg = &start,
	};
	rc = kind == FRONT_CUSE ? front_cuse_run(&daemon.front_options)
				: front_fuse_run(&daemon.front_options);

	if (start.served)
		notify_send("STOPPING=1\nSTATUS=Stopping");
	control_stop();
	if (start.reloading)
		daemon_reloader_stop(&daemon);
	core_fini(&daemon.core);
	free(daemon.policy_path);
	if (start.served)
		emu_log("stopped");
out_policy:
	pidfile_remove(options.pidfile, pidfile);
	policy_free(snap);
out_user:
	privileges_free(&user);
	notify_close();
	return rc;
}
