/*
 * server.c - the device of an mshv-emu-run (server.h, wire.h).
 *
 * Threads: one accepts channels; one per channel answers its calls in
 * order (a channel is one thread of CMD, so a held call holds only its
 * caller); one reaps sessions whose caller's end has closed everywhere
 * (EPOLLRDHUP on our end) and releases them in the core.  A session lives
 * while its fd does and while a call on it runs (refs).  The seccomp
 * transport, answering in this process, calls run_server_call from its own
 * threads instead of a channel: the same requests and replies, no socket.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "front/front.h"
#include "gather.h"
#include "server.h"
#include "wire.h"

#define REQUEST_BUF (sizeof(struct wire_request) + WIRE_MAX_DATA)
#define REPLY_BUF   (sizeof(struct wire_reply) + WIRE_MAX_DATA)

struct entry {
	struct emu_session *session;
	int fd;	       /* our end, bound to "\0ID/sN" */
	unsigned refs; /* 1 while the caller's end lives, + each call running */
	bool device;   /* an open of the device: the session is ours to free */
};

struct channel {
	struct run_server *server;
	struct run_call_hooks hooks; /* a held call: WIRE_HELD on FD, FD's hangup */
	int fd;
	uint8_t *in;		  /* the request buffer of its thread */
	_Atomic uint64_t serving; /* 1 + the session of the call it has read, or 0 */
	struct channel *next;
};

struct run_server {
	struct emu_core *core;
	uid_t uid;
	int listen_fd, epoll_fd, wake_fd;
	char id[64];
	pthread_t accept_thread, reap_thread;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t changed;
	struct entry **entries; /* by session number */
	size_t entry_cap;
	unsigned next_session;
	struct channel *channels;
	unsigned channels_running;
	struct direct *directs; /* run_server_call's calls running */
	unsigned directs_running;
	pid_t run_pid; /* mshv-emu-run: its descendants may connect */
	uint64_t release_generation;
	unsigned held; /* calls a delay or hang fault holds now */
	unsigned hung; /* of them, the hang's */
	bool stopping;
};

/* A call of run_server_call, listed while it runs (calls_pending). */
struct direct {
	uint64_t serving; /* 1 + the session of the ioctl, or 0 */
	struct direct *next;
};

/* ---- sessions ---- */

/* A new session for SESSION: our end bound and watched, the caller's end in
 * *CLIENT_FD.  Returns its number, or -errno. */
static long entry_add(struct run_server *s, struct emu_session *session, bool device,
		      int *client_fd)
{
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
		return -errno;
	pthread_mutex_lock(&s->lock);
	unsigned n = s->next_session++;
	if (n >= s->entry_cap) {
		size_t cap = s->entry_cap ? s->entry_cap * 2 : 64;
		struct entry **grown = realloc(s->entries, cap * sizeof(*grown));
		if (!grown) {
			pthread_mutex_unlock(&s->lock);
			close(pair[0]);
			close(pair[1]);
			return -ENOMEM;
		}
		memset(grown + s->entry_cap, 0, (cap - s->entry_cap) * sizeof(*grown));
		s->entries = grown;
		s->entry_cap = cap;
	}
	pthread_mutex_unlock(&s->lock);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int len = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "%s/s%u", s->id, n);
	struct entry *e = calloc(1, sizeof(*e));
	if (!e ||
	    bind(pair[0], (struct sockaddr *)&addr,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len)) != 0) {
		int err = e ? errno : ENOMEM;
		free(e);
		close(pair[0]);
		close(pair[1]);
		return -err;
	}
	/* Nothing is ever written to the caller's end: a read of it (an fd the
	 * preload library did not see arrive) ends at once instead of waiting. */
	shutdown(pair[0], SHUT_WR);
	*e = (struct entry){.session = session, .fd = pair[0], .refs = 1, .device = device};
	pthread_mutex_lock(&s->lock);
	s->entries[n] = e;
	pthread_mutex_unlock(&s->lock);
	struct epoll_event ev = {.events = EPOLLRDHUP, .data.u64 = n};
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, pair[0], &ev) != 0) {
		int err = errno;
		pthread_mutex_lock(&s->lock);
		s->entries[n] = NULL;
		pthread_mutex_unlock(&s->lock);
		free(e);
		close(pair[0]);
		close(pair[1]);
		return -err;
	}
	*client_fd = pair[1];
	return n;
}

