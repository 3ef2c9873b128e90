/*
 * stress.c - every path that runs concurrently in the daemon, all at once,
 * in one process and without a kernel: the core, daemon.c's SIGHUP thread
 * and control.c's socket, as mshv-emu and mshv-emu-run serve them.  It is
 * for ThreadSanitizer (the tsan preset, `make test-tsan`, docs/tsan.md),
 * which cannot run the criterion suites, and for every other build too:
 * under ASan a snapshot freed too early shows here.
 *
 * A round serves one core and runs, at once:
 *   legacy     callers of the negotiated generation: open, REQUEST_VERSION,
 *              CHECK_EXTENSION; and REQUEST_VERSION racing on one shared fd
 *   root       callers of the root driver: a host property, a hypercall,
 *              CREATE_PARTITION, partition properties, INITIALIZE, CREATE_VP,
 *              VP hypercalls; a VP is handed to the other root caller, which
 *              uses it while its partition's fd is being closed
 *   vanisher   a caller that goes away mid-call (uid 4242): its memory
 *              cannot be read (memory.c's answer for a process that is
 *              gone), its command name is unknown, the calls a fault holds
 *              are answered by the holder thread (mostly interrupted, as
 *              hold.c answers on FUSE_INTERRUPT), and its fds and the
 *              objects it made are released by the reaper thread, as the
 *              kernel closes a dead process's files
 *   publisher  core_publish of four policies in turn, two of the negotiated
 *              generation and two of Microsoft's root driver, parsed each time
 *   faults     core_fault_enable, and mshvctl inject's path
 *              (policy_parse_fault in a read section, then core_inject)
 *   tracer     core_trace_start and core_trace_stop, to files and /dev/null
 *   control    mshvctl's requests over control.c's socket: status, stats,
 *              reload FILE, fault enable/disable, inject, release, trace;
 *              and SIGHUP, which daemon.c's reload thread takes
 *
 * Every answer must be one that the policies and faults in play can give:
 * each call below lists them.  Every transcript line must be a whole JSON
 * object.  At the end of a round every session and object is released, and
 * the core's counters must say so.  Counts bound the run, never a clock:
 * each thread has its share to do (ITERATIONS calls that got past open for
 * a caller, so many publishes, requests, ...), and all go on until every
 * one has done its own.
 *
 * Usage: stress [--rounds N] [--iterations N]
 * Exit status 0, or 1 after saying what was wrong (2: usage).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "errnames.h"
#include "rcu.h"

#define LEGACY_THREADS	 2
#define ROOT_THREADS	 2
#define VANISHER_THREADS 1
#define CALLERS		 (LEGACY_THREADS + ROOT_THREADS + VANISHER_THREADS)
#define FD_BASE		 100
#define MAX_FDS		 8
#define VANISHER_UID	 4242
#define END		 INT_MIN /* ends a list of valid answers */

/* The policies a round publishes in turn.  Both generations name a rule
 * `toggled` (the faults thread switches it) and hold back some of the
 * vanisher's calls. */
#define NEGOTIATED_POLICY                                                                      \
	"profile: negotiated\n"                                                                \
	"versions: [1, 2]\n"                                                                   \
	"capabilities:\n"                                                                      \
	"  - {name: A, id: 1, value: %d}\n"                                                    \
	"  - {name: B, id: 2, value: %d, versions: [2]}\n"                                     \
	"faults:\n"                                                                            \
	"  seed: 7\n"                                                                          \
	"  rules:\n"                                                                           \
	"    - {name: toggled, enabled: false, match: {ioctl: CHECK_EXTENSION, arg: 1},\n"     \
	"       when: {every: 3}, action: {errno: EAGAIN}}\n"                                  \
	"    - {name: by-comm, match: {ioctl: CHECK_EXTENSION, arg: 3, comm: \"stress-*\"},\n" \
	"       when: {every: 2}, action: {value: 77}}\n"                                      \
	"    - {name: gone, match: {ioctl: CHECK_EXTENSION, arg: 9}, when: {every: 200},\n"    \
	"       action: {vanish_ms: 1}}\n"                                                     \
	"    - {name: hang-vanisher, match: {ioctl: CHECK_EXTENSION, uid: 4242},\n"            \
	"       when: {every: 2}, action: {hang: true}}\n"                                     \
	"    - {name: delay-vanisher, match: {event: open, uid: 4242}, when: {every: 3},\n"    \
	"       action: {delay_ms: 1}}\n"

#define MICROSOFT_POLICY                                                                    \
	"profile: microsoft\n"                                                              \
	"hypervisor:\n"                                                                     \
	"  properties:\n"                                                                   \
	"    - {name: PHYSICAL_ADDRESS_WIDTH, value: %d}\n"                                 \
	"faults:\n"                                                                         \
	"  rules:\n"                                                                        \
	"    - {name: toggled, enabled: false, match: {ioctl: ROOT_HVCALL},\n"              \
	"       when: {every: 3}, action: {errno: EAGAIN}}\n"                               \
	"    - {name: hang-vanisher, match: {ioctl: ROOT_HVCALL, uid: 4242},\n"             \
	"       when: {every: 2}, action: {hang: true}}\n"                                  \
	"    - {name: delay-vanisher, match: {event: open, uid: 4242}, when: {every: 3},\n" \
	"       action: {delay_ms: 1}}\n"

#define POLICIES 4
static const int policy_values[POLICIES] = {100, 46, 200, 48};
static char policy_texts[POLICIES][2048];

/* Injected rules answer EIO on these numbers only (and EMFILE on open). */
static const uint32_t injected_cmds[] = {MSHV_NEGOTIATED_CHECK_EXTENSION, MSHV_ROOT_HVCALL};

static unsigned rounds = 3, iterations = 150;

/* ---- failures ---- */

static _Atomic unsigned failures;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	if (atomic_fetch_add(&failures, 1) >= 20)
		return; /* the first ones say enough */
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&report_lock);
	fprintf(stderr, "stress: %s\n", line);
	pthread_mutex_unlock(&report_lock);
}

static const char *answer_name(int result, char *buf, size_t size)
{
	const char *name = result < 0 ? errname_of(-result) : NULL;
	if (name)
		snprintf(buf, size, "-%s", name);
	else
		snprintf(buf, size, "%d", result);
	return buf;
}

