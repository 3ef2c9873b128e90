/*
 * control.c - the daemon side of mshvctl: a Unix socket that only the
 * daemon's user and root may use.  SO_PEERCRED is checked as a connection
 * is accepted, before a byte is read: anyone else gets a one-line refusal
 * at once and is logged (a line a second at most).  One thread accepts;
 * each admitted connection is served on a thread of its own (CLIENTS_MAX at
 * once), with a deadline to send its request and one to take the answer,
 * so that no client waits for another, however slow.
 *
 * Protocol: one request per connection.  The client sends its arguments one
 * per line and an empty line; the daemon answers "ok" or "error" on the
 * first line, then the text to show, and closes.  Output is rendered here,
 * as a table or (with --json first) one JSON object, errors included
 * ({"error": MESSAGE}), so the client knows the commands' syntax only.  Malformed requests get an error reply; the
 * daemon keeps serving.  It never runs on the ioctl path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "errnames.h"
#include "json.h"
#include "rcu.h"

#define REQUEST_MAX	    65536
#define ARGS_MAX	    16
#define CLIENTS_MAX	    32	 /* admitted connections served at once */
#define REQUEST_DEADLINE_MS 5000 /* from accept to the request's empty line */
#define REPLY_DEADLINE_MS   5000 /* for the client to take the answer */