static struct entry *entry_get(struct run_server *s, uint32_t n)
{
	pthread_mutex_lock(&s->lock);
	struct entry *e = n < s->entry_cap ? s->entries[n] : NULL;
	if (e)
		e->refs++;
	pthread_mutex_unlock(&s->lock);
	return e;
}

static void entry_put(struct run_server *s, uint32_t n)
{
	pthread_mutex_lock(&s->lock);
	struct entry *e = s->entries[n];
	bool last = --e->refs == 0;
	if (last)
		s->entries[n] = NULL;
	pthread_mutex_unlock(&s->lock);
	if (!last)
		return;
	epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, e->fd, NULL);
	close(e->fd);
	core_release(s->core, e->session, NULL);
	if (e->device)
		free(e->session);
	free(e);
}

/*
 * Whether a call on SESSION was sent before its fd's last close and is not
 * served yet: read by a channel's thread, or still queued on a channel (its
 * header peeked at).  A process killed inside an ioctl closes its fds and
 * its channel at once, but on the driver the call it made runs first.
 */
static bool calls_pending(struct run_server *s, uint32_t session)
{
	bool pending = false;
	pthread_mutex_lock(&s->lock);
	for (struct direct *d = s->directs; d && !pending; d = d->next)
		pending = d->serving == (uint64_t)session + 1;
	for (struct channel *c = s->channels; c && !pending; c = c->next) {
		struct wire_request req;
		pending =
			atomic_load(&c->serving) == (uint64_t)session + 1 ||
			(recv(c->fd, &req, sizeof(req), MSG_PEEK | MSG_DONTWAIT) ==
				 (ssize_t)sizeof(req) &&
			 req.magic == WIRE_MAGIC && req.op == WIRE_IOCTL && req.session == session);
	}
	pthread_mutex_unlock(&s->lock);
	return pending;
}

#define REAP_SETTLE_NS 2000000 /* a caller's last call reaches its channel's thread */

static uint64_t monotonic_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The caller's end closed everywhere: the fd's last close.  The session is
 * released once no call sent on it before is left to serve. */
static void *reap_thread(void *arg)
{
	struct run_server *s = arg;
	struct epoll_event events[32];
	struct closing {
		uint32_t session;
		uint64_t since;
	} *closing = NULL;
	size_t count = 0, cap = 0;
	for (;;) {
		int n = epoll_wait(s->epoll_fd, events, 32, count ? 1 : -1);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (events[i].data.u64 == UINT64_MAX) { /* stop */
				free(closing);
				return NULL;
			}
			uint32_t session = (uint32_t)events[i].data.u64;
			pthread_mutex_lock(&s->lock);
			struct entry *e = session < s->entry_cap ? s->entries[session] : NULL;
			pthread_mutex_unlock(&s->lock);
			if (!e)
				continue;
			epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, e->fd, NULL);
			if (count == cap) {
				size_t grown = cap ? cap * 2 : 16;
				struct closing *more = realloc(closing, grown * sizeof(*more));
				if (!more) {
					entry_put(s, session); /* no room to wait: now */
					continue;
				}
				closing = more;
				cap = grown;
			}
			closing[count++] = (struct closing){session, monotonic_ns()};
		}
		uint64_t now = monotonic_ns();
		for (size_t i = 0; i < count;) {
			if (now - closing[i].since < REAP_SETTLE_NS ||
			    calls_pending(s, closing[i].session)) {
				i++;
				continue;
			}
			entry_put(s, closing[i].session);
			closing[i] = closing[--count];
		}
	}
	free(closing);
	return NULL;
}

/* ---- holds ---- */

#define HOLD_WATCH_NS 50000000 /* a held call looks at its caller this often */

/* The caller on channel FD is gone: the thread or process ended, or (the
 * seccomp transport) its call was interrupted and the channel closed. */