static bool injected_cmd(uint32_t cmd)
{
	for (size_t i = 0; i < sizeof(injected_cmds) / sizeof(injected_cmds[0]); i++)
		if (injected_cmds[i] == cmd)
			return true;
	return false;
}

/*
 * RESULT must be in VALID (ended by END), or, for an ioctl CMD answered
 * now (CMD 0: an open, or a held call answered later), be what
 * interference gives: ENODEV while the device has vanished, EIO where an
 * injected rule can fire.  Returns whether it was.
 */
static bool check(const char *who, const char *what, uint32_t cmd, int result, const int *valid)
{
	for (const int *v = valid; *v != END; v++)
		if (result == *v)
			return true;
	if (cmd && (result == -ENODEV || (result == -EIO && injected_cmd(cmd))))
		return true;
	char got[32], list[256] = "", one[32];
	for (const int *v = valid; *v != END; v++) {
		strncat(list, v == valid ? "" : ", ", sizeof(list) - strlen(list) - 1);
		strncat(list, answer_name(*v, one, sizeof(one)), sizeof(list) - strlen(list) - 1);
	}
	fail("%s: %s answered %s, which no policy or fault in play gives (expected one of %s%s%s)",
	     who, what, answer_name(result, got, sizeof(got)), list, cmd ? ", -ENODEV" : "",
	     injected_cmd(cmd) ? ", -EIO" : "");
	return false;
}

#define CHECK(who, what, cmd, result, ...) \
	check(who, what, cmd, result, (const int[]){__VA_ARGS__, END})

/* ---- what a round shares ---- */

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct item *head;
	bool closed; /* nothing more will be pushed */
};

/* A call a fault holds, for the holder; or a session, for the reaper. */
struct item {
	struct item *next;
	struct emu_session *session;
	bool held, is_open;
	struct emu_call call;
	struct emu_caller caller;
	struct emu_transport transport;
	unsigned char in[64];
	unsigned char out[256];
	int expected[8]; /* a held ioctl answered, not interrupted: one of these */
};

/* A VP handed from one root caller to another, with what it must read. */
struct handoff {
	struct emu_session *vp;
	uint64_t value;
};

static struct round_state {
	struct daemon daemon;
	char dir[64];
	char files[POLICIES][96];
	struct queue held, reap;
	_Atomic unsigned reached; /* threads that did their share */
	_Atomic bool all_reached;
	const char *last; /* the last thread to do its share */
	_Atomic(struct handoff *) handoff;
	struct emu_session shared; /* one fd all legacy callers version at once */
	_Atomic unsigned shared_versions;
	_Atomic unsigned long calls, successes_legacy, successes_root, vps, held_calls, interrupted,
		orphans, publishes, toggles, injects, traces, requests, sighups;
	_Atomic unsigned trace_files;
	_Atomic bool release_next; /* mshvctl release: answer the next held call */
} state;

static void queue_init(struct queue *q)
{
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->changed, NULL);
	q->head = NULL;
	q->closed = false;
}

static void queue_push(struct queue *q, struct item *item)
{
	pthread_mutex_lock(&q->lock);
	item->next = q->head;
	q->head = item;
	pthread_cond_signal(&q->changed);
	pthread_mutex_unlock(&q->lock);
}

/* The next item, or NULL once the queue is closed and empty. */
static struct item *queue_pop(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	while (!q->head && !q->closed)
		pthread_cond_wait(&q->changed, &q->lock);
	struct item *item = q->head;
	if (item)
		q->head = item->next;
	pthread_mutex_unlock(&q->lock);
	return item;
}

static void queue_close(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->changed);
	pthread_mutex_unlock(&q->lock);
}

static unsigned queue_length(struct queue *q)
{
	unsigned n = 0;
	pthread_mutex_lock(&q->lock);
	for (struct item *i = q->head; i; i = i->next)
		n++;
	pthread_mutex_unlock(&q->lock);
	return n;
}

/* The reaper closes SESSION's fd: core_release, as the kernel's release
 * with no caller, then frees a device session (the core frees objects). */
static void reap(struct emu_session *session)
{
	struct item *item = calloc(1, sizeof(*item));
	if (!item)
		abort();
	item->session = session;
	queue_push(&state.reap, item);
}

/* ---- how long: counts, never a clock ---- */

/*
 * Each thread has its share to do (MIN things done), and goes on until every
 * thread has done its own: so each one runs while all the others do, however
 * they are scheduled, and the slowest one's share bounds the run.
 */
#define CHANGERS 4
#define WORKERS	 (CALLERS + CHANGERS)

struct progress {
	const char *name;
	unsigned done, min;
	bool reached;
};

static void reach(struct progress *p)
{
	if (!p->reached) {
		p->reached = true;
		if (atomic_fetch_add(&state.reached, 1) + 1 == WORKERS) {
			state.last = p->name; /* for the summary: what bounded the round */
			atomic_store(&state.all_reached, true);
		}
	}
}

static bool keep_going(struct progress *p)
{
	if (p->done >= p->min)
		reach(p);
	return !p->reached || !atomic_load(&state.all_reached);
}

/* ---- callers ---- */

struct caller {
	char name[32];
	unsigned index;
	struct emu_caller caller;
	struct emu_transport transport;
	struct emu_session *fds[MAX_FDS]; /* what install made, by fd - FD_BASE */
	bool vanishing;
};

static const char *comm_of(struct emu_caller *caller)
{
	return caller->uid == VANISHER_UID ? NULL : "stress-caller"; /* a gone process has none */
}

static int t_read(struct emu_transport *base, uint64_t addr, void *buf, size_t len)
{
	memcpy(buf, (const void *)(uintptr_t)addr, len);
	return 0;
}

static int t_write(struct emu_transport *base, uint64_t addr, const void *buf, size_t len)
{
	memcpy((void *)(uintptr_t)addr, buf, len);
	return 0;
}

static int t_install(struct emu_transport *base, struct emu_session *object)
{
	struct caller *c = (struct caller *)((char *)base - offsetof(struct caller, transport));
	for (int i = 0; i < MAX_FDS; i++) {
		if (!c->fds[i]) {
			c->fds[i] = object;
			return FD_BASE + i;
		}
	}
	return -EMFILE;
}

/* A caller that is gone: its memory faults (process_vm_readv's ESRCH, as
 * memory.c answers it), and what it made is closed by the reaper. */
static int gone_read(struct emu_transport *base, uint64_t addr, void *buf, size_t len)
{
	return -EFAULT;
}

