/*
 * control.c - the daemon side of mshvctl: a Unix socket that only the
 * daemon's user and root may use (checked with SO_PEERCRED on every
 * connection; others are refused and logged).
 *
 * Protocol: one request per connection.  The client sends its arguments one
 * per line and an empty line; the daemon answers "ok" or "error" on the
 * first line, then the text to show, and closes.  Output is rendered here,
 * as a table or (with --json first) one JSON object, so the client stays a
 * dozen lines of socket code.  Malformed requests get an error reply; the
 * daemon keeps serving.  It never runs on the ioctl path.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-bp.h>

#include "daemon.h"
#include "errnames.h"

#define REQUEST_MAX 65536
#define ARGS_MAX    16

static struct {
	struct daemon *daemon;
	int listen_fd;
	pthread_t thread;
	bool running;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} control = {.listen_fd = -1};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void json_string(FILE *out, const char *text)
{
	if (!text) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* "N events dropped", and ", M lines not written: WHY (ENAME)" after write errors. */
static void print_losses(FILE *out, const struct trace_counts *lost)
{
	fprintf(out, "%llu events dropped", (unsigned long long)lost->dropped);
	if (lost->unwritten || lost->write_errno) {
		const char *name = errname_of(lost->write_errno);
		fprintf(out, ", %llu lines not written: %s (%s)",
			(unsigned long long)lost->unwritten, strerror(lost->write_errno),
			name ? name : "?");
	}
}

/* ---- commands: each writes its output to OUT and returns 0 (ok) or 1 ---- */

static int cmd_status(struct daemon *d, bool json, FILE *out)
{
	struct core_identity id;
	core_identity(&d->core, &id);
	uint64_t uptime = (monotonic_ns() - d->started_ns) / 1000000000u;
	unsigned long long open = atomic_load(&d->core.sessions_open);
	unsigned long long opened = atomic_load(&d->core.sessions_opened);
	unsigned held = d->held_count();
	char node[4096];
	d->node_path(node, sizeof(node));
	urcu_bp_read_lock();
	struct trace *trace = rcu_dereference(d->core.trace);
	const char *trace_file = trace ? trace_path(trace) : NULL;
	struct trace_counts lost = {0};
	if (trace)
		trace_counts(trace, &lost);
	const char *write_error = lost.write_errno ? errname_of(lost.write_errno) : NULL;
	if (json) {
		fprintf(out, "{\"front\":\"%s\",\"node\":", d->front);
		json_string(out, node);
		fprintf(out, ",\"profile\":\"%s\",\"policy\":", profile_get(id.profile)->name);
		json_string(out, id.source);
		fprintf(out,
			",\"digest\":\"%s\",\"generation\":%llu,\"sessions_open\":%llu,"
			"\"sessions_opened\":%llu,\"uptime_s\":%llu,\"held_calls\":%u,"
			"\"vanished\":%s,\"trace\":",
			id.digest, (unsigned long long)id.generation, open, opened,
			(unsigned long long)uptime, held,
			core_vanished(&d->core) ? "true" : "false");
		json_string(out, trace_file);
		fprintf(out,
			",\"trace_dropped\":%llu,\"trace_unwritten\":%llu,\"trace_write_error\":",
			(unsigned long long)lost.dropped, (unsigned long long)lost.unwritten);
		json_string(out, lost.write_errno && !write_error ? "?" : write_error);
		fputs("}\n", out);
	} else {
		fprintf(out,
			"front       %s\nnode        %s\nprofile     %s\npolicy      %s\n"
			"digest      %s\ngeneration  %llu\nsessions    %llu open, %llu opened\n"
			"uptime      %llu s\nheld calls  %u\nvanished    %s\n",
			d->front, node, profile_get(id.profile)->name, id.source, id.digest,
			(unsigned long long)id.generation, open, opened, (unsigned long long)uptime,
			held, core_vanished(&d->core) ? "yes" : "no");
		if (trace_file) {
			fprintf(out, "trace       %s (", trace_file);
			print_losses(out, &lost);
			fputs(")\n", out);
		} else
			fprintf(out, "trace       off\n");
	}
	urcu_bp_read_unlock();
	return 0;
}