static bool caller_gone(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Deadlines are CLOCK_MONOTONIC, and so are the waits for them
 * (pthread_cond_clockwait): a wall clock that is slewed or stepped would
 * end a delay early. */
static void deadline_after(struct timespec *t, uint64_t ns)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	ns += (uint64_t)t->tv_nsec;
	t->tv_sec += (time_t)(ns / 1000000000u);
	t->tv_nsec = (long)(ns % 1000000000u);
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * A delay fault: wait it out.  A hang: until released.  A stop ends either,
 * and so does the caller going away (its channel closed), as an interrupt
 * ends a held call of the kernel's device.
 */
enum hold_end {
	HOLD_DONE,
	HOLD_STOPPED,
	HOLD_GONE
};

static enum hold_end hold(struct run_server *s, const struct emu_call *call,
			  const struct run_call_hooks *hooks)
{
	/* The caller may now give up on it (a signal), as on the driver. */
	hooks->held(hooks->ctx);
	pthread_mutex_lock(&s->lock);
	uint64_t generation = s->release_generation;
	s->held++;
	if (call->hang)
		s->hung++;
	struct timespec end, watch, now;
	deadline_after(&end, call->hang ? 0 : call->hold_ns);
	bool gone = false;
	for (;;) {
		if (s->stopping || (call->hang && s->release_generation != generation))
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!call->hang && !before(&now, &end))
			break;
		deadline_after(&watch, HOLD_WATCH_NS);
		if (!call->hang && before(&end, &watch))
			watch = end;
		if (pthread_cond_clockwait(&s->changed, &s->lock, CLOCK_MONOTONIC, &watch) ==
			    ETIMEDOUT &&
		    hooks->gone(hooks->ctx)) {
			gone = true;
			break;
		}
	}
	if (call->hang)
		s->hung--;
	s->held--;
	bool stopped = s->stopping;
	pthread_mutex_unlock(&s->lock);
	return stopped ? HOLD_STOPPED : gone ? HOLD_GONE : HOLD_DONE;
}

unsigned run_server_release_hung(struct run_server *s)
{
	pthread_mutex_lock(&s->lock);
	unsigned held = s->hung;
	s->release_generation++;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	return held;
}

unsigned run_server_held(struct run_server *s)
{
	pthread_mutex_lock(&s->lock);
	unsigned held = s->held;
	pthread_mutex_unlock(&s->lock);
	return held;
}

/* ---- one channel ---- */

struct call_transport {
	struct emu_gather gather; /* first: the core's transport */
	struct run_server *server;
	int new_fd; /* a partition's or VP's fd for the caller, or -1 */
};

static int install(struct emu_transport *base, struct emu_session *object)
{
	struct call_transport *t = (struct call_transport *)base;
	/* The call answers the session's number; the caller's fd is the one
	 * passed with the reply, which the shim returns instead. */
	return (int)entry_add(t->server, object, false, &t->new_fd);
}