static int gone_write(struct emu_transport *base, uint64_t addr, const void *buf, size_t len)
{
	return -EFAULT;
}

static int gone_install(struct emu_transport *base, struct emu_session *object)
{
	atomic_fetch_add(&state.orphans, 1);
	reap(object);
	return FD_BASE;
}

static struct emu_session *object_at(struct caller *c, int fd)
{
	return fd >= FD_BASE && fd < FD_BASE + MAX_FDS ? c->fds[fd - FD_BASE] : NULL;
}

static void close_fd(struct caller *c, int fd)
{
	struct emu_session *object = object_at(c, fd);
	c->fds[fd - FD_BASE] = NULL;
	core_release(&state.daemon.core, object, &c->caller);
}

/* One ioctl on SESSION with a copied-in argument ARG of SIZE bytes, copied
 * back as the kernel does for restricted ioctls.  When a fault holds it,
 * *HELD is the call, kept for the holder (HELD NULL: no rule may hold it). */
static int ioctl_on(struct caller *c, struct emu_session *session, uint32_t cmd, void *arg,
		    size_t size, struct item **held)
{
	unsigned char out[256];
	struct emu_call call = {
		.cmd = cmd,
		.arg = (uintptr_t)arg,
		.in = arg,
		.in_size = size,
		.out = out,
		.out_size = size < sizeof(out) ? size : sizeof(out),
		.caller = &c->caller,
		.transport = &c->transport,
	};
	int result = core_ioctl(&state.daemon.core, session, &call);
	atomic_fetch_add_explicit(&state.calls, 1, memory_order_relaxed);
	if (call.hold_ns || call.hang) {
		if (!held) {
			fail("%s: ioctl 0x%08x was held, and no rule holds this caller's calls",
			     c->name, cmd);
			return result;
		}
		/* As hold.c keeps it: the call, the caller, the transport and the
		 * argument, which the caller's stack no longer holds. */
		struct item *item = calloc(1, sizeof(*item));
		if (!item || size > sizeof(item->in))
			abort();
		item->held = true;
		item->session = session;
		item->call = call;
		item->caller = c->caller;
		item->call.caller = &item->caller;
		item->transport = c->transport;
		item->call.transport = &item->transport;
		memcpy(item->in, arg, size);
		item->call.in = item->in;
		item->call.arg = (uintptr_t)item->in;
		item->call.out = NULL;
		*held = item;
		atomic_fetch_add(&state.held_calls, 1);
		return 0;
	}
	if (call.out_len)
		memcpy(arg, out, call.out_len);
	return result;
}

/* A new device session, or NULL when the open failed as it may (the
 * vanished device, an injected open rule), or was held (into *HELD). */
static struct emu_session *open_device(struct caller *c, struct item **held)
{
	struct emu_session *session = calloc(1, sizeof(*session));
	if (!session)
		abort();
	struct emu_call call = {.caller = &c->caller};
	int result = core_open(&state.daemon.core, session, &call);
	if (call.hold_ns || call.hang) {
		if (!held) {
			fail("%s: an open was held, and no rule holds this caller's opens",
			     c->name);
			free(session);
			return NULL;
		}
		struct item *item = calloc(1, sizeof(*item));
		if (!item)
			abort();
		item->held = true;
		item->is_open = true;
		item->session = session;
		item->call = call;
		item->caller = c->caller;
		item->call.caller = &item->caller;
		*held = item;
		atomic_fetch_add(&state.held_calls, 1);
		return NULL;
	}
	CHECK(c->name, "open", 0, result, 0, -ENOENT, -EMFILE);
	if (result) {
		free(session);
		return NULL;
	}
	return session;
}

static void close_device(struct caller *c, struct emu_session *session)
{
	core_release(&state.daemon.core, session, &c->caller);
	free(session);
}

static int request_version(struct caller *c, struct emu_session *s, uint32_t version,
			   struct item **held)
{
	return ioctl_on(c, s, MSHV_REQUEST_VERSION, &version, sizeof(version), held);
}

static int check_extension(struct caller *c, struct emu_session *s, uint32_t id, struct item **held)
{
	return ioctl_on(c, s, MSHV_NEGOTIATED_CHECK_EXTENSION, &id, sizeof(id), held);
}

/*
 * The negotiated generation's calls.  While a Microsoft policy serves,
 * every one of them is an unknown ioctl: ENOTTY.
 */
static bool legacy_iteration(struct caller *c, unsigned i)
{
	const uint32_t CE = MSHV_NEGOTIATED_CHECK_EXTENSION, RV = MSHV_REQUEST_VERSION;
	struct emu_session *s = open_device(c, NULL);
	if (!s)
		return false;
	uint32_t version = 1 + i % 2;
	int r = request_version(c, s, version, NULL);
	CHECK(c->name, "REQUEST_VERSION on a new fd", RV, r, 0, -ENOTTY);
	bool versioned = r == 0;
	r = request_version(c, s, version, NULL);
	if (versioned)
		CHECK(c->name, "a second REQUEST_VERSION", RV, r, -EBADFD, -ENOTTY);
	else
		CHECK(c->name, "REQUEST_VERSION after a refused one", RV, r, 0, -EBADFD, -ENOTTY);
	versioned |= r == 0;
	/* Capability 1: every version; 2: version 2 only; 3: none, but the
	 * by-comm rule answers 77 every other time; 9: none, and every 200th
	 * makes the device vanish for a millisecond. */
	r = check_extension(c, s, 1, NULL);
	if (versioned && CHECK(c->name, "CHECK_EXTENSION(1)", CE, r, 100, 200, -EAGAIN, -ENOTTY))
		atomic_fetch_add(&state.successes_legacy, r > 0);
	else if (!versioned)
		CHECK(c->name, "CHECK_EXTENSION(1) unversioned", CE, r, -EBADFD, -EAGAIN, -ENOTTY);
	r = check_extension(c, s, 2, NULL);
	if (versioned && version == 2)
		CHECK(c->name, "CHECK_EXTENSION(2) on version 2", CE, r, 100, 200, -ENOTTY);
	else
		CHECK(c->name, "CHECK_EXTENSION(2)", CE, r, -EOPNOTSUPP, -EBADFD, -ENOTTY);
	r = check_extension(c, s, 3, NULL);
	CHECK(c->name, "CHECK_EXTENSION(3)", CE, r, 77, versioned ? -EOPNOTSUPP : -EBADFD, -ENOTTY);
	r = check_extension(c, s, 9, NULL);
	CHECK(c->name, "CHECK_EXTENSION(9)", CE, r, versioned ? -EOPNOTSUPP : -EBADFD, -ENOTTY);
	/* The RFC driver's per-fd lock: of every REQUEST_VERSION on one fd,
	 * at most one succeeds, whatever the interleaving. */
	if (i < 16) {
		r = request_version(c, &state.shared, 1, NULL);
		CHECK(c->name, "REQUEST_VERSION on the shared fd", RV, r, 0, -EBADFD, -ENOTTY);
		if (r == 0)
			atomic_fetch_add(&state.shared_versions, 1);
	}
	close_device(c, s);
	return true;
}