static void stats_faults(FILE *out, bool json, const char *source, const struct fault_rule *rules,
			 struct fault_state *states, unsigned count, bool *first)
{
	for (unsigned i = 0; i < count; i++) {
		unsigned long long matched = atomic_load(&states[i].matched);
		unsigned long long fired = atomic_load(&states[i].fired);
		bool enabled = atomic_load(&states[i].enabled);
		if (json) {
			fprintf(out, "%s{\"name\":", *first ? "" : ",");
			json_string(out, rules[i].name);
			fprintf(out,
				",\"source\":\"%s\",\"enabled\":%s,\"matched\":%llu,"
				"\"fired\":%llu}",
				source, enabled ? "true" : "false", matched, fired);
		} else {
			fprintf(out, "  %-32s %-8s %-3s %10llu %10llu\n", rules[i].name, source,
				enabled ? "on" : "off", matched, fired);
		}
		*first = false;
	}
}

static int cmd_stats(struct daemon *d, bool json, FILE *out)
{
	struct emu_core *core = &d->core;
	static struct core_stats stats; /* ~10 KiB; the control thread is the only caller */
	urcu_bp_read_lock();
	const struct policy_snapshot *snap = rcu_dereference(core->current);
	struct fault_set *injected = rcu_dereference(core->injected);
	core_stats(core, snap->generation, &stats);
	if (json)
		fprintf(out, "{\"generation\":%llu,\"calls\":%llu,\"ioctls\":[",
			(unsigned long long)snap->generation, (unsigned long long)stats.calls);
	else
		fprintf(out,
			"calls since start: %llu (per ioctl: since generation %llu)\n"
			"ioctl                            cmd             calls\n",
			(unsigned long long)stats.calls, (unsigned long long)snap->generation);
	for (unsigned i = 0; i < snap->ioctl_count; i++) {
		unsigned long long calls = stats.ioctl_calls[i];
		if (json) {
			fprintf(out, "%s{\"name\":", i ? "," : "");
			json_string(out, snap->ioctls[i].name);
			fprintf(out, ",\"cmd\":\"0x%08x\",\"calls\":%llu}", snap->ioctls[i].cmd,
				calls);
		} else {
			fprintf(out, "  %-30s 0x%08X %10llu\n", snap->ioctls[i].name,
				snap->ioctls[i].cmd, calls);
		}
	}
	unsigned long long unknown = stats.unknown_ioctls;
	if (json)
		fprintf(out, "],\"unknown_ioctls\":%llu,\"refusals\":[", unknown);
	else
		fprintf(out, "  %-30s %-10s %10llu\nrefusals\n", "(unknown ioctls)", "", unknown);
	bool first = true;
	for (int err = 0; err < CORE_ERRNO_SLOTS; err++) {
		unsigned long long count = stats.refusals[err];
		if (!count)
			continue;
		const char *name = err ? errname_of(err) : "errno >= 1024";
		if (json) {
			fprintf(out, "%s{\"errno\":%d,\"errno_name\":", first ? "" : ",", err);
			json_string(out, name);
			fprintf(out, ",\"count\":%llu}", count);
		} else {
			fprintf(out, "  %-16s %4d %10llu\n", name ? name : "?", err, count);
		}
		first = false;
	}
	if (json)
		fprintf(out, "],\"faults\":[");
	else
		fprintf(out,
			"faults                             source   on     matched      fired\n");
	first = true;
	if (injected)
		stats_faults(out, json, "injected", injected->rules, injected->states,
			     injected->count, &first);
	stats_faults(out, json, "policy", snap->faults, snap->fault_states, snap->fault_count,
		     &first);
	if (json)
		fprintf(out, "]}\n");
	urcu_bp_read_unlock();
	return 0;
}