static struct {
	struct daemon *daemon;
	int listen_fd;
	pthread_t thread; /* accepts */
	bool open;	  /* listening (control_open) */
	bool running;	  /* ... and accepting (control_serve) */
	gid_t group;	  /* --control-group, or -1 */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/* The accepting thread's alone: */
	uint64_t refusal_logged_ns;
	unsigned long long refusals_unlogged;
	/* Under lock: the connections being served, each on its own thread. */
	pthread_mutex_t lock;
	pthread_cond_t idle;	     /* clients dropped to 0 */
	int client_fds[CLIENTS_MAX]; /* -1: free */
	unsigned clients;
	bool stopping;
} control = {.listen_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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
	emu_rcu_read_lock();
	struct trace *trace = emu_rcu_dereference(d->core.trace);
	const char *trace_file = trace ? trace_path(trace) : NULL;
	struct trace_counts lost = {0};
	if (trace)
		trace_counts(trace, &lost);
	const char *write_error = lost.write_errno ? errname_of(lost.write_errno) : NULL;
	if (json) {
		fprintf(out, "{\"front\":\"%s\",\"node\":", d->front);
		json_string(out, node, SIZE_MAX);
		fprintf(out, ",\"profile\":\"%s\",\"policy\":", profile_get(id.profile)->name);
		json_string(out, id.source, SIZE_MAX);
		fprintf(out,
			",\"digest\":\"%s\",\"generation\":%llu,\"sessions_open\":%llu,"
			"\"sessions_opened\":%llu,\"uptime_s\":%llu,\"held_calls\":%u,"
			"\"vanished\":%s,\"trace\":",
			id.digest, (unsigned long long)id.generation, open, opened,
			(unsigned long long)uptime, held,
			core_vanished(&d->core) ? "true" : "false");
		json_string(out, trace_file, SIZE_MAX);
		fprintf(out,
			",\"trace_dropped\":%llu,\"trace_unwritten\":%llu,\"trace_write_error\":",
			(unsigned long long)lost.dropped, (unsigned long long)lost.unwritten);
		json_string(out, lost.write_errno && !write_error ? "?" : write_error, SIZE_MAX);
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
	emu_rcu_read_unlock();
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
			json_string(out, rules[i].name, SIZE_MAX);
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
	struct core_stats *stats = malloc(sizeof(*stats)); /* ~10 KiB: not on a stack */
	if (!stats) {
		fprintf(out, "out of memory\n");
		return 1;
	}
	emu_rcu_read_lock();
	const struct policy_snapshot *snap = emu_rcu_dereference(core->current);
	struct fault_set *injected = emu_rcu_dereference(core->injected);
	core_stats(core, snap->generation, stats);
	if (json)
		fprintf(out, "{\"generation\":%llu,\"calls\":%llu,\"ioctls\":[",
			(unsigned long long)snap->generation, (unsigned long long)stats->calls);
	else
		fprintf(out,
			"calls since start: %llu (per ioctl: since generation %llu)\n"
			"ioctl                            cmd             calls\n",
			(unsigned long long)stats->calls, (unsigned long long)snap->generation);
	for (unsigned i = 0; i < snap->ioctl_count; i++) {
		unsigned long long calls = stats->ioctl_calls[i];
		if (json) {
			fprintf(out, "%s{\"name\":", i ? "," : "");
			json_string(out, snap->ioctls[i].name, SIZE_MAX);
			fprintf(out, ",\"cmd\":\"0x%08x\",\"calls\":%llu}", snap->ioctls[i].cmd,
				calls);
		} else {
			fprintf(out, "  %-30s 0x%08X %10llu\n", snap->ioctls[i].name,
				snap->ioctls[i].cmd, calls);
		}
	}
	unsigned long long unknown = stats->unknown_ioctls;
	if (json)
		fprintf(out, "],\"unknown_ioctls\":%llu,\"refusals\":[", unknown);
	else
		fprintf(out, "  %-30s %-10s %10llu\nrefusals\n", "(unknown ioctls)", "", unknown);
	bool first = true;
	for (int err = 0; err < CORE_ERRNO_SLOTS; err++) {
		unsigned long long count = stats->refusals[err];
		if (!count)
			continue;
		const char *name = err ? errname_of(err) : "errno >= 1024";
		if (json) {
			fprintf(out, "%s{\"errno\":%d,\"errno_name\":", first ? "" : ",", err);
			json_string(out, name, SIZE_MAX);
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
	emu_rcu_read_unlock();
	free(stats);
	return 0;
}

static int cmd_inject(struct daemon *d, bool json, const char *text, FILE *out)
{
	struct diag_list diags = {0};
	struct fault_rule *rule = NULL;
	emu_rcu_read_lock();
	rule = policy_parse_fault(emu_rcu_dereference(d->core.current), "inject", text, &diags);
	emu_rcu_read_unlock();
	if (!rule) {
		diag_print(&diags, out);
		diag_free(&diags);
		return 1;
	}
	diag_free(&diags);
	char name[POLICY_NAME_MAX];
	snprintf(name, sizeof(name), "%s", rule->name);
	int err = core_inject(&d->core, rule);
	if (err == -EEXIST)
		fprintf(out,
			"a rule named %s is already injected or in the policy, and a name "
			"must say which rule `mshvctl fault enable|disable` switches: give "
			"this one another name (`mshvctl stats` lists the names taken)\n",
			name);
	else if (err)
		fprintf(out,
			"%d rules are armed already, the most there may be; injected rules "
			"stay until mshv-emu restarts: switch off the ones you no longer need "
			"(mshvctl fault disable RULE), or restart it\n",
			CORE_MAX_INJECTED);
	if (err) {
		fault_rule_free(rule);
		free(rule);
		return 1;
	}
	free(rule);
	if (json) {
		fputs("{\"armed\":", out);
		json_string(out, name, SIZE_MAX);
		fputs("}\n", out);
	} else {
		fprintf(out, "armed %s\n", name);
	}
	emu_log("control: injected fault rule %s", name);
	return 0;
}

static int cmd_trace(struct daemon *d, bool json, char **args, int count, FILE *out)
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
		if (json) {
			fputs("{\"trace\":", out);
			json_string(out, args[2], SIZE_MAX);
			fputs("}\n", out);
		} else {
			fprintf(out, "tracing to %s\n", args[2]);
		}
		return 0;
	}
	if (count == 2 && !strcmp(args[1], "stop")) {
		struct trace_counts lost;
		bool ran = core_trace_stop(&d->core, &lost);
		if (json) {
			const char *name = lost.write_errno ? errname_of(lost.write_errno) : NULL;
			fprintf(out,
				"{\"trace\":null,\"stopped\":%s,\"trace_dropped\":%llu,"
				"\"trace_unwritten\":%llu,\"trace_write_error\":",
				ran ? "true" : "false", (unsigned long long)lost.dropped,
				(unsigned long long)lost.unwritten);
			json_string(out, lost.write_errno && !name ? "?" : name, SIZE_MAX);
			fputs("}\n", out);
			return 0;
		}
		if (!ran) {
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

/* reload [FILE]: daemon_reload's report, and under --json what serves now. */
static int cmd_reload(struct daemon *d, bool json, const char *file, FILE *out)
{
	if (!json)
		return daemon_reload(d, file, out);
	char *text = NULL;
	size_t size = 0;
	FILE *report = open_memstream(&text, &size);
	if (!report) {
		fprintf(out, "out of memory\n");
		return 1;
	}
	int rc = daemon_reload(d, file, report);
	fclose(report);
	if (rc) {
		fputs(text, out);
	} else {
		struct core_identity id;
		core_identity(&d->core, &id);
		fputs("{\"policy\":", out);
		json_string(out, id.source, SIZE_MAX);
		fprintf(out, ",\"generation\":%llu,\"digest\":\"%s\",\"message\":",
			(unsigned long long)id.generation, id.digest);
		size_t len = strlen(text);
		while (len && text[len - 1] == '\n')
			len--;
		json_string(out, text, len);
		fputs("}\n", out);
	}
	free(text);
	return rc;
}

static int cmd_fault(struct daemon *d, bool json, const char *verb, const char *name, FILE *out)
{
	bool enable = !strcmp(verb, "enable");
	if (!core_fault_enable(&d->core, name, enable)) {
		fprintf(out, "no fault rule named %s; `mshvctl stats` lists them\n", name);
		return 1;
	}
	emu_log("control: fault rule %s %sd", name, verb);
	if (json) {
		fputs("{\"rule\":", out);
		json_string(out, name, SIZE_MAX);
		fprintf(out, ",\"enabled\":%s}\n", enable ? "true" : "false");
	} else {
		fprintf(out, "%s %sd\n", name, verb);
	}
	return 0;
}

/* One command, its output (a table or text, or under JSON one object) to
 * OUT; an error's message, as text, to OUT too. */
static int dispatch(struct daemon *d, bool json, char **args, int count, FILE *out)
{
	if (count == 0) {
		fprintf(out,
			"no command; try status, stats, reload, fault, inject, release, trace\n");
		return 1;
	}
	const char *cmd = args[0];
	/* This daemon's working directory is not the client's: a relative
	 * path would be resolved in the wrong place.  mshvctl sends absolute
	 * ones. */
	const char *file = NULL;
	if (!strcmp(cmd, "reload") && count == 2)
		file = args[1];
	else if (!strcmp(cmd, "trace") && count == 3 && !strcmp(args[1], "start"))
		file = args[2];
	if (file && file[0] != '/') {
		fprintf(out,
			"%s: a relative path, which this daemon would resolve in its own "
			"working directory, not yours; give an absolute path\n",
			file);
		return 1;
	}
	if (!strcmp(cmd, "status") && count == 1)
		return cmd_status(d, json, out);
	if (!strcmp(cmd, "stats") && count == 1)
		return cmd_stats(d, json, out);
	if (!strcmp(cmd, "reload") && count <= 2)
		return cmd_reload(d, json, count == 2 ? args[1] : NULL, out);
	if (!strcmp(cmd, "fault") && count == 3 &&
	    (!strcmp(args[1], "enable") || !strcmp(args[1], "disable")))
		return cmd_fault(d, json, args[1], args[2], out);
	if (!strcmp(cmd, "inject") && count == 2)
		return cmd_inject(d, json, args[1], out);
	if (!strcmp(cmd, "release") && count == 1) {
		unsigned released = d->release_held();
		emu_log("control: released %u hung calls", released);
		if (json)
			fprintf(out, "{\"released\":%u}\n", released);
		else
			fprintf(out, "released %u hung calls\n", released);
		return 0;
	}
	if (!strcmp(cmd, "trace"))
		return cmd_trace(d, json, args, count, out);
	fprintf(out,
		"unknown or malformed command `%s`; try status, stats, reload [FILE], fault "
		"enable|disable RULE, inject RULE, release, trace start FILE|stop\n",
		cmd);
	return 1;
}

/*
 * A request: its arguments, "--json" first for JSON.  Under JSON the reply
 * is one object whatever happened: the command's, or {"error": MESSAGE}
 * with the message an error would print as text.
 */
static int run_command(struct daemon *d, char **args, int count, FILE *out)
{
	bool json = count > 0 && !strcmp(args[0], "--json");
	if (!json)
		return dispatch(d, false, args, count, out);
	char *text = NULL;
	size_t size = 0;
	FILE *reply = open_memstream(&text, &size);
	if (!reply) {
		fputs("{\"error\":\"out of memory\"}\n", out);
		return 1;
	}
	int rc = dispatch(d, true, args + 1, count - 1, reply);
	fclose(reply);
	if (rc == 0) {
		fwrite(text, 1, size, out);
	} else {
		while (size && text[size - 1] == '\n')
			size--;
		fputs("{\"error\":", out);
		json_string(out, text, size);
		fputs("}\n", out);
	}
	free(text);
	return rc;
}

/* ---- connections ---- */

/*
 * Read "arg\n...arg\n\n" into ARGS (pointing into BUF) before DEADLINE
 * (CLOCK_MONOTONIC ns): the count, REQUEST_LATE when the deadline passed
 * first, or REQUEST_MALFORMED.  One deadline for the whole request, not per
 * read: a peer trickling bytes holds its own thread no longer than that.
 */
#define REQUEST_LATE	  (-2)
#define REQUEST_MALFORMED (-1)

static int ms_until(uint64_t deadline)
{
	uint64_t now = monotonic_ns();
	return now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
}

static int read_request(int fd, char *buf, size_t size, char **args, uint64_t deadline)
{
	size_t used = 0;
	bool late = false;
	buf[0] = '\0';
	while (used + 1 < size) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int left = ms_until(deadline);
		if (!left || poll(&pfd, 1, left) == 0) {
			late = true;
			break;
		}
		ssize_t got = read(fd, buf + used, size - 1 - used);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
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
		return late ? REQUEST_LATE : REQUEST_MALFORMED;
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

/* Write LEN bytes of BUF to the non-blocking FD before DEADLINE; false if
 * the peer went away or did not read in time. */
static bool write_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t sent = send(fd, buf, len, MSG_NOSIGNAL);
		if (sent > 0) {
			buf += sent;
			len -= (size_t)sent;
			continue;
		}
		if (sent < 0 && errno == EINTR)
			continue;
		if (sent == 0 || errno != EAGAIN)
			return false;
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int left = ms_until(deadline);
		if (!left || poll(&pfd, 1, left) <= 0)
			return false;
	}
	return true;
}

/* An immediate one-line error to a peer that gets no thread: sent without
 * waiting (it fits an empty socket buffer), then the connection is closed.
 * The peer reads it even if it writes its request after the close. */
__attribute__((format(printf, 2, 3))) static void refuse(int fd, const char *fmt, ...)
{
	char text[512] = "error\n";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text + 6, sizeof(text) - 6, fmt, ap);
	va_end(ap);
	if (send(fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EPIPE)
		emu_log("control: reply: %s", strerror(errno));
}

/* One request, on the connection's own thread: read it (with a deadline),
 * run it, answer (with a deadline). */
static void serve_connection(struct daemon *d, int fd)
{
	char *body = NULL;
	size_t body_size = 0;
	FILE *out = open_memstream(&body, &body_size);
	char *request = malloc(REQUEST_MAX);
	char *args[ARGS_MAX];
	int rc = 1;
	if (!out || !request) {
		if (out)
			fclose(out);
		free(body);
		free(request);
		refuse(fd, "out of memory\n");
		return;
	}
	int count = read_request(fd, request, REQUEST_MAX, args,
				 monotonic_ns() + REQUEST_DEADLINE_MS * UINT64_C(1000000));
	if (count == REQUEST_LATE)
		fprintf(out,
			"no complete request within %d s: send the arguments one per line, then "
			"an empty line\n",
			REQUEST_DEADLINE_MS / 1000);
	else if (count == REQUEST_MALFORMED)
		fprintf(out, "malformed request: send the arguments one per line, then an "
			     "empty line\n");
	else
		rc = run_command(d, args, count, out);
	fclose(out);
	uint64_t deadline = monotonic_ns() + REPLY_DEADLINE_MS * UINT64_C(1000000);
	const char *status = rc ? "error\n" : "ok\n";
	if (write_all(fd, status, strlen(status), deadline))
		write_all(fd, body, body_size, deadline);
	free(request);
	free(body);
}

struct client {
	int fd;
	int slot;
};

static void *client_thread(void *arg)
{
	struct client *client = arg;
	serve_connection(control.daemon, client->fd);
	pthread_mutex_lock(&control.lock);
	control.client_fds[client->slot] = -1;
	if (--control.clients == 0)
		pthread_cond_broadcast(&control.idle);
	pthread_mutex_unlock(&control.lock);
	/* The slot is free, so control_stop no longer touches the fd. */
	close(client->fd);
	free(client);
	return NULL;
}

/* Refusals are logged, but a peer that keeps connecting gets one line a
 * second at most: the others are counted into the next line. */
static void log_refusal(struct daemon *d, const struct ucred *peer)
{
	uint64_t now = monotonic_ns();
	if (control.refusal_logged_ns && now - control.refusal_logged_ns < 1000000000u) {
		control.refusals_unlogged++;
		return;
	}
	char more[96] = "", group[32] = "";
	if (control.refusals_unlogged)
		snprintf(more, sizeof(more), " (and %llu more refused since the last such line)",
			 control.refusals_unlogged);
	if (control.group != (gid_t)-1)
		snprintf(group, sizeof(group), ", group %u", (unsigned)control.group);
	emu_log("control: refused uid %u (pid %d): only uid %u%s and root may control this "
		"daemon%s",
		(unsigned)peer->uid, (int)peer->pid, (unsigned)d->uid, group, more);
	control.refusal_logged_ns = now;
	control.refusals_unlogged = 0;
}

/* Root, the daemon's uid, or with --control-group a member of the group
 * (its primary group, or one of its others: SO_PEERGROUPS). */
static bool admitted(const struct daemon *d, int fd, const struct ucred *peer)
{
	if (peer->uid == 0 || peer->uid == d->uid)
		return true;
	if (control.group == (gid_t)-1)
		return false;
	if (peer->gid == control.group)
		return true;
	gid_t groups[256];
	socklen_t len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0)
		return false; /* ERANGE: more groups than that; refused */
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == control.group)
			return true;
	return false;
}

/* Take FD: who is asking is checked before a byte is read; an admitted
 * peer gets a thread of its own, so that no client waits for another. */
static void accept_client(struct daemon *d, int fd)
{
	struct ucred peer;
	socklen_t len = sizeof(peer);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
		refuse(fd, "cannot tell who is asking: %s\n", strerror(errno));
		close(fd);
		return;
	}
	if (!admitted(d, fd, &peer)) {
		log_refusal(d, &peer);
		refuse(fd, "permission denied: uid %u may not control this daemon (uid %u)\n",
		       (unsigned)peer.uid, (unsigned)d->uid);
		close(fd);
		return;
	}
	pthread_mutex_lock(&control.lock);
	int slot = -1;
	for (int i = 0; i < CLIENTS_MAX && slot < 0 && !control.stopping; i++)
		if (control.client_fds[i] < 0)
			slot = i;
	if (slot >= 0) {
		control.client_fds[slot] = fd;
		control.clients++;
	}
	pthread_mutex_unlock(&control.lock);
	if (slot < 0) {
		refuse(fd, "busy: %d requests are being served; try again\n", CLIENTS_MAX);
		close(fd);
		return;
	}
	struct client *client = malloc(sizeof(*client));
	pthread_t thread;
	int err = client ? 0 : ENOMEM;
	if (client) {
		*client = (struct client){.fd = fd, .slot = slot};
		err = front_thread_create(&thread, client_thread, client);
	}
	if (!err) {
		pthread_detach(thread);
		return;
	}
	free(client);
	pthread_mutex_lock(&control.lock);
	control.client_fds[slot] = -1;
	if (--control.clients == 0)
		pthread_cond_broadcast(&control.idle);
	pthread_mutex_unlock(&control.lock);
	refuse(fd, "cannot serve the request: %s\n", strerror(err));
	close(fd);
}