/* ---- the root driver ---- */

static int hvcall(struct caller *c, struct emu_session *s, uint16_t code, void *in, size_t in_size,
		  void *out, size_t out_size, struct item **held)
{
	struct mshv_root_hvcall h = {
		.code = code,
		.in_sz = (uint16_t)in_size,
		.out_sz = (uint16_t)out_size,
		.in_ptr = (uintptr_t)in,
		.out_ptr = (uintptr_t)out,
	};
	return ioctl_on(c, s, MSHV_ROOT_HVCALL, &h, sizeof(h), held);
}

static int get_property(struct caller *c, struct emu_session *s, uint32_t code, uint64_t *value,
			struct item **held)
{
	struct mshv_emu_hv_get_property_in in = {.property_code = code};
	*value = UINT64_MAX;
	return hvcall(c, s, MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY, &in, sizeof(in), value,
		      sizeof(*value), held);
}

static int set_property(struct caller *c, struct emu_session *s, uint32_t code, uint64_t value)
{
	struct mshv_emu_hv_set_property_in in = {.property_code = code, .property_value = value};
	return hvcall(c, s, MSHV_EMU_HVCALL_SET_PARTITION_PROPERTY, &in, sizeof(in), NULL, 0, NULL);
}

static void expect_width(struct caller *c, const char *what, int r, uint64_t value)
{
	if (r == 0 && value != 46 && value != 48)
		fail("%s: %s read PHYSICAL_ADDRESS_WIDTH %llu: no policy serves that (46 or 48)",
		     c->name, what, (unsigned long long)value);
}

/* mshv-ioctls 0.7's CREATE_PARTITION: the v2 structure behind bit 3. */
static int create_partition(struct caller *c, struct emu_session *s, uint64_t flags)
{
	struct mshv_emu_create_partition_v2 args = {
		.pt_flags = flags,
		.pt_num_cpu_fbanks = 2,
		.pt_cpu_fbanks = {~0x00F1FFFF7FFFFFFFull | 1ull << 63, ~0x7Full},
	};
	return ioctl_on(c, s, MSHV_CREATE_PARTITION, &args, sizeof(struct mshv_create_partition),
			NULL);
}

/* Use a VP another caller made, then close it: its partition's fd may be
 * closing at the same time. */
static void use_handed_vp(struct caller *c)
{
	struct handoff *h = atomic_exchange(&state.handoff, NULL);
	if (!h)
		return;
	uint64_t value;
	int r = get_property(c, h->vp, MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, &value, NULL);
	CHECK(c->name, "a handed VP's GET_PARTITION_PROPERTY", MSHV_ROOT_HVCALL, r, 0, -EBADFD,
	      -EAGAIN);
	if (r == 0 && value != h->value)
		fail("%s: a handed VP read SYNTHETIC_PROC_FEATURES 0x%llx, not its partition's "
		     "0x%llx",
		     c->name, (unsigned long long)value, (unsigned long long)h->value);
	struct mshv_run_vp run = {0};
	r = ioctl_on(c, h->vp, MSHV_RUN_VP, &run, sizeof(run), NULL);
	CHECK(c->name, "RUN_VP", MSHV_RUN_VP, r, -EOPNOTSUPP, -EBADFD);
	core_release(&state.daemon.core, h->vp, &c->caller);
	free(h);
}

/*
 * Microsoft's root driver.  While a negotiated policy serves, the device
 * fd has no version, and every call on it or on what it made is EBADFD.
 */