static int cmd_inject(struct daemon *d, const char *text, FILE *out)
{
	struct diag_list diags = {0};
	struct fault_rule *rule = NULL;
	urcu_bp_read_lock();
	rule = policy_parse_fault(rcu_dereference(d->core.current), "inject", text, &diags);
	urcu_bp_read_unlock();
	if (!rule) {
		diag_print(&diags, out);
		diag_free(&diags);
		return 1;
	}
	diag_free(&diags);
	char name[POLICY_NAME_MAX];
	snprintf(name, sizeof(name), "%s", rule->name);
	if (core_inject(&d->core, rule) != 0) {
		fprintf(out,
			"%d rules are armed already, the most there may be; disable the ones "
			"you no longer need (fault disable RULE)\n",
			CORE_MAX_INJECTED);
		fault_rule_free(rule);
		free(rule);
		return 1;
	}
	free(rule);
	fprintf(out, "armed %s\n", name);
	emu_log("control: injected fault rule %s", name);
	return 0;
}

static int cmd_trace(struct daemon *d, char **args, int count, FILE *out)
{
	if (count == 2 && !strcmp(args[1], "start")) {
		fprintf(out, "trace start needs a FILE\n");
		return 1;
	}
	if (count == 3 && !strcmp(args[1], "start")) {
		struct diag_list diags = {0};
		struct trace *trace = trace_open(args[2], &diags);
		if (!trace) {
			diag_print(&diags, out);
			diag_free(&diags);
			return 1;
		}
		core_trace_start(&d->core, trace);
		emu_log("control: transcript to %s", args[2]);
		fprintf(out, "tracing to %s\n", args[2]);
		return 0;
	}
	if (count == 2 && !strcmp(args[1], "stop")) {
		struct trace_counts lost;
		if (!core_trace_stop(&d->core, &lost)) {
			fprintf(out, "no transcript is running\n");
			return 0;
		}
		fputs("trace stopped (", out);
		print_losses(out, &lost);
		fputs(")\n", out);
		return 0;
	}
	fprintf(out, "usage: trace start FILE | trace stop\n");
	return 1;
}

static int run_command(struct daemon *d, char **args, int count, FILE *out)
{
	bool json = count > 0 && !strcmp(args[0], "--json");
	if (json) {
		args++;
		count--;
	}
	if (count == 0) {
		fprintf(out,
			"no command; try status, stats, reload, fault, inject, release, trace\n");
		return 1;
	}
	const char *cmd = args[0];
	if (!strcmp(cmd, "status") && count == 1)
		return cmd_status(d, json, out);
	if (!strcmp(cmd, "stats") && count == 1)
		return cmd_stats(d, json, out);
	if (!strcmp(cmd, "reload") && count <= 2)
		return daemon_reload(d, count == 2 ? args[1] : NULL, out);
	if (!strcmp(cmd, "fault") && count == 3 &&
	    (!strcmp(args[1], "enable") || !strcmp(args[1], "disable"))) {
		bool enable = !strcmp(args[1], "enable");
		if (!core_fault_enable(&d->core, args[2], enable)) {
			fprintf(out, "no fault rule named %s; `mshvctl stats` lists them\n",
				args[2]);
			return 1;
		}
		emu_log("control: fault rule %s %sd", args[2], args[1]);
		fprintf(out, "%s %sd\n", args[2], args[1]);
		return 0;
	}
	if (!strcmp(cmd, "inject") && count == 2)
		return cmd_inject(d, args[1], out);
	if (!strcmp(cmd, "release") && count == 1) {
		unsigned released = d->release_held();
		emu_log("control: released %u hung calls", released);
		fprintf(out, "released %u hung calls\n", released);
		return 0;
	}
	if (!strcmp(cmd, "trace"))
		return cmd_trace(d, args, count, out);
	fprintf(out,
		"unknown or malformed command `%s`; try status, stats, reload [FILE], fault "
		"enable|disable RULE, inject RULE, release, trace start FILE|stop\n",
		cmd);
	return 1;
}

/*
 * Read "arg\n...arg\n\n" into ARGS (pointing into BUF).  -1 if malformed.
 * One deadline for the whole request, not per read: a peer trickling bytes
 * must not hold the control thread, and with it the daemon's shutdown.
 */
#define REQUEST_DEADLINE_MS 2000