static void *control_thread(void *arg)
{
	struct daemon *d = arg;
	for (;;) {
		int fd = accept4(control.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			accept_client(d, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* The connection waits in the queue: try again soon. */
			const struct timespec pause = {.tv_nsec = 100000000};
			nanosleep(&pause, NULL);
			continue;
		}
		return NULL; /* control_stop shut the socket down */
	}
}

/* One directory on the way to the socket: see check_directory. */
static int check_one(const char *path, const char *dir, bool last, uid_t owner)
{
	struct stat st;
	if (lstat(dir, &st) != 0) {
		emu_log("--control %s: directory %s: %s", path, dir, strerror(errno));
		return -1;
	}
	char us[32];
	if (owner)
		snprintf(us, sizeof(us), "uid %u", (unsigned)owner);
	else
		snprintf(us, sizeof(us), "root");
	if (st.st_uid != 0 && st.st_uid != owner) {
		emu_log("--control %s: directory %s belongs to uid %u, who could replace the "
			"socket; put it in a directory that %s%s owns",
			path, dir, (unsigned)st.st_uid, us, owner ? " or root" : "");
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && (last || !(st.st_mode & S_ISVTX))) {
		emu_log("--control %s: directory %s is writable by %s (mode %04o), who could "
			"%s the socket; put it in a directory only %s can write, such as %s",
			path, dir, st.st_mode & S_IWOTH ? "others" : "its group",
			(unsigned)(st.st_mode & 07777), last ? "replace" : "move away", us,
			owner ? "$XDG_RUNTIME_DIR" : "/run");
		return -1;
	}
	return 0;
}

/*
 * The socket's directory must be one only the daemon's user (or root) can
 * change: owned by uid OWNER or root and writable by no one else.  Its ancestors
 * likewise, but for sticky ones (such as /tmp), where no one else may
 * rename what is ours.  Otherwise another user could replace the socket,
 * and mshvctl would talk to theirs.  0, or -1 having said why.
 */
static int check_directory(const char *path, uid_t owner)
{
	char parent[PATH_MAX], real[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == path)
		snprintf(parent, sizeof(parent), "/");
	else
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	if (!realpath(parent, real)) {
		emu_log("--control %s: directory %s: %s; create it, or pick another path", path,
			parent, strerror(errno));
		return -1;
	}
	/* /, then /a, /a/b, ... up to the resolved directory (which realpath
	 * wrote with no symlink, "." or "//" left in it). */
	size_t len = strlen(real);
	if (check_one(path, "/", len == 1, owner) != 0)
		return -1;
	for (size_t end = 2; end <= len; end++) {
		if (end < len && real[end] != '/')
			continue;
		snprintf(dir, sizeof(dir), "%.*s", (int)end, real);
		if (check_one(path, dir, end == len, owner) != 0)
			return -1;
	}
	return 0;
}

/* OWNER's and 0600, or 0660 and GROUP's too; the socket was created 0600
 * and ours, so no one else could connect in between.  0, or -1 having said
 * why. */
static int set_owner(const char *path, uid_t owner, gid_t group)
{
	uid_t uid = owner == geteuid() ? (uid_t)-1 : owner;
	if (uid == (uid_t)-1 && group == (gid_t)-1)
		return 0;
	if (fchownat(AT_FDCWD, path, uid, group, AT_SYMLINK_NOFOLLOW) != 0) {
		if (group != (gid_t)-1)
			emu_log("--control-group %u: cannot give %s to the group: %s; run as root "
				"or as a member of the group",
				(unsigned)group, path, strerror(errno));
		else
			emu_log("--control %s: cannot give it to uid %u: %s", path, (unsigned)owner,
				strerror(errno));
		return -1;
	}
	if (group == (gid_t)-1)
		return 0;
	if (chmod(path, 0660) != 0) {
		emu_log("--control %s: chmod 0660: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int control_open(struct daemon *d, const char *path, gid_t group, uid_t owner)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path)) {
		emu_log("--control %s: path too long for a Unix socket", path);
		return -1;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (check_directory(path, owner) != 0)
		return -1;
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
	/* 0600 from the start: connecting needs write permission on it. */
	mode_t old_umask = umask(0177);
	int bound = fd >= 0 ? bind(fd, (struct sockaddr *)&addr, sizeof(addr)) : -1;
	umask(old_umask);
	if (bound != 0 || listen(fd, 64) != 0) {
		emu_log("--control %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		if (bound == 0)
			unlink(path);
		return -1;
	}
	if (set_owner(path, owner, group) != 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	control.daemon = d;
	control.listen_fd = fd;
	control.group = group;
	control.stopping = false;
	for (int i = 0; i < CLIENTS_MAX; i++)
		control.client_fds[i] = -1;
	snprintf(control.path, sizeof(control.path), "%s", path);
	control.open = true;
	return 0;
}

int control_serve(void)
{
	if (front_thread_create(&control.thread, control_thread, control.daemon) != 0) {
		emu_log("--control %s: cannot create the control thread", control.path);
		return -1;
	}
	control.running = true;
	return 0;
}

int control_start(struct daemon *d, const char *path, gid_t group)
{
	if (control_open(d, path, group, geteuid()) != 0)
		return -1;
	if (control_serve() != 0) {
		control_stop();
		return -1;
	}
	return 0;
}

void control_stop(void)
{
	if (!control.open)
		return;
	control.open = false;
	if (!control.running) {
		close(control.listen_fd);
		unlink(control.path);
		return;
	}
	pthread_mutex_lock(&control.lock);
	control.stopping = true;
	pthread_mutex_unlock(&control.lock);
	shutdown(control.listen_fd, SHUT_RDWR);
	pthread_join(control.thread, NULL);
	/* Cut short the requests being read or answered; a command running
	 * finishes (its reply then fails). */
	pthread_mutex_lock(&control.lock);
	for (int i = 0; i < CLIENTS_MAX; i++)
		if (control.client_fds[i] >= 0)
			shutdown(control.client_fds[i], SHUT_RDWR);
	while (control.clients)
		pthread_cond_wait(&control.idle, &control.lock);
	pthread_mutex_unlock(&control.lock);
	close(control.listen_fd);
	unlink(control.path);
	control.running = false;
}