static bool root_iteration(struct caller *c, unsigned i)
{
	const uint32_t HV = MSHV_ROOT_HVCALL;
	struct emu_session *s = open_device(c, NULL);
	if (!s)
		return false;
	struct mshv_emu_partition_property host = {
		.property_code = MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH};
	int r = ioctl_on(c, s, MSHV_GET_HOST_PARTITION_PROPERTY, &host, sizeof(host), NULL);
	CHECK(c->name, "GET_HOST_PARTITION_PROPERTY", MSHV_GET_HOST_PARTITION_PROPERTY, r, 0,
	      -EBADFD);
	expect_width(c, "GET_HOST_PARTITION_PROPERTY", r, host.property_value);
	uint64_t value;
	r = get_property(c, s, MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH, &value, NULL);
	CHECK(c->name, "the device's GET_PARTITION_PROPERTY", HV, r, 0, -EBADFD, -EAGAIN);
	expect_width(c, "the device's GET_PARTITION_PROPERTY", r, value);

	int fd = create_partition(c, s, 0xF);
	CHECK(c->name, "CREATE_PARTITION", MSHV_CREATE_PARTITION, fd < FD_BASE ? fd : FD_BASE,
	      FD_BASE, -EBADFD);
	struct emu_session *partition = object_at(c, fd);
	if (partition) {
		atomic_fetch_add(&state.successes_root, 1);
		/* This caller's own value: what its partition must read back. */
		uint64_t mine = (uint64_t)(c->index + 1) << 32 | (i + 1), stored = 0;
		const uint32_t SYNTHETIC = MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES;
		r = set_property(c, partition, SYNTHETIC, mine);
		CHECK(c->name, "SET_PARTITION_PROPERTY", HV, r, 0, -EBADFD, -EAGAIN);
		if (r == 0)
			stored = mine;
		r = get_property(c, partition, SYNTHETIC, &value, NULL);
		CHECK(c->name, "the partition's GET_PARTITION_PROPERTY", HV, r, 0, -EBADFD,
		      -EAGAIN);
		if (r == 0 && value != stored)
			fail("%s: its partition read SYNTHETIC_PROC_FEATURES 0x%llx, not 0x%llx",
			     c->name, (unsigned long long)value, (unsigned long long)stored);
		r = ioctl_on(c, partition, MSHV_INITIALIZE_PARTITION, NULL, 0, NULL);
		CHECK(c->name, "INITIALIZE_PARTITION", MSHV_INITIALIZE_PARTITION, r, 0, -EBADFD);
		bool initialized = r == 0;
		r = set_property(c, partition, SYNTHETIC, mine + 1);
		if (initialized) /* INVALID_PARTITION_STATE */
			CHECK(c->name, "SET after INITIALIZE", HV, r, -EIO, -EBADFD, -EAGAIN);
		else if (CHECK(c->name, "SET, not initialized", HV, r, 0, -EIO, -EBADFD, -EAGAIN) &&
			 r == 0)
			stored = mine + 1;
		struct mshv_create_vp vp_args = {.vp_index = i % 64};
		int vp_fd = ioctl_on(c, partition, MSHV_CREATE_VP, &vp_args, sizeof(vp_args), NULL);
		CHECK(c->name, "CREATE_VP", MSHV_CREATE_VP, vp_fd < FD_BASE ? vp_fd : FD_BASE,
		      FD_BASE, -EBADFD);
		struct emu_session *vp = object_at(c, vp_fd);
		if (vp) {
			atomic_fetch_add(&state.vps, 1);
			r = get_property(c, vp, SYNTHETIC, &value, NULL);
			CHECK(c->name, "a VP's GET_PARTITION_PROPERTY", HV, r, 0, -EBADFD, -EAGAIN);
			if (r == 0 && value != stored)
				fail("%s: its VP read SYNTHETIC_PROC_FEATURES 0x%llx, not 0x%llx",
				     c->name, (unsigned long long)value,
				     (unsigned long long)stored);
			/* Hand the VP on (the fd now belongs to whoever takes it), or
			 * close it before its partition if the slot is taken. */
			struct handoff *h = malloc(sizeof(*h));
			struct handoff *none = NULL;
			if (!h)
				abort();
			*h = (struct handoff){.vp = vp, .value = stored};
			c->fds[vp_fd - FD_BASE] = NULL;
			if (!atomic_compare_exchange_strong(&state.handoff, &none, h)) {
				core_release(&state.daemon.core, vp, &c->caller);
				free(h);
			}
		}
		close_fd(c, fd);
	}
	use_handed_vp(c);
	close_device(c, s);
	return true;
}

/* ---- a caller that goes away ---- */

/* Pass a held call to the holder, with what it may answer if it is not
 * interrupted (at most 7 answers). */
static void hold_for_holder(struct item *item, const int *expected)
{
	int n = 0;
	while (n < 7 && expected[n] != END) {
		item->expected[n] = expected[n];
		n++;
	}
	item->expected[n] = END;
	queue_push(&state.held, item);
}

/*
 * Open, version, then one call of each generation, and go: the session
 * and whatever a held call still needs pass to the holder and the reaper.
 * A held call is its last: the process is blocked in it when it dies.
 */
static bool vanisher_iteration(struct caller *c, unsigned i)
{
	struct item *held = NULL;
	struct emu_session *s = open_device(c, &held);
	if (held) {
		hold_for_holder(held, (const int[]){0, END});
		return true;
	}
	if (!s)
		return false;
	int r = request_version(c, s, 1, NULL);
	CHECK(c->name, "REQUEST_VERSION", MSHV_REQUEST_VERSION, r, 0, -ENOTTY);
	bool versioned = r == 0;
	r = check_extension(c, s, 1, &held);
	if (held) {
		/* Answered later, from whatever policy serves then: capability 1,
		 * or an fd without a version, or no CHECK_EXTENSION at all. */
		hold_for_holder(held, (const int[]){100, 200, -EBADFD, -ENOTTY, END});
		return true;
	}
	CHECK(c->name, "CHECK_EXTENSION(1)", MSHV_NEGOTIATED_CHECK_EXTENSION, r, 100, 200, -EBADFD,
	      -EAGAIN, -ENOTTY);
	uint64_t value;
	r = get_property(c, s, MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH, &value, &held);
	if (held) {
		/* The caller's memory is gone by the time it is answered. */
		hold_for_holder(held, (const int[]){-EFAULT, -EBADFD, -ENOTTY, END});
		return true;
	}
	CHECK(c->name, "GET_PARTITION_PROPERTY", MSHV_ROOT_HVCALL, r, -EFAULT,
	      versioned ? -ENOTTY : -EBADFD, -ENOTTY, -EAGAIN);
	/* Bits 0-2 only: nothing to read behind the argument, so the
	 * partition is made, and its fd goes straight to the reaper. */
	int fd = create_partition(c, s, 0x7);
	CHECK(c->name, "CREATE_PARTITION", MSHV_CREATE_PARTITION, fd < FD_BASE ? fd : FD_BASE,
	      FD_BASE, -EBADFD, -ENOTTY);
	reap(s);
	return true;
}

/* A caller's share: ITERATIONS that got past open (a vanished device or
 * an injected open rule refuses some). */
static void *caller_thread(void *arg)
{
	struct caller *c = arg;
	struct progress p = {.name = c->name, .min = iterations};
	for (unsigned i = 0; keep_going(&p); i++) {
		if (c->vanishing)
			p.done += vanisher_iteration(c, i);
		else if (c->index < LEGACY_THREADS)
			p.done += legacy_iteration(c, i);
		else
			p.done += root_iteration(c, i);
	}
	return NULL;
}

/* ---- the front end's side: held calls and closed fds ---- */

/* Answers held calls as hold.c does: mostly interrupted (the caller is
 * gone), every third one, or after mshvctl release, as its time came. */
static void *holder_thread(void *arg)
{
	struct emu_core *core = &state.daemon.core;
	unsigned n = 0;
	struct item *item;
	while ((item = queue_pop(&state.held))) {
		bool interrupted = n++ % 3 != 2 && !atomic_exchange(&state.release_next, false);
		int r;
		if (item->is_open) {
			r = core_open_complete(core, item->session, &item->call, interrupted);
		} else {
			item->call.out = item->out;
			item->call.out_size = item->call.out_size < sizeof(item->out)
						      ? item->call.out_size
						      : sizeof(item->out);
			r = core_ioctl_complete(core, item->session, &item->call, interrupted);
		}
		atomic_fetch_add(&state.interrupted, interrupted);
		if (interrupted)
			CHECK("holder", "an interrupted held call", 0, r, -EINTR);
		else
			check("holder", item->is_open ? "a held open" : "a held ioctl", 0, r,
			      item->expected);
		if (item->is_open && r != 0)
			free(item->session); /* the open failed: no fd, no release */
		else
			reap(item->session);
		free(item);
	}
	return NULL;
}