static void send_reply(int fd, const struct wire_reply *reply, size_t data_len, int pass_fd)
{
	struct iovec iov = {(void *)reply, sizeof(*reply) + data_len};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (pass_fd >= 0) {
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	/* A caller gone mid-call is no error of ours: its channel ends next. */
	sendmsg(fd, &msg, MSG_NOSIGNAL);
}

/* A reply of RESULT alone: its data's length (none). */
static size_t answer(struct wire_reply *reply, int result)
{
	*reply = (struct wire_reply){.magic = WIRE_MAGIC, .kind = WIRE_ANSWER, .result = result};
	return 0;
}

/*
 * The calls.  Each fills REPLY (REPLY_BUF bytes) and returns the length of
 * its data; *PASS_FD: an fd to pass with it (the caller closes it), or -1.
 */
static size_t serve_open(struct run_server *s, const struct wire_request *req,
			 struct emu_caller *caller, struct wire_reply *reply,
			 const struct run_call_hooks *hooks, int *pass_fd)
{
	struct emu_session *session = calloc(1, sizeof(*session));
	if (!session)
		return answer(reply, -ENOMEM);
	struct emu_call call = {.caller = caller};
	int result = core_open(s->core, session, &call);
	if (call.hold_ns || call.hang)
		result = core_open_complete(s->core, session, &call,
					    hold(s, &call, hooks) != HOLD_DONE);
	if (result < 0) {
		free(session);
		return answer(reply, result);
	}
	int client_fd;
	long n = entry_add(s, session, true, &client_fd);
	if (n < 0) {
		core_release(s->core, session, caller);
		free(session);
		return answer(reply, (int)n);
	}
	*reply =
		(struct wire_reply){.magic = WIRE_MAGIC, .kind = WIRE_NEW_FD, .result = (int32_t)n};
	*pass_fd = client_fd;
	return 0;
}

static size_t serve_ioctl(struct run_server *s, const struct wire_request *req, size_t data_len,
			  struct emu_caller *caller, struct wire_reply *reply,
			  const struct run_call_hooks *hooks, int *pass_fd)
{
	const uint8_t *data = (const uint8_t *)(req + 1);
	uint8_t *out = (uint8_t *)(reply + 1);
	struct entry *e = entry_get(s, req->session);
	if (!e)
		return answer(reply, -EBADF); /* released under the caller, or not ours */
	struct call_transport t = {.server = s, .new_fd = -1};
	emu_gather_init(&t.gather, req->cmd);
	t.gather.base.install = install;
	size_t base_in = t.gather.base_in, base_out = t.gather.base_out;
	if (base_out + req->out_len > WIRE_MAX_DATA || req->in_len > data_len ||
	    (req->continued && req->in_len < base_in)) {
		entry_put(s, req->session);
		return answer(reply, -EIO);
	}
	/* The argument goes back whole when a region follows it: start it as
	 * the caller's bytes, which the kernel would leave as they are. */
	memset(out, 0, base_out);
	bool have_arg = req->in_len >= base_in;
	if (have_arg && base_in && base_out)
		memcpy(out, data, base_in < base_out ? base_in : base_out);
	if (req->continued)
		emu_gather_supply(&t.gather, data + base_in, req->in_len - base_in, out + base_out,
				  req->out_len);
	else
		emu_gather_supply(&t.gather, NULL, 0, out + base_out, 0);
	struct emu_call call = {
		.cmd = req->cmd,
		.arg = req->arg,
		.in = have_arg && base_in ? data : NULL,
		.in_size = have_arg ? base_in : 0, /* unreadable: EFAULT after the checks */
		.out = out,
		.out_size = base_out,
		.caller = caller,
		.transport = &t.gather.base,
		.continued = req->continued != 0,
	};
	int result = core_ioctl(s->core, e->session, &call);
	if (call.hold_ns || call.hang)
		switch (hold(s, &call, hooks)) {
		case HOLD_DONE:
			result = core_ioctl_complete(s->core, e->session, &call, false);
			break;
		case HOLD_GONE: /* interrupted: the transcript says so */
			result = core_ioctl_complete(s->core, e->session, &call, true);
			break;
		default:
			result = -ENODEV;
		}
	entry_put(s, req->session);
	if (result == -EMU_RETRY_WITH_MEMORY) {
		if (t.new_fd >= 0)
			close(t.new_fd);
		if (!emu_gather_fits(&t.gather))
			return answer(reply, -EIO);
		struct wire_region *regions = (struct wire_region *)out;
		for (unsigned i = 0; i < t.gather.count; i++)
			regions[i] = (struct wire_region){.addr = t.gather.regions[i].addr,
							  .len = (uint32_t)t.gather.regions[i].len,
							  .write = t.gather.regions[i].write};
		reply->magic = WIRE_MAGIC;
		reply->kind = WIRE_FETCH;
		reply->result = 0;
		reply->arg_len = reply->written_len = 0;
		reply->region_count = t.gather.count;
		return t.gather.count * sizeof(*regions);
	}
	ssize_t written = emu_gather_written(&t.gather);
	if (written < 0)
		result = -EIO;
	uint32_t arg_len = written > 0 ? (uint32_t)base_out : (uint32_t)call.out_len;
	reply->magic = WIRE_MAGIC;
	reply->kind = t.new_fd >= 0 && result >= 0 ? WIRE_NEW_FD : WIRE_ANSWER;
	reply->result = result;
	reply->arg_len = arg_len;
	reply->written_len = written > 0 ? (uint32_t)written : 0;
	reply->region_count = 0;
	if (written > 0 && arg_len < base_out)
		memset(out + arg_len, 0, base_out - arg_len);
	if (reply->kind == WIRE_NEW_FD)
		*pass_fd = t.new_fd;
	else if (t.new_fd >= 0)
		close(t.new_fd);
	return arg_len + reply->written_len;
}

/* One request of LEN bytes (a header checked to be there) into REPLY:
 * the reply's length, or -EINVAL for an operation not known. */
static ssize_t serve(struct run_server *s, const struct wire_request *req, size_t len,
		     struct wire_reply *reply, const struct run_call_hooks *hooks, int *pass_fd)
{
	struct emu_caller caller = {
		.pid = req->pid, .uid = req->uid, .get_comm = front_caller_comm};
	*pass_fd = -1;
	size_t data_len;
	if (req->op == WIRE_OPEN)
		data_len = serve_open(s, req, &caller, reply, hooks, pass_fd);
	else if (req->op == WIRE_IOCTL)
		data_len = serve_ioctl(s, req, len - sizeof(*req), &caller, reply, hooks, pass_fd);
	else
		return -EINVAL;
	return (ssize_t)(sizeof(*reply) + data_len);
}

ssize_t run_server_call(struct run_server *s, const void *request, size_t len, void *reply,
			int *new_fd, const struct run_call_hooks *hooks)
{
	const struct wire_request *req = request;
	*new_fd = -1;
	if (len < sizeof(*req) || req->magic != WIRE_MAGIC)
		return -EINVAL;
	struct direct d = {.serving = req->op == WIRE_IOCTL ? (uint64_t)req->session + 1 : 0};
	pthread_mutex_lock(&s->lock);
	bool stopping = s->stopping;
	if (!stopping) {
		d.next = s->directs;
		s->directs = &d;
		s->directs_running++;
	}
	pthread_mutex_unlock(&s->lock);
	if (stopping)
		return -ENODEV; /* the run is over: as a removed driver */
	ssize_t got = serve(s, req, len, reply, hooks, new_fd);
	pthread_mutex_lock(&s->lock);
	for (struct direct **link = &s->directs; *link; link = &(*link)->next)
		if (*link == &d) {
			*link = d.next;
			break;
		}
	s->directs_running--;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	return got;
}

/* A channel's hooks: WIRE_HELD first; the caller is gone when the channel
 * hangs up (its thread or process ended, or it gave the call up). */
static void channel_held(void *ctx)
{
	struct wire_reply held = {.magic = WIRE_MAGIC, .kind = WIRE_HELD};
	send_reply(*(int *)ctx, &held, 0, -1);
}

static bool channel_gone(void *ctx)
{
	return caller_gone(*(int *)ctx);
}

static void channel_forget(struct run_server *s, struct channel *c)
{
	pthread_mutex_lock(&s->lock);
	for (struct channel **link = &s->channels; *link; link = &(*link)->next) {
		if (*link == c) {
			*link = c->next;
			break;
		}
	}
	s->channels_running--;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

static ssize_t request_recv(void *arg, int flags)
{
	const struct channel *c = arg;
	return recv(c->fd, c->in, REQUEST_BUF, flags);
}

static void *channel_thread(void *arg)
{
	struct channel *c = arg;
	struct run_server *s = c->server;
	uint8_t *in = malloc(REQUEST_BUF), *out = malloc(REPLY_BUF);
	c->in = in;
	while (in && out) {
		/* The caller's next call often follows at once: wait for it
		 * spinning first (wire.h), then blocking. */
		ssize_t got = wire_spin_recv(request_recv, c);
		if (got < 0 && errno == EAGAIN)
			got = recv(c->fd, in, REQUEST_BUF, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < (ssize_t)sizeof(struct wire_request))
			break; /* closed (the thread or process ended), or not ours */
		struct wire_request *req = (struct wire_request *)in;
		if (req->magic != WIRE_MAGIC)
			break;
		atomic_store(&c->serving, req->op == WIRE_IOCTL ? (uint64_t)req->session + 1 : 0);
		struct wire_reply *reply = (struct wire_reply *)out;
		int pass_fd;
		ssize_t len = serve(s, req, (size_t)got, reply, &c->hooks, &pass_fd);
		if (len < 0)
			break;
		send_reply(c->fd, reply, (size_t)len - sizeof(*reply), pass_fd);
		if (pass_fd >= 0)
			close(pass_fd);
		atomic_store(&c->serving, 0);
	}
	free(in);
	free(out);
	/* Unlisted before its fd is closed: the reap thread peeks at every
	 * listed channel's fd (calls_pending), and a closed fd's number may
	 * already be another channel's or session's. */
	channel_forget(s, c);
	close(c->fd);
	free(c);
	return NULL;
}

/* PID's parent, from /proc; 0 if it cannot be read. */
static pid_t parent_of(pid_t pid)
{
	char path[32], text[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	/* "pid (comm) state ppid ...": comm may hold anything but the last ')' */
	const char *end = strrchr(text, ')');
	int ppid = 0;
	return end && sscanf(end + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : 0;
}

/*
 * Who may use the run's device: the run's user and root, and any process
 * of the run whatever its user (a VMM that drops privileges keeps its
 * device, as an fd it opened before would): a descendant of the run.
 */
static bool peer_allowed(struct run_server *s, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	if (cred.uid == s->uid || cred.uid == 0)
		return true;
	pid_t run = s->run_pid;
	pid_t pid = cred.pid;
	for (int depth = 0; pid > 1 && depth < 64; depth++, pid = parent_of(pid))
		if (pid == run)
			return true;
	return false;
}

static void *accept_thread(void *arg)
{
	struct run_server *s = arg;
	for (;;) {
		struct pollfd fds[2] = {{.fd = s->listen_fd, .events = POLLIN},
					{.fd = s->wake_fd, .events = POLLIN}};
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break; /* the run is ending */
		if (!fds[0].revents)
			continue;
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue; /* the connecting thread went away first, or EINTR */
		if (!peer_allowed(s, fd)) {
			close(fd);
			continue;
		}
		struct channel *c = calloc(1, sizeof(*c));
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_t thread;
		pthread_mutex_lock(&s->lock);
		bool ok = c && !s->stopping;
		if (ok) {
			*c = (struct channel){.server = s, .fd = fd, .next = s->channels};
			c->hooks = (struct run_call_hooks){
				.held = channel_held, .gone = channel_gone, .ctx = &c->fd};
			s->channels = c;
			s->channels_running++;
		}
		pthread_mutex_unlock(&s->lock);
		if (ok && pthread_create(&thread, &attr, channel_thread, c) != 0) {
			channel_forget(s, c);
			ok = false;
		}
		pthread_attr_destroy(&attr);
		if (!ok) {
			free(c);
			close(fd);
		}
	}
	return NULL;
}

/* ---- start and stop ---- */

struct run_server *run_server_start(struct emu_core *core, uid_t uid, pid_t run_pid,
				    char *socket_name, size_t socket_size, char *id, size_t id_size)
{
	struct run_server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	*s = (struct run_server){
		.core = core, .uid = uid, .run_pid = run_pid, .listen_fd = -1, .epoll_fd = -1};
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->changed, NULL);
	uint32_t nonce = 0;
	if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce))
		nonce = (uint32_t)time(NULL);
	snprintf(s->id, sizeof(s->id), "mshv-emu-run-%d-%08x", (int)getpid(), nonce);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int len = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "%s/device", s->id);
	s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	s->wake_fd = eventfd(0, EFD_CLOEXEC);
	struct epoll_event wake = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
	if (s->listen_fd < 0 || s->epoll_fd < 0 || s->wake_fd < 0 ||
	    bind(s->listen_fd, (struct sockaddr *)&addr,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len)) != 0 ||
	    listen(s->listen_fd, 128) != 0 ||
	    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &wake) != 0) {
		fprintf(stderr, "mshv-emu-run: the run's device socket: %s\n", strerror(errno));
		goto fail;
	}
	if (pthread_create(&s->reap_thread, NULL, reap_thread, s) != 0)
		goto fail;
	if (pthread_create(&s->accept_thread, NULL, accept_thread, s) != 0) {
		fprintf(stderr, "mshv-emu-run: cannot start the device's threads\n");
		eventfd_write(s->wake_fd, 1);
		pthread_join(s->reap_thread, NULL);
		goto fail;
	}
	snprintf(socket_name, socket_size, "%s/device", s->id);
	snprintf(id, id_size, "%s", s->id);
	return s;
fail:
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	free(s);
	return NULL;
}

void run_server_stop(struct run_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->changed);
	for (struct channel *c = s->channels; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->lock);
	eventfd_write(s->wake_fd, 1); /* the accept and reap threads leave */
	pthread_join(s->accept_thread, NULL);
	pthread_mutex_lock(&s->lock);
	while (s->channels_running || s->directs_running)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->reap_thread, NULL);
	for (size_t n = 0; n < s->entry_cap; n++)
		if (s->entries[n])
			entry_put(s, (uint32_t)n);
	close(s->listen_fd);
	close(s->epoll_fd);
	close(s->wake_fd);
	s->listen_fd = s->epoll_fd = s->wake_fd = -1;
}

void run_server_free(struct run_server *s)
{
	free(s->entries);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