static int read_request(int fd, char *buf, size_t size, char **args)
{
	size_t used = 0;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (used + 1 < size) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long elapsed = (now.tv_sec - start.tv_sec) * 1000 +
			       (now.tv_nsec - start.tv_nsec) / 1000000;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (elapsed >= REQUEST_DEADLINE_MS ||
		    poll(&pfd, 1, (int)(REQUEST_DEADLINE_MS - elapsed)) <= 0)
			break;
		ssize_t got = read(fd, buf + used, size - 1 - used);
		if (got <= 0)
			break;
		used += (size_t)got;
		buf[used] = '\0';
		if (strstr(buf, "\n\n") || (used == 1 && buf[0] == '\n'))
			break;
	}
	buf[used] = '\0';
	char *end = used == 1 && buf[0] == '\n' ? buf : strstr(buf, "\n\n");
	if (!end)
		return -1;
	*end = '\0';
	int count = 0;
	for (char *line = buf, *next; *line && count < ARGS_MAX; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		args[count++] = line;
	}
	return count;
}

static void serve_connection(struct daemon *d, int fd)
{
	struct ucred peer;
	socklen_t len = sizeof(peer);
	char *body = NULL;
	size_t body_size = 0;
	FILE *out = open_memstream(&body, &body_size);
	int rc = 1;
	if (!out)
		return;
	/* Read the request even from a peer about to be refused: closing with
	 * unread data resets the connection and the refusal would be lost. */
	static char request[REQUEST_MAX];
	char *args[ARGS_MAX];
	int count = read_request(fd, request, sizeof(request), args);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
		fprintf(out, "cannot tell who is asking: %s\n", strerror(errno));
	} else if (peer.uid != 0 && peer.uid != d->uid) {
		emu_log("control: refused uid %u (pid %d): only uid %u and root may control "
			"this daemon",
			(unsigned)peer.uid, (int)peer.pid, (unsigned)d->uid);
		fprintf(out, "permission denied: uid %u may not control this daemon (uid %u)\n",
			(unsigned)peer.uid, (unsigned)d->uid);
	} else {
		if (count < 0)
			fprintf(out, "malformed request: send the arguments one per line, then an "
				     "empty line\n");
		else
			rc = run_command(d, args, count, out);
	}
	fclose(out);
	dprintf(fd, "%s\n", rc ? "error" : "ok");
	if (body_size && write(fd, body, body_size) < 0)
		emu_log("control: reply: %s", strerror(errno));
	free(body);
}

static void *control_thread(void *arg)
{
	struct daemon *d = arg;
	for (;;) {
		int fd = accept4(control.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL; /* control_stop shut the socket down */
		}
		serve_connection(d, fd);
		close(fd);
	}
}

int control_start(struct daemon *d, const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path)) {
		emu_log("--control %s: path too long for a Unix socket", path);
		return -1;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		emu_log("--control %s: socket: %s", path, strerror(errno));
		return -1;
	}
	/* A socket file nobody answers on is a leftover: replace it.  One that
	 * answers belongs to a running daemon, and anything else is not ours to
	 * delete: refuse both. */
	struct stat st;
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		emu_log("--control %s: exists and is not a socket; pick another path", path);
		close(fd);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
		emu_log("--control %s: another mshv-emu is listening there; pick another path",
			path);
		close(fd);
		return -1;
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* Anyone may connect; SO_PEERCRED decides, so a refusal can be logged. */
	mode_t old_umask = umask(0);
	int bound = fd >= 0 ? bind(fd, (struct sockaddr *)&addr, sizeof(addr)) : -1;
	umask(old_umask);
	if (bound != 0 || listen(fd, 8) != 0) {
		emu_log("--control %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	control.daemon = d;
	control.listen_fd = fd;
	snprintf(control.path, sizeof(control.path), "%s", path);
	if (front_thread_create(&control.thread, control_thread, d) != 0) {
		emu_log("--control %s: cannot create the control thread", path);
		close(fd);
		unlink(path);
		return -1;
	}
	control.running = true;
	return 0;
}

void control_stop(void)
{
	if (!control.running)
		return;
	shutdown(control.listen_fd, SHUT_RDWR);
	pthread_join(control.thread, NULL);
	close(control.listen_fd);
	unlink(control.path);
	control.running = false;
}