static void *reaper_thread(void *arg)
{
	struct item *item;
	while ((item = queue_pop(&state.reap))) {
		bool device = item->session->object == EMU_OBJECT_DEVICE;
		core_release(&state.daemon.core, item->session, NULL);
		if (device)
			free(item->session);
		free(item);
	}
	return NULL;
}

static unsigned held_count(void)
{
	return queue_length(&state.held);
}

static unsigned release_held(void)
{
	atomic_store(&state.release_next, true);
	return 0;
}

static void node_path(char *out, size_t size)
{
	snprintf(out, size, "(stress: no node)");
}

/* ---- what changes the core ---- */

static struct policy_snapshot *load(unsigned which)
{
	struct diag_list diags = {0};
	struct policy_snapshot *snap = policy_load_buffer(state.files[which], policy_texts[which],
							  strlen(policy_texts[which]), &diags);
	if (!snap) {
		diag_print(&diags, stderr);
		fail("%s: the stress's own policy does not load", state.files[which]);
	}
	diag_free(&diags);
	return snap;
}

static void *publisher_thread(void *arg)
{
	struct progress p = {.name = "publisher", .min = 20};
	for (; keep_going(&p); p.done++) {
		struct policy_snapshot *snap = load(p.done % POLICIES);
		if (!snap)
			break;
		core_publish(&state.daemon.core, snap);
		atomic_fetch_add(&state.publishes, 1);
	}
	reach(&p);
	return NULL;
}

/* mshvctl inject's path (control.c's cmd_inject): parse against the
 * policy serving now, then arm.  A name the serving generation lacks is
 * refused; a number never is; past CORE_MAX_INJECTED, ENOSPC. */
static void inject(unsigned n)
{
	char text[256];
	switch (n % 3) {
	case 0:
		snprintf(text, sizeof(text),
			 "{name: inj-ce-%u, match: {ioctl: CHECK_EXTENSION, arg: 2}, "
			 "action: {errno: EIO}}",
			 n);
		break;
	case 1:
		snprintf(text, sizeof(text),
			 "{name: inj-hv-%u, match: {ioctl: 0x%08X}, when: {times: 2}, "
			 "action: {errno: EIO}}",
			 n, (unsigned)MSHV_ROOT_HVCALL);
		break;
	default:
		snprintf(text, sizeof(text),
			 "{name: inj-open-%u, match: {event: open}, action: {errno: EMFILE}}", n);
		break;
	}
	struct emu_core *core = &state.daemon.core;
	struct diag_list diags = {0};
	emu_rcu_read_lock();
	struct fault_rule *rule =
		policy_parse_fault(emu_rcu_dereference(core->current), "inject", text, &diags);
	emu_rcu_read_unlock();
	diag_free(&diags);
	if (!rule) {
		if (n % 3 != 0)
			fail("faults: `%s` was refused; it names no ioctl by name", text);
		return;
	}
	int r = core_inject(core, rule);
	if (r == 0)
		atomic_fetch_add(&state.injects, 1);
	else if (r != -ENOSPC)
		fail("faults: core_inject answered %d, not 0 or -ENOSPC", r);
	if (r) {
		fault_rule_free(rule);
	}
	free(rule);
}

static void *faults_thread(void *arg)
{
	struct emu_core *core = &state.daemon.core;
	struct progress p = {.name = "faults", .min = 40};
	for (unsigned n = 0; keep_going(&p); n = ++p.done) {
		if (!core_fault_enable(core, "toggled", n % 2 == 0))
			fail("faults: no rule `toggled`, which every policy of the stress has");
		if (core_fault_enable(core, "no-such-rule", true))
			fail("faults: a rule nobody defined was found");
		if (n % 2)
			inject(n / 2);
		atomic_fetch_add(&state.toggles, 1);
	}
	return NULL;
}

static void trace_file(unsigned n, char *path, size_t size)
{
	snprintf(path, size, "%s/trace-%u.jsonl", state.dir, n);
}

static void *tracer_thread(void *arg)
{
	struct emu_core *core = &state.daemon.core;
	struct progress p = {.name = "tracer", .min = 9};
	for (unsigned n = 0; keep_going(&p); n = ++p.done) {
		if (n % 3 == 2) {
			core_trace_stop(core, NULL);
		} else {
			/* Mostly the null device, which costs the writer no I/O; a
			 * file now and then, whose lines are checked at the end. */
			char path[128];
			if (n % 9 != 1)
				snprintf(path, sizeof(path), "/dev/null");
			else
				trace_file(atomic_fetch_add(&state.trace_files, 1), path,
					   sizeof(path));
			struct diag_list diags = {0};
			struct trace *trace = trace_open(path, &diags);
			diag_free(&diags);
			if (!trace) {
				fail("tracer: %s: cannot start a transcript", path);
				break;
			}
			core_trace_start(core, trace);
		}
		atomic_fetch_add(&state.traces, 1);
	}
	reach(&p);
	return NULL;
}

/* One request to control.c, as mshvctl sends it; its reply in REPLY. */
static bool request(const char *const *args, char *reply, size_t size)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/control.sock", state.dir);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		fail("control: %s: connect: %s", addr.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	char text[1024] = "";
	for (const char *const *a = args; *a; a++) {
		strncat(text, *a, sizeof(text) - strlen(text) - 2);
		strcat(text, "\n");
	}
	strcat(text, "\n");
	size_t used = 0;
	bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	while (ok && used + 1 < size) {
		ssize_t got = read(fd, reply + used, size - 1 - used);
		if (got <= 0)
			break;
		used += (size_t)got;
	}
	reply[used] = '\0';
	close(fd);
	atomic_fetch_add(&state.requests, 1);
	return ok;
}

static void expect_reply(const char *const *args, const char *first)
{
	char reply[16384];
	if (!request(args, reply, sizeof(reply)))
		return;
	size_t len = strlen(first);
	if (strncmp(reply, first, len) || reply[len] != '\n')
		fail("control: `%s%s%s` answered `%.200s`, not %s", args[0], args[1] ? " " : "",
		     args[1] ? args[1] : "", reply, first);
	/* --json: one object, whole. */
	if (!strcmp(args[0], "--json") && !strcmp(first, "ok")) {
		const char *body = reply + len + 1;
		size_t n = strlen(body);
		if (body[0] != '{' || n < 2 || strcmp(body + n - 2, "}\n"))
			fail("control: `--json %s` is not one JSON object: %.200s", args[1], body);
	}
}

static void *control_thread(void *arg)
{
	struct progress p = {.name = "control", .min = 24};
	for (unsigned n = 0; keep_going(&p); n = ++p.done) {
		char rule[128], file[128];
		switch (n % 12) {
		case 0:
			expect_reply((const char *[]){"status", NULL}, "ok");
			break;
		case 1:
			expect_reply((const char *[]){"--json", "stats", NULL}, "ok");
			break;
		case 2:
			expect_reply(
				(const char *[]){"reload", state.files[n / 12 % POLICIES], NULL},
				"ok");
			break;
		case 3:
			expect_reply((const char *[]){"fault", "enable", "toggled", NULL}, "ok");
			break;
		case 4:
			snprintf(rule, sizeof(rule),
				 "{name: ctl-%u, match: {ioctl: 0x%08X}, action: {errno: EIO}}", n,
				 (unsigned)MSHV_NEGOTIATED_CHECK_EXTENSION);
			{
				/* ok, or error once CORE_MAX_INJECTED are armed */
				char reply[4096];
				request((const char *[]){"inject", rule, NULL}, reply,
					sizeof(reply));
				if (strncmp(reply, "ok\n", 3) && !strstr(reply, "armed already"))
					fail("control: inject answered `%.200s`", reply);
			}
			break;
		case 5:
			trace_file(atomic_fetch_add(&state.trace_files, 1), file, sizeof(file));
			expect_reply((const char *[]){"trace", "start", file, NULL}, "ok");
			break;
		case 6:
			expect_reply((const char *[]){"--json", "status", NULL}, "ok");
			break;
		case 7:
			expect_reply((const char *[]){"fault", "disable", "toggled", NULL}, "ok");
			break;
		case 8:
			expect_reply((const char *[]){"release", NULL}, "ok");
			break;
		case 9:
			expect_reply((const char *[]){"trace", "stop", NULL}, "ok");
			break;
		case 10:
			expect_reply((const char *[]){"stats", NULL}, "ok");
			break;
		default:
			/* The file a reload reads is the last one `reload FILE` named. */
			kill(getpid(), SIGHUP);
			atomic_fetch_add(&state.sighups, 1);
			break;
		}
	}
	return NULL;
}

/* ---- a round ---- */

static bool write_file(const char *path, const char *text)
{
	FILE *file = fopen(path, "w");
	if (!file || fputs(text, file) == EOF || fclose(file) != 0) {
		fprintf(stderr, "stress: %s: %s\n", path, strerror(errno));
		return false;
	}
	return true;
}

/* Every transcript line a whole JSON object: no torn record, no line cut
 * by a stop.  Removes the files. */
static void check_transcripts(void)
{
	unsigned count = atomic_load(&state.trace_files);
	for (unsigned n = 0; n < count; n++) {
		char path[128], line[4096];
		trace_file(n, path, sizeof(path));
		FILE *file = fopen(path, "r");
		if (!file) {
			fail("%s: %s", path, strerror(errno));
			continue;
		}
		unsigned number = 0;
		while (fgets(line, sizeof(line), file)) {
			size_t len = strlen(line);
			number++;
			if (line[0] != '{' || len < 3 || strcmp(line + len - 2, "}\n")) {
				fail("%s:%u:1: not a whole JSON object: %.120s", path, number,
				     line);
				break;
			}
		}
		fclose(file);
		unlink(path);
	}
}

static bool run_round(unsigned number)
{
	memset(&state, 0, sizeof(state));
	snprintf(state.dir, sizeof(state.dir), "/tmp/mshv-stress-XXXXXX");
	if (!mkdtemp(state.dir)) {
		fprintf(stderr, "stress: mkdtemp /tmp/mshv-stress-*: %s\n", strerror(errno));
		return false;
	}
	for (unsigned p = 0; p < POLICIES; p++) {
		snprintf(state.files[p], sizeof(state.files[p]), "%s/policy-%u.yaml", state.dir, p);
		if (!write_file(state.files[p], policy_texts[p]))
			return false;
	}
	queue_init(&state.held);
	queue_init(&state.reap);

	/* Serve as the daemon does (main.c, mshv-emu-run's device). */
	struct daemon *d = &state.daemon;
	struct policy_snapshot *first = load(number % POLICIES);
	if (!first)
		return false;
	d->uid = geteuid();
	d->front = "stress";
	d->held_count = held_count;
	d->release_held = release_held;
	d->node_path = node_path;
	d->policy_path = strdup(state.files[number % POLICIES]);
	pthread_mutex_init(&d->reload_lock, NULL);
	core_init(&d->core, first);
	struct emu_call opened = {0};
	core_open(&d->core, &state.shared, &opened);
	char socket_path[128];
	snprintf(socket_path, sizeof(socket_path), "%s/control.sock", state.dir);
	if (daemon_reloader_start(d) != 0 || control_start(d, socket_path, (gid_t)-1) != 0) {
		fprintf(stderr, "stress: cannot start the reload or the control thread\n");
		return false;
	}

	struct caller callers[CALLERS];
	pthread_t caller_threads[CALLERS], holder, reaper, changers[5];
	void *(*changer_starts[5])(void *) = {publisher_thread, faults_thread, tracer_thread,
					      control_thread, NULL};
	for (unsigned i = 0; i < CALLERS; i++) {
		struct caller *c = &callers[i];
		*c = (struct caller){.index = i, .vanishing = i >= LEGACY_THREADS + ROOT_THREADS};
		snprintf(c->name, sizeof(c->name), "%s %u",
			 c->vanishing	      ? "vanisher"
			 : i < LEGACY_THREADS ? "legacy"
					      : "root",
			 i);
		c->caller = (struct emu_caller){
			.pid = (int32_t)(c->vanishing ? 900000 + i : 800000 + i),
			.uid = c->vanishing ? VANISHER_UID : 0,
			.get_comm = comm_of,
		};
		c->transport = c->vanishing ? (struct emu_transport){.read = gone_read,
								     .write = gone_write,
								     .install = gone_install}
					    : (struct emu_transport){.read = t_read,
								     .write = t_write,
								     .install = t_install};
	}
	pthread_create(&holder, NULL, holder_thread, NULL);
	pthread_create(&reaper, NULL, reaper_thread, NULL);
	for (unsigned i = 0; changer_starts[i]; i++)
		pthread_create(&changers[i], NULL, changer_starts[i], NULL);
	for (unsigned i = 0; i < CALLERS; i++)
		pthread_create(&caller_threads[i], NULL, caller_thread, &callers[i]);

	for (unsigned i = 0; i < CALLERS; i++)
		pthread_join(caller_threads[i], NULL);
	for (unsigned i = 0; changer_starts[i]; i++)
		pthread_join(changers[i], NULL);
	queue_close(&state.held);
	pthread_join(holder, NULL);
	queue_close(&state.reap);
	pthread_join(reaper, NULL);

	/* Stop as the daemon does, then account for every fd. */
	control_stop();
	daemon_reloader_stop(d);
	struct handoff *left = atomic_exchange(&state.handoff, NULL);
	if (left) {
		core_release(&d->core, left->vp, NULL);
		free(left);
	}
	core_release(&d->core, &state.shared, NULL);
	core_trace_stop(&d->core, NULL);
	unsigned long open = atomic_load(&d->core.sessions_open),
		      objects = atomic_load(&d->core.objects_open);
	if (open || objects)
		fail("round %u: %lu device sessions and %lu objects still open after every fd "
		     "was closed",
		     number, open, objects);
	if (atomic_load(&state.shared_versions) > 1)
		fail("round %u: %u REQUEST_VERSIONs on one fd succeeded; the fd locks at the "
		     "first",
		     number, atomic_load(&state.shared_versions));
	check_transcripts();
	core_fini(&d->core);
	free(d->policy_path);
	pthread_mutex_destroy(&d->reload_lock);
	for (unsigned p = 0; p < POLICIES; p++)
		unlink(state.files[p]);
	rmdir(state.dir);

	printf("round %u: %lu calls (%lu capability answers, %lu partitions, %lu VPs), %lu held "
	       "(%lu interrupted), %lu orphaned objects; %lu publishes, %lu fault switches, "
	       "%lu injected, %lu transcript changes, %lu control requests, %lu SIGHUPs; the last "
	       "to do its share: %s\n",
	       number, atomic_load(&state.calls), atomic_load(&state.successes_legacy),
	       atomic_load(&state.successes_root), atomic_load(&state.vps),
	       atomic_load(&state.held_calls), atomic_load(&state.interrupted),
	       atomic_load(&state.orphans), atomic_load(&state.publishes),
	       atomic_load(&state.toggles), atomic_load(&state.injects), atomic_load(&state.traces),
	       atomic_load(&state.requests), atomic_load(&state.sighups), state.last);
	fflush(stdout);
	return true;
}

/* ---- the policies, checked alone first ---- */

/*
 * Before any thread: each generation's sequence, on a core of its own, with
 * nothing else running must succeed.  Otherwise every call above could be
 * refused for a reason the lists allow, and the stress would test nothing.
 */
static bool calibrate(void)
{
	struct caller legacy = {
		.name = "calibration",
		.caller = {.pid = 1, .get_comm = comm_of},
		.transport = {.read = t_read, .write = t_write, .install = t_install}};
	struct caller root = legacy;
	bool ok = true;
	for (unsigned p = 0; p < POLICIES && ok; p++) {
		memset(&state, 0, sizeof(state));
		snprintf(state.files[p], sizeof(state.files[p]), "policy-%u.yaml", p);
		struct policy_snapshot *snap = load(p);
		if (!snap)
			return false;
		core_init(&state.daemon.core, snap);
		struct emu_session *s = open_device(&legacy, NULL);
		ok = s != NULL;
		if (s && p % 2 == 0) {
			ok = request_version(&legacy, s, 2, NULL) == 0 &&
			     check_extension(&legacy, s, 1, NULL) == policy_values[p] &&
			     check_extension(&legacy, s, 2, NULL) == policy_values[p];
		} else if (s) {
			uint64_t value;
			int fd = create_partition(&root, s, 0xF);
			ok = get_property(&root, s, MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH,
					  &value, NULL) == 0 &&
			     value == (uint64_t)policy_values[p] && object_at(&root, fd);
			if (object_at(&root, fd))
				close_fd(&root, fd);
		}
		if (s)
			close_device(&legacy, s);
		core_fini(&state.daemon.core);
		if (!ok)
			fprintf(stderr,
				"stress: policy %u: its own generation's calls failed with nothing "
				"else running; the stress's expectations are wrong\n",
				p);
	}
	return ok;
}

static void sighup_noop(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *end;
		unsigned long n = i + 1 < argc ? strtoul(argv[i + 1], &end, 10) : 0;
		bool number = i + 1 < argc && *argv[i + 1] && !*end && n > 0 && n < 1000000;
		if (!strcmp(argv[i], "--rounds") && number)
			rounds = (unsigned)n;
		else if (!strcmp(argv[i], "--iterations") && number)
			iterations = (unsigned)n;
		else {
			fprintf(stderr, "usage: stress [--rounds N] [--iterations N]\n");
			return 2;
		}
		i++;
	}
	for (unsigned p = 0; p < POLICIES; p++)
		snprintf(policy_texts[p], sizeof(policy_texts[p]),
			 p % 2 ? MICROSOFT_POLICY : NEGOTIATED_POLICY, policy_values[p],
			 policy_values[p]);
	emu_log_name = "stress (daemon log)";
	/* SIGHUP as mshv-emu takes it: blocked everywhere, sigwait'ed by
	 * daemon.c's thread, a no-op should it land anywhere else. */
	struct sigaction hup = {.sa_handler = sighup_noop};
	sigemptyset(&hup.sa_mask);
	sigaction(SIGHUP, &hup, NULL);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!calibrate())
		return 1;
	for (unsigned r = 0; r < rounds; r++)
		if (!run_round(r))
			return 1;
	unsigned failed = atomic_load(&failures);
	if (failed) {
		fprintf(stderr, "stress: %u answers or counts were wrong (the first 20 above)\n",
			failed);
		return 1;
	}
	printf("stress: %u round%s of %u iterations per caller, every answer valid\n", rounds,
	       rounds == 1 ? "" : "s", iterations);
	return 0;
}
