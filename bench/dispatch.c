/*
 * dispatch.c - bench-dispatch: what one ioctl costs inside the core.
 *
 * Drives core_ioctl directly, in process, as a front end does once it has
 * decoded a request, and reports nanoseconds per call for:
 *   request_version          REQUEST_VERSION locking a fresh session (the
 *                            session is reset before every call, inside the
 *                            timed loop: that is what the RFC's lock costs)
 *   request_version_refused  REQUEST_VERSION on a locked session: -EBADFD
 *   check_extension          CHECK_EXTENSION of a supported capability
 *   root_hvcall_property     MSHV_ROOT_HVCALL GET_PARTITION_PROPERTY (0x44)
 *                            of PROCESSOR_FEATURES0, 8 bytes out, as
 *                            mshv-ioctls' create_vm sends it, on a
 *                            microsoft-profile device fd
 *   root_hvcall_property_ex  GET_PARTITION_PROPERTY_EX (0x101) of
 *                            VMM_CAPABILITIES, as get_vmm_caps sends it:
 *                            its 4072-byte output buffer is written whole,
 *                            as the driver copies out_sz bytes
 * The root cases read their input and write their output through an
 * in-process transport (memcpy), so the time is the core's; they run as
 * baseline only (the storm, transcript and fault variants measure the
 * dispatch path the negotiation cases share with them).
 * on one thread and on two (each its own session, one core), each as
 * baseline, under a reload storm (core_publish of pre-built snapshots from
 * another thread), with the transcript on, and with 100 fault rules that
 * never match.  The floor is an empty call through a function pointer with
 * core_ioctl's arguments.
 *
 * Every round runs one batch of every configuration (in a rotating order),
 * so the noise of a shared machine lands on all of them alike.  Results go
 * to stdout as JSON Lines, one per configuration and then the ratios; a
 * table goes to stderr.
 *
 * Worker i is pinned to the i-th CPU it may use and the storm thread to the
 * last (--no-pin: none is): left to the scheduler, the storm thread often
 * wakes on the CPU of the one busy worker, preempts it inside its read
 * section, and core_publish's grace period then sleeps 10 ms (urcu-bp polls
 * when a reader stays active), so the storm misses its rate even with a CPU
 * idle.  With two workers on two CPUs no CPU is free for the storm, and its
 * achieved rate says so.
 *
 * It does not: go through the kernel, CUSE or FUSE (bench-client does);
 * change scheduling policy or priority; judge the numbers against a target.
 * It does exit 1 when a call answers other than the policy says, because
 * then it has timed the wrong path.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"

#include "core.h"

#define BENCH_THREADS	    2
#define NS_PER_SEC	    UINT64_C(1000000000)
#define DEFAULT_ROUNDS	    51
#define QUICK_ROUNDS	    5
#define DEFAULT_BATCH_NS    (10 * UINT64_C(1000000)) /* a batch: ~10 ms */
#define QUICK_BATCH_NS	    (2 * UINT64_C(1000000))
#define DEFAULT_RELOAD_RATE 2000 /* publishes per second; the issue asks >= 1,000 */
#define WARM_UP_CALLS	    20000
#define FAULT_RULES	    100
#define REQUESTED_VERSION   2
#define SUPPORTED_CAP	    1
#define SUPPORTED_CAP_VALUE 1

/* The policy every configuration serves; the fault variant appends rules. */
#define POLICY_TEXT                               \
	"profile: negotiated\nversions: [1, 2]\n" \
	"capabilities: [{name: A, id: 1, value: 1}, {name: B, id: 2, value: 2}]\n"

/* An ioctl number the benchmark never calls: _IOW(0xB8, 0xF0, __u32). */
#define NOMATCH_CMD "0x4004B8F0"

#define REQUEST_VERSION_NOTE                                                        \
	"each timed call is preceded by atomic_store(&session.negotiated, "         \
	"MSHV_VERSION_UNSET) (a seq_cst store: xchg on x86), counted in the time, " \
	"so every call locks a fresh version"

enum bench_case {
	CASE_EMPTY_CALL,
	CASE_REQUEST_VERSION,
	CASE_REQUEST_VERSION_REFUSED,
	CASE_CHECK_EXTENSION,
	CASE_ROOT_HVCALL,
	CASE_ROOT_HVCALL_EX,
	CASE_COUNT
};

static const char *const case_names[CASE_COUNT] = {
	[CASE_EMPTY_CALL] = "empty_call",
	[CASE_REQUEST_VERSION] = "request_version",
	[CASE_REQUEST_VERSION_REFUSED] = "request_version_refused",
	[CASE_CHECK_EXTENSION] = "check_extension",
	[CASE_ROOT_HVCALL] = "root_hvcall_property",
	[CASE_ROOT_HVCALL_EX] = "root_hvcall_property_ex",
};

enum bench_variant {
	VARIANT_FLOOR,
	VARIANT_BASELINE,
	VARIANT_RELOAD_STORM,
	VARIANT_TRACE_ON,
	VARIANT_FAULTS,
	VARIANT_COUNT
};

static const char *const variant_names[VARIANT_COUNT] = {
	[VARIANT_FLOOR] = "floor",
	[VARIANT_BASELINE] = "baseline",
	[VARIANT_RELOAD_STORM] = "reload_storm",
	[VARIANT_TRACE_ON] = "trace_on",
	[VARIANT_FAULTS] = "faults_100_nomatch",
};

/* The fault variant's policy differs from the negotiation cases' one; the
 * root case serves a root-driver profile of its own. */
enum bench_core {
	CORE_PLAIN,
	CORE_FAULTS,
	CORE_ROOT,
	CORE_COUNT
};

/* The root cases' policy and what it answers them. */
#define ROOT_POLICY_TEXT                                                            \
	"profile: microsoft\nhypervisor:\n"                                         \
	"  vmm_capabilities: [map_gpa_preserve_adjustable, vp_affinity_property]\n" \
	"  properties:\n    - {name: PROCESSOR_FEATURES0, value: 0x00F1FFFF7FFFFFFF}\n"
#define ROOT_FEATURES0	UINT64_C(0x00F1FFFF7FFFFFFF)
#define ROOT_CAPS_BANK0 ((UINT64_C(1) << 0) | (UINT64_C(1) << 2))

static bool case_is_root(int bench_case)
{
	return bench_case == CASE_ROOT_HVCALL || bench_case == CASE_ROOT_HVCALL_EX;
}

struct bench_config {
	enum bench_case bench_case;
	enum bench_variant variant;
	unsigned threads;
	unsigned long calls_per_batch; /* per thread */
	unsigned batches;
	double *thread_ns;   /* [batch * threads + thread]: ns per call */
	double *batch_ns;    /* [batch]: mean over threads, paired by round */
	double *calls_per_s; /* [batch]: every thread's calls over the batch's span */
	uint64_t reloads, reload_ns, starved;
	uint64_t dropped, traced_calls;
};

/* One root case's buffers, per worker: the header stays as the caller wrote
 * it (the core writes the answer's copy to OUT, as a front end's reply). */
struct root_args {
	struct mshv_root_hvcall header;
	struct mshv_root_hvcall header_out;
	struct mshv_emu_hv_get_property_ex_in in;
	uint8_t output[MSHV_EMU_HV_PROPERTY_EX_OUT_SIZE];
};

struct bench;

/* Aligned so that no two workers share a cache line (or an adjacent-line
 * prefetch pair): contention measured is the core's, not this file's. */
struct bench_worker {
	_Alignas(128) struct bench *bench;
	unsigned index;
	pthread_t thread;
	/* Per core: a session REQUEST_VERSION re-locks, and one locked at
	 * REQUESTED_VERSION for the refused request and CHECK_EXTENSION. */
	struct emu_session fresh[CORE_COUNT];
	struct emu_session locked[CORE_COUNT];
	struct root_args root[2]; /* CASE_ROOT_HVCALL, CASE_ROOT_HVCALL_EX */
	uint64_t start_ns, end_ns;
	int64_t result_sum;
	bool warm_up_failed;
};

/*
 * The reload storm: a thread publishing pre-built snapshots at a steady
 * rate while one batch runs.  The pool is refilled by the main thread only
 * while the storm is idle; core_publish frees each snapshot it replaces.
 */
struct storm {
	struct emu_core *core;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int cpu;		 /* pinned to it; -1: not pinned */
	bool run, running, quit; /* under lock */
	_Atomic bool stop;
	uint64_t period_ns;
	struct policy_snapshot **pool;
	unsigned pool_size, pool_next, pool_fill;
	uint64_t published, starved, active_ns; /* the last storm's, under lock */
};

struct bench {
	struct emu_core cores[CORE_COUNT];
	struct bench_worker workers[BENCH_THREADS];
	pthread_barrier_t go, done;
	const struct bench_config *job; /* NULL with quit: workers leave */
	unsigned long job_calls;
	bool quit;
	_Atomic unsigned start_line;
	struct storm storm;
	const char *trace_path;
	int worker_cpu[BENCH_THREADS]; /* -1: not pinned */
};

struct options {
	unsigned rounds;
	uint64_t batch_ns;
	unsigned reload_rate;
	const char *trace_path;
	bool quick;
	bool pin;
};

typedef int (*ioctl_handler)(struct emu_core *core, struct emu_session *session,
			     struct emu_call *call);

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Pin the calling thread to CPU; false if it cannot be (it runs anywhere). */
static bool pin_self(int cpu)
{
	cpu_set_t set;
	if (cpu < 0)
		return false;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

static void *xcalloc(size_t count, size_t size)
{
	void *memory = calloc(count ? count : 1, size);
	if (!memory) {
		fprintf(stderr, "bench-dispatch: out of memory\n");
		abort();
	}
	return memory;
}

/* ---- the timed loops --------------------------------------------------- */

/* The floor: what calling anything with core_ioctl's arguments costs. */
static __attribute__((noinline)) int empty_ioctl(struct emu_core *core, struct emu_session *session,
						 struct emu_call *call)
{
	return 0;
}

/* volatile: the loop loads the target, so the compiler can neither inline
 * the empty function nor drop the call. */
static ioctl_handler volatile floor_target = empty_ioctl;

static __attribute__((noinline)) int64_t loop_floor(struct emu_core *core,
						    struct emu_session *session,
						    struct emu_call *call, unsigned long calls)
{
	ioctl_handler handler = floor_target;
	int64_t sum = 0;
	for (unsigned long i = 0; i < calls; i++)
		sum += handler(core, session, call);
	return sum;
}

static __attribute__((noinline)) int64_t loop_request_version(struct emu_core *core,
							      struct emu_session *session,
							      struct emu_call *call,
							      unsigned long calls)
{
	int64_t sum = 0;
	for (unsigned long i = 0; i < calls; i++) {
		atomic_store(&session->negotiated, MSHV_VERSION_UNSET);
		sum += core_ioctl(core, session, call);
	}
	return sum;
}

static __attribute__((noinline)) int64_t loop_ioctl(struct emu_core *core,
						    struct emu_session *session,
						    struct emu_call *call, unsigned long calls)
{
	int64_t sum = 0;
	for (unsigned long i = 0; i < calls; i++)
		sum += core_ioctl(core, session, call);
	return sum;
}

/* The caller's memory is this process's: what an in-process transport is. */
static int local_read(struct emu_transport *transport, uint64_t addr, void *buf, size_t len)
{
	memcpy(buf, (const void *)(uintptr_t)addr, len);
	return 0;
}

static int local_write(struct emu_transport *transport, uint64_t addr, const void *buf, size_t len)
{
	memcpy((void *)(uintptr_t)addr, buf, len);
	return 0;
}

static struct emu_transport local_transport = {.read = local_read, .write = local_write};

static void root_args_init(struct root_args *args, enum bench_case bench_case)
{
	bool ex = bench_case == CASE_ROOT_HVCALL_EX;
	memset(args, 0, sizeof(*args));
	args->in.partition_id = MSHV_EMU_HV_PARTITION_ID_SELF;
	args->in.property_code = ex ? MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES
				    : MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0;
	args->header = (struct mshv_root_hvcall){
		.code = ex ? MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY_EX
			   : MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
		.in_sz = ex ? sizeof(struct mshv_emu_hv_get_property_ex_in)
			    : sizeof(struct mshv_emu_hv_get_property_in),
		.out_sz = ex ? MSHV_EMU_HV_PROPERTY_EX_OUT_SIZE : sizeof(uint64_t),
		.in_ptr = (uintptr_t)&args->in,
		.out_ptr = (uintptr_t)args->output,
	};
}

/* The value a root case's output holds after a call, as the caller reads it. */
static bool root_answer_right(const struct root_args *args, enum bench_case bench_case)
{
	uint64_t word;
	memcpy(&word, args->output + (bench_case == CASE_ROOT_HVCALL_EX ? 8 : 0), sizeof(word));
	return args->header_out.status == 0 &&
	       word == (bench_case == CASE_ROOT_HVCALL_EX ? ROOT_CAPS_BANK0 : ROOT_FEATURES0);
}

/* What every call of CASE answers, so a batch's sum tells a wrong path. */
static int expected_result(enum bench_case bench_case)
{
	switch (bench_case) {
	case CASE_REQUEST_VERSION_REFUSED:
		return -EBADFD;
	case CASE_CHECK_EXTENSION:
		return SUPPORTED_CAP_VALUE;
	default:
		return 0;
	}
}

static uint32_t case_cmd(enum bench_case bench_case)
{
	return case_is_root(bench_case)		    ? MSHV_ROOT_HVCALL
	       : bench_case == CASE_CHECK_EXTENSION ? MSHV_NEGOTIATED_CHECK_EXTENSION
						    : MSHV_REQUEST_VERSION;
}

/* One batch of CASE on this thread; returns the sum of the answers. */
static int64_t worker_loop(struct bench_worker *worker, enum bench_case bench_case,
			   enum bench_core core_index, unsigned long calls)
{
	struct emu_core *core = &worker->bench->cores[core_index];
	uint32_t value = bench_case == CASE_CHECK_EXTENSION ? SUPPORTED_CAP : REQUESTED_VERSION;
	struct emu_call call = {
		.cmd = case_cmd(bench_case), .in = &value, .in_size = sizeof(value)};
	if (case_is_root(bench_case)) {
		struct root_args *args = &worker->root[bench_case == CASE_ROOT_HVCALL_EX];
		call.arg = (uintptr_t)&args->header;
		call.in = &args->header;
		call.in_size = sizeof(args->header);
		call.out = &args->header_out;
		call.out_size = sizeof(args->header_out);
		call.transport = &local_transport;
	}

	switch (bench_case) {
	case CASE_EMPTY_CALL:
		return loop_floor(core, &worker->locked[core_index], &call, calls);
	case CASE_REQUEST_VERSION:
		return loop_request_version(core, &worker->fresh[core_index], &call, calls);
	default:
		return loop_ioctl(core, &worker->locked[core_index], &call, calls);
	}
}

/* ---- worker threads ---------------------------------------------------- */

/*
 * Open and lock this thread's sessions and run every case on every core
 * once: urcu-bp registers a reader on its first read section, and the
 * first calls fault in the snapshot's pages.
 */
static void worker_warm_up(struct bench_worker *worker)
{
	struct emu_call open_call = {0};
	for (unsigned core_index = 0; core_index < CORE_COUNT; core_index++) {
		struct emu_core *core = &worker->bench->cores[core_index];
		uint32_t version = REQUESTED_VERSION;
		struct emu_call request = {
			.cmd = MSHV_REQUEST_VERSION, .in = &version, .in_size = sizeof(version)};
		bool root = core_index == CORE_ROOT; /* a device fd: no version to lock */
		if (core_open(core, &worker->fresh[core_index], &open_call) ||
		    core_open(core, &worker->locked[core_index], &open_call) ||
		    (!root && core_ioctl(core, &worker->locked[core_index], &request))) {
			worker->warm_up_failed = true;
			return;
		}
		for (int bench_case = 0; bench_case < CASE_COUNT; bench_case++) {
			if (bench_case != CASE_EMPTY_CALL && case_is_root(bench_case) != root)
				continue;
			int64_t sum = worker_loop(worker, bench_case, core_index, WARM_UP_CALLS);
			if (sum != (int64_t)expected_result(bench_case) * WARM_UP_CALLS ||
			    (case_is_root(bench_case) &&
			     !root_answer_right(&worker->root[bench_case == CASE_ROOT_HVCALL_EX],
						bench_case)))
				worker->warm_up_failed = true;
		}
	}
}

static void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void worker_batch(struct bench_worker *worker, const struct bench_config *config,
			 unsigned long calls)
{
	struct bench *bench = worker->bench;
	enum bench_core core_index = case_is_root(config->bench_case)	 ? CORE_ROOT
				     : config->variant == VARIANT_FAULTS ? CORE_FAULTS
									 : CORE_PLAIN;
	/* A start line, so the threads of a batch run at the same time: the
	 * barrier's wake-ups can be a scheduler tick apart on a busy VM. */
	atomic_fetch_add(&bench->start_line, 1);
	while (atomic_load_explicit(&bench->start_line, memory_order_acquire) < config->threads)
		spin_pause();
	worker->start_ns = monotonic_ns();
	worker->result_sum = worker_loop(worker, config->bench_case, core_index, calls);
	worker->end_ns = monotonic_ns();
}

static void *worker_run(void *arg)
{
	struct bench_worker *worker = arg;
	struct bench *bench = worker->bench;
	pin_self(bench->worker_cpu[worker->index]);
	worker_warm_up(worker);
	pthread_barrier_wait(&bench->done);
	for (;;) {
		pthread_barrier_wait(&bench->go);
		if (bench->quit)
			break;
		if (worker->index < bench->job->threads)
			worker_batch(worker, bench->job, bench->job_calls);
		pthread_barrier_wait(&bench->done);
	}
	for (unsigned core_index = 0; core_index < CORE_COUNT && !worker->warm_up_failed;
	     core_index++) {
		core_release(&bench->cores[core_index], &worker->fresh[core_index], NULL);
		core_release(&bench->cores[core_index], &worker->locked[core_index], NULL);
	}
	return NULL;
}

/* ---- policies ---------------------------------------------------------- */

static struct policy_snapshot *policy_from_text(const char *name, const char *text)
{
	struct diag_list diags = {0};
	struct policy_snapshot *snap = policy_load_buffer(name, text, strlen(text), &diags);
	if (!snap)
		diag_print(&diags, stderr);
	diag_free(&diags);
	return snap;
}

/* The policy plus FAULT_RULES rules on an ioctl nobody calls. */
static struct policy_snapshot *policy_with_faults(void)
{
	const size_t size = sizeof(POLICY_TEXT) + 32 + FAULT_RULES * 128;
	char *text = xcalloc(size, 1);
	size_t len = (size_t)snprintf(text, size, "%sfaults:\n  rules:\n", POLICY_TEXT);
	for (unsigned i = 0; i < FAULT_RULES && len < size; i++)
		len += (size_t)snprintf(text + len, size - len,
					"    - {name: nomatch-%03u, match: {ioctl: " NOMATCH_CMD
					"}, action: {errno: EIO}}\n",
					i);
	struct policy_snapshot *snap = len < size ? policy_from_text("faults.yaml", text) : NULL;
	free(text);
	if (snap && snap->fault_count != FAULT_RULES) {
		fprintf(stderr, "bench-dispatch: faults.yaml: %u rules loaded, want %u\n",
			snap->fault_count, FAULT_RULES);
		policy_free(snap);
		snap = NULL;
	}
	return snap;
}

/* ---- the reload storm -------------------------------------------------- */

static void sleep_until(uint64_t deadline_ns)
{
	struct timespec ts = {.tv_sec = (time_t)(deadline_ns / NS_PER_SEC),
			      .tv_nsec = (long)(deadline_ns % NS_PER_SEC)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void *storm_run(void *arg)
{
	struct storm *storm = arg;
	pin_self(storm->cpu);
	pthread_mutex_lock(&storm->lock);
	for (;;) {
		while (!storm->run && !storm->quit)
			pthread_cond_wait(&storm->cond, &storm->lock);
		if (storm->quit)
			break;
		storm->running = true;
		pthread_cond_broadcast(&storm->cond);
		pthread_mutex_unlock(&storm->lock);

		uint64_t published = 0, starved = 0, start = monotonic_ns();
		uint64_t deadline = start;
		while (!atomic_load_explicit(&storm->stop, memory_order_acquire)) {
			if (storm->pool_next < storm->pool_fill) {
				core_publish(storm->core, storm->pool[storm->pool_next]);
				storm->pool[storm->pool_next++] = NULL;
				published++;
			} else {
				starved++;
			}
			/* Absolute deadlines: a late wake-up is caught up, so
			 * the rate holds on average. */
			deadline += storm->period_ns;
			if (deadline > monotonic_ns())
				sleep_until(deadline);
		}
		uint64_t end = monotonic_ns();

		pthread_mutex_lock(&storm->lock);
		storm->published = published;
		storm->starved = starved;
		storm->active_ns = end - start;
		storm->run = false;
		storm->running = false;
		pthread_cond_broadcast(&storm->cond);
	}
	pthread_mutex_unlock(&storm->lock);
	return NULL;
}

/* Top the pool up while the storm is idle.  Returns false if a snapshot
 * does not load (the diagnostics are printed). */
static bool storm_refill(struct storm *storm)
{
	unsigned left = storm->pool_fill - storm->pool_next;
	memmove(storm->pool, storm->pool + storm->pool_next, left * sizeof(*storm->pool));
	storm->pool_next = 0;
	storm->pool_fill = left;
	while (storm->pool_fill < storm->pool_size) {
		struct policy_snapshot *snap = policy_from_text("storm.yaml", POLICY_TEXT);
		if (!snap)
			return false;
		storm->pool[storm->pool_fill++] = snap;
	}
	return true;
}

static bool storm_begin(struct storm *storm)
{
	if (!storm_refill(storm))
		return false;
	atomic_store(&storm->stop, false);
	pthread_mutex_lock(&storm->lock);
	storm->run = true;
	pthread_cond_broadcast(&storm->cond);
	while (!storm->running)
		pthread_cond_wait(&storm->cond, &storm->lock);
	pthread_mutex_unlock(&storm->lock);
	return true;
}

static void storm_end(struct storm *storm, struct bench_config *config)
{
	atomic_store(&storm->stop, true);
	pthread_mutex_lock(&storm->lock);
	while (storm->run)
		pthread_cond_wait(&storm->cond, &storm->lock);
	if (config) {
		config->reloads += storm->published;
		config->reload_ns += storm->active_ns;
		config->starved += storm->starved;
	}
	pthread_mutex_unlock(&storm->lock);
}

static int storm_start(struct storm *storm, struct emu_core *core, unsigned rate, uint64_t batch_ns,
		       int cpu)
{
	storm->core = core;
	storm->cpu = cpu;
	storm->period_ns = NS_PER_SEC / rate;
	/* Enough for a batch eight times longer than planned. */
	uint64_t need = (uint64_t)rate * batch_ns * 8 / NS_PER_SEC + 16;
	storm->pool_size = (unsigned)(need < 64 ? 64 : need);
	storm->pool = xcalloc(storm->pool_size, sizeof(*storm->pool));
	pthread_mutex_init(&storm->lock, NULL);
	pthread_cond_init(&storm->cond, NULL);
	atomic_init(&storm->stop, false);
	return pthread_create(&storm->thread, NULL, storm_run, storm);
}

static void storm_quit(struct storm *storm)
{
	pthread_mutex_lock(&storm->lock);
	storm->quit = true;
	pthread_cond_broadcast(&storm->cond);
	pthread_mutex_unlock(&storm->lock);
	pthread_join(storm->thread, NULL);
	for (unsigned i = storm->pool_next; i < storm->pool_fill; i++)
		policy_free(storm->pool[i]);
	free(storm->pool);
	pthread_mutex_destroy(&storm->lock);
	pthread_cond_destroy(&storm->cond);
}

/* ---- one batch --------------------------------------------------------- */

static bool trace_begin(struct bench *bench)
{
	struct diag_list diags = {0};
	struct trace *trace = trace_open(bench->trace_path, &diags);
	if (!trace)
		diag_print(&diags, stderr);
	diag_free(&diags);
	if (!trace)
		return false;
	core_trace_start(&bench->cores[CORE_PLAIN], trace);
	return true;
}

/*
 * Run one batch of CONFIG with CALLS calls per thread; with RECORD, store
 * it as batch number config->batches.  The variant's set-up (storm,
 * transcript) is outside the threads' timing.  Returns false when set-up
 * fails or an answer is wrong (after saying so on stderr).
 */
static bool run_batch(struct bench *bench, struct bench_config *config, unsigned long calls,
		      bool record)
{
	struct bench_config *stats = record ? config : NULL;
	if (config->variant == VARIANT_RELOAD_STORM && !storm_begin(&bench->storm))
		return false;
	if (config->variant == VARIANT_TRACE_ON && !trace_begin(bench))
		return false;

	bench->job = config;
	bench->job_calls = calls;
	atomic_store(&bench->start_line, 0);
	pthread_barrier_wait(&bench->go);
	pthread_barrier_wait(&bench->done);

	if (config->variant == VARIANT_RELOAD_STORM)
		storm_end(&bench->storm, stats);
	if (config->variant == VARIANT_TRACE_ON) {
		struct trace_counts final;
		core_trace_stop(&bench->cores[CORE_PLAIN], &final);
		if (stats) {
			stats->dropped += final.dropped;
			stats->traced_calls += (uint64_t)calls * config->threads;
		}
	}

	int64_t want = (int64_t)expected_result(config->bench_case) * (int64_t)calls;
	uint64_t first_start = UINT64_MAX, last_end = 0;
	double ns_sum = 0;
	for (unsigned t = 0; t < config->threads; t++) {
		const struct bench_worker *worker = &bench->workers[t];
		if (worker->result_sum != want) {
			fprintf(stderr,
				"bench-dispatch: %s/%s, thread %u: answers sum to %" PRId64
				", want %" PRId64 " (%lu calls answering %d)\n",
				case_names[config->bench_case], variant_names[config->variant], t,
				worker->result_sum, want, calls,
				expected_result(config->bench_case));
			return false;
		}
		double ns = (double)(worker->end_ns - worker->start_ns) / (double)calls;
		if (stats)
			stats->thread_ns[stats->batches * config->threads + t] = ns;
		ns_sum += ns;
		if (worker->start_ns < first_start)
			first_start = worker->start_ns;
		if (worker->end_ns > last_end)
			last_end = worker->end_ns;
	}
	if (stats) {
		stats->batch_ns[stats->batches] = ns_sum / config->threads;
		stats->calls_per_s[stats->batches] = (double)calls * config->threads *
						     (double)NS_PER_SEC /
						     (double)(last_end - first_start);
		stats->batches++;
	}
	return true;
}

/* Calls per batch so that one thread's batch takes about BATCH_NS. */
static bool calibrate(struct bench *bench, struct bench_config *config, uint64_t batch_ns)
{
	unsigned long calls = 1000;
	uint64_t took;
	for (;;) {
		if (!run_batch(bench, config, calls, false))
			return false;
		took = bench->workers[0].end_ns - bench->workers[0].start_ns;
		if (took >= batch_ns / 4 || calls >= (1ul << 30))
			break;
		calls *= 4;
	}
	double want = (double)batch_ns * (double)calls / (double)(took ? took : 1);
	/* Two significant digits, at least 1,000 calls. */
	double step = 1;
	while (want / step >= 100)
		step *= 10;
	unsigned long rounded = (unsigned long)(want / step + 0.5) * (unsigned long)step;
	config->calls_per_batch = rounded < 1000 ? 1000 : rounded;
	return true;
}

/* ---- statistics and output --------------------------------------------- */

struct spread {
	double median, p10, p90;
};

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Linear interpolation between the closest ranks. */
static double percentile(const double *sorted, size_t count, double q)
{
	if (!count)
		return 0;
	double position = q * (double)(count - 1);
	size_t low = (size_t)position;
	if (low + 1 >= count)
		return sorted[count - 1];
	return sorted[low] + (sorted[low + 1] - sorted[low]) * (position - (double)low);
}

/* VALUES[first], VALUES[first + stride], ... COUNT of them. */
static struct spread spread_of(const double *values, size_t count, size_t first, size_t stride)
{
	double *sorted = xcalloc(count, sizeof(*sorted));
	for (size_t i = 0; i < count; i++)
		sorted[i] = values[first + i * stride];
	qsort(sorted, count, sizeof(*sorted), compare_double);
	struct spread spread = {
		.median = percentile(sorted, count, 0.5),
		.p10 = percentile(sorted, count, 0.1),
		.p90 = percentile(sorted, count, 0.9),
	};
	free(sorted);
	return spread;
}

static struct spread config_spread(const struct bench_config *config)
{
	return spread_of(config->thread_ns, (size_t)config->batches * config->threads, 0, 1);
}

static double config_median(const struct bench_config *config)
{
	return config_spread(config).median;
}

static double reload_rate(const struct bench_config *config)
{
	return config->reload_ns
		       ? (double)config->reloads * (double)NS_PER_SEC / (double)config->reload_ns
		       : 0;
}

static void print_config(const struct bench *bench, const struct bench_config *config)
{
	struct spread spread = config_spread(config);
	struct spread rate = spread_of(config->calls_per_s, config->batches, 0, 1);
	printf("{\"suite\":\"dispatch\",\"case\":\"%s\",\"threads\":%u,\"variant\":\"%s\","
	       "\"ns_median\":%.2f,\"ns_p10\":%.2f,\"ns_p90\":%.2f,\"batches\":%u,"
	       "\"calls_per_batch\":%lu,\"calls_per_s\":%.0f,\"pinned\":%s",
	       case_names[config->bench_case], config->threads, variant_names[config->variant],
	       spread.median, spread.p10, spread.p90, config->batches, config->calls_per_batch,
	       rate.median, bench->worker_cpu[0] >= 0 ? "true" : "false");
	if (config->threads > 1) {
		printf(",\"ns_median_by_thread\":[");
		for (unsigned t = 0; t < config->threads; t++)
			printf("%s%.2f", t ? "," : "",
			       spread_of(config->thread_ns, config->batches, t, config->threads)
				       .median);
		printf("]");
	}
	switch (config->variant) {
	case VARIANT_RELOAD_STORM:
		printf(",\"reloads_per_s\":%.0f,\"reloads\":%" PRIu64
		       ",\"reload_target_per_s\":%.0f,\"reload_pool_empty\":%" PRIu64,
		       reload_rate(config), config->reloads,
		       (double)NS_PER_SEC / (double)bench->storm.period_ns, config->starved);
		break;
	case VARIANT_TRACE_ON:
		printf(",\"dropped\":%" PRIu64 ",\"traced_calls\":%" PRIu64 ",\"trace_path\":",
		       config->dropped, config->traced_calls);
		print_json_string(bench->trace_path);
		break;
	case VARIANT_FAULTS:
		printf(",\"fault_rules\":%u,\"fault_cmd\":\"%s\"", FAULT_RULES, NOMATCH_CMD);
		break;
	default:
		break;
	}
	if (config->bench_case == CASE_REQUEST_VERSION)
		printf(",\"note\":\"%s\"", REQUEST_VERSION_NOTE);
	printf("}\n");
}

static struct bench_config *find_config(struct bench_config *configs, unsigned count,
					enum bench_case bench_case, enum bench_variant variant,
					unsigned threads)
{
	for (unsigned i = 0; i < count; i++)
		if (configs[i].bench_case == bench_case && configs[i].variant == variant &&
		    configs[i].threads == threads)
			return &configs[i];
	return NULL;
}

/* NUM's median over DEN's, and the median of their per-round ratios. */
static void print_ratio(const char *name, const struct bench_config *num,
			const struct bench_config *den, enum bench_case bench_case)
{
	unsigned rounds = num->batches < den->batches ? num->batches : den->batches;
	double *paired = xcalloc(rounds, sizeof(*paired));
	for (unsigned r = 0; r < rounds; r++)
		paired[r] = num->batch_ns[r] / den->batch_ns[r];
	struct spread by_round = spread_of(paired, rounds, 0, 1);
	free(paired);
	printf("{\"suite\":\"dispatch\",\"ratio\":\"%s\",\"case\":\"%s\",\"threads\":%u,"
	       "\"value\":%.3f,\"paired_median\":%.3f,\"paired_p10\":%.3f,\"paired_p90\":%.3f}\n",
	       name, case_names[bench_case], num->threads, config_median(num) / config_median(den),
	       by_round.median, by_round.p10, by_round.p90);
}

static const enum bench_variant compared_variants[] = {
	VARIANT_RELOAD_STORM,
	VARIANT_TRACE_ON,
	VARIANT_FAULTS,
};

static void print_ratios(struct bench_config *configs, unsigned count)
{
	char name[64];
	for (int bench_case = CASE_REQUEST_VERSION; bench_case < CASE_COUNT; bench_case++) {
		for (unsigned threads = 1; threads <= BENCH_THREADS; threads++) {
			struct bench_config *base =
				find_config(configs, count, bench_case, VARIANT_BASELINE, threads);
			for (size_t v = 0;
			     !case_is_root(bench_case) &&
			     v < sizeof(compared_variants) / sizeof(*compared_variants);
			     v++) {
				snprintf(name, sizeof(name), "%s/baseline",
					 variant_names[compared_variants[v]]);
				print_ratio(name,
					    find_config(configs, count, bench_case,
							compared_variants[v], threads),
					    base, bench_case);
			}
			print_ratio("baseline/floor", base,
				    find_config(configs, count, CASE_EMPTY_CALL, VARIANT_FLOOR,
						threads),
				    bench_case);
		}
	}
}

static void print_summary(const struct bench *bench, struct bench_config *configs, unsigned count,
			  unsigned rounds)
{
	fprintf(stderr,
		"\nbench-dispatch: %u rounds, %s; ns per call, median over batches (per thread)\n"
		"%-24s %3s %7s %9s %16s %16s %19s %10s\n",
		rounds, bench->worker_cpu[0] >= 0 ? "pinned" : "unpinned", "case", "thr", "floor",
		"baseline", "reload_storm", "trace_on", "faults_100_nomatch", "Mcalls/s");
	for (int bench_case = CASE_REQUEST_VERSION; bench_case < CASE_COUNT; bench_case++) {
		for (unsigned threads = 1; threads <= BENCH_THREADS; threads++) {
			const struct bench_config *base =
				find_config(configs, count, bench_case, VARIANT_BASELINE, threads);
			double base_ns = config_median(base);
			fprintf(stderr, "%-24s %3u %7.2f %9.2f", case_names[bench_case], threads,
				config_median(find_config(configs, count, CASE_EMPTY_CALL,
							  VARIANT_FLOOR, threads)),
				base_ns);
			for (size_t v = 0;
			     !case_is_root(bench_case) &&
			     v < sizeof(compared_variants) / sizeof(*compared_variants);
			     v++) {
				double ns = config_median(find_config(
					configs, count, bench_case, compared_variants[v], threads));
				char cell[32];
				snprintf(cell, sizeof(cell), "%.2f (%+.0f%%)", ns,
					 (ns / base_ns - 1) * 100);
				fprintf(stderr, " %*s", v == 2 ? 19 : 16, cell);
			}
			if (case_is_root(bench_case))
				fprintf(stderr, " %16s %16s %19s", "-", "-", "-");
			fprintf(stderr, " %10.1f\n",
				spread_of(base->calls_per_s, base->batches, 0, 1).median / 1e6);
		}
	}
	for (unsigned threads = 1; threads <= BENCH_THREADS; threads++) {
		uint64_t reloads = 0, reload_ns = 0, starved = 0, dropped = 0, traced = 0;
		for (unsigned i = 0; i < count; i++) {
			if (configs[i].threads != threads)
				continue;
			reloads += configs[i].reloads;
			reload_ns += configs[i].reload_ns;
			starved += configs[i].starved;
			dropped += configs[i].dropped;
			traced += configs[i].traced_calls;
		}
		fprintf(stderr,
			"%u thread%s: reload storm %.0f publishes/s achieved (target %.0f/s; "
			"%" PRIu64 " publishes, pool empty %" PRIu64 " times); transcript "
			"dropped %" PRIu64 " of %" PRIu64 " events (%.1f%%)\n",
			threads, threads == 1 ? "" : "s",
			reload_ns ? (double)reloads * (double)NS_PER_SEC / (double)reload_ns : 0.0,
			(double)NS_PER_SEC / (double)bench->storm.period_ns, reloads, starved,
			dropped, traced, traced ? 100.0 * (double)dropped / (double)traced : 0.0);
	}
	fprintf(stderr, "transcript written to %s\nrequest_version: %s\n", bench->trace_path,
		REQUEST_VERSION_NOTE);
}

/* ---- set-up ------------------------------------------------------------ */

/* Floor on 1 and 2 threads, then every case x variant x thread count. */
static unsigned configs_build(struct bench_config *configs, unsigned rounds)
{
	unsigned count = 0;
	for (unsigned threads = 1; threads <= BENCH_THREADS; threads++)
		configs[count++] = (struct bench_config){.bench_case = CASE_EMPTY_CALL,
							 .variant = VARIANT_FLOOR,
							 .threads = threads};
	for (int bench_case = CASE_REQUEST_VERSION; bench_case < CASE_COUNT; bench_case++)
		for (int variant = VARIANT_BASELINE;
		     variant < (case_is_root(bench_case) ? VARIANT_BASELINE + 1 : VARIANT_COUNT);
		     variant++)
			for (unsigned threads = 1; threads <= BENCH_THREADS; threads++)
				configs[count++] = (struct bench_config){.bench_case = bench_case,
									 .variant = variant,
									 .threads = threads};
	for (unsigned i = 0; i < count; i++) {
		configs[i].thread_ns = xcalloc((size_t)rounds * configs[i].threads, sizeof(double));
		configs[i].batch_ns = xcalloc(rounds, sizeof(double));
		configs[i].calls_per_s = xcalloc(rounds, sizeof(double));
	}
	return count;
}

static void configs_free(struct bench_config *configs, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		free(configs[i].thread_ns);
		free(configs[i].batch_ns);
		free(configs[i].calls_per_s);
	}
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bench-dispatch [--quick] [--rounds N] [--reload-rate N] [--trace-path "
		"PATH]\n"
		"                      [--no-pin]\n"
		"  --quick          a few rounds of short batches (CI smoke, < 3 s)\n"
		"  --rounds N       batches per configuration (default %d, --quick %d)\n"
		"  --reload-rate N  publishes per second during the reload storm (default %d)\n"
		"  --trace-path P   where the transcript variant writes (default /dev/null)\n"
		"  --no-pin         leave the workers and the storm thread to the scheduler\n",
		DEFAULT_ROUNDS, QUICK_ROUNDS, DEFAULT_RELOAD_RATE);
}

static bool parse_count(const char *text, unsigned long max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long value = text ? strtoul(text, &end, 10) : 0;
	if (!text || *text == '-' || *end || errno || value < 1 || value > max)
		return false;
	*out = (unsigned)value;
	return true;
}

/* Returns 0 to run, 1 after --help, 2 on a usage error (said on stderr). */
static int parse_options(int argc, char **argv, struct options *options)
{
	bool rounds_given = false;
	*options = (struct options){
		.rounds = DEFAULT_ROUNDS,
		.batch_ns = DEFAULT_BATCH_NS,
		.reload_rate = DEFAULT_RELOAD_RATE,
		.trace_path = "/dev/null",
		.pin = true,
	};
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (!strcmp(arg, "--quick")) {
			options->quick = true;
		} else if (!strcmp(arg, "--rounds")) {
			if (i + 1 >= argc || !parse_count(argv[++i], 100000, &options->rounds)) {
				fprintf(stderr, "bench-dispatch: --rounds needs a count from 1\n");
				return 2;
			}
			rounds_given = true;
		} else if (!strcmp(arg, "--reload-rate")) {
			if (i + 1 >= argc ||
			    !parse_count(argv[++i], 1000000, &options->reload_rate)) {
				fprintf(stderr,
					"bench-dispatch: --reload-rate needs publishes per second, "
					"1 to 1000000\n");
				return 2;
			}
		} else if (!strcmp(arg, "--no-pin")) {
			options->pin = false;
		} else if (!strcmp(arg, "--trace-path")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "bench-dispatch: --trace-path needs a path\n");
				return 2;
			}
			options->trace_path = argv[++i];
		} else if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			usage(stdout);
			return 1;
		} else {
			fprintf(stderr, "bench-dispatch: unknown argument `%s`\n", arg);
			usage(stderr);
			return 2;
		}
	}
	if (options->quick) {
		options->batch_ns = QUICK_BATCH_NS;
		if (!rounds_given)
			options->rounds = QUICK_ROUNDS;
	}
	return 0;
}

static bool cores_init(struct bench *bench)
{
	struct policy_snapshot *plain = policy_from_text("dispatch.yaml", POLICY_TEXT);
	struct policy_snapshot *faults = policy_with_faults();
	struct policy_snapshot *root = policy_from_text("dispatch-root.yaml", ROOT_POLICY_TEXT);
	if (!plain || !faults || !root) {
		policy_free(plain);
		policy_free(faults);
		policy_free(root);
		return false;
	}
	core_init(&bench->cores[CORE_PLAIN], plain);
	core_init(&bench->cores[CORE_FAULTS], faults);
	core_init(&bench->cores[CORE_ROOT], root);
	return true;
}

/*
 * Worker i on the i-th CPU this process may use, the storm on the last:
 * alone on it when there are more CPUs than workers, else beside the last
 * worker.  Returns the storm's CPU; everything is -1 (unpinned) without PIN
 * or with fewer CPUs than workers.
 */
static int plan_cpus(struct bench *bench, bool pin)
{
	cpu_set_t allowed;
	int cpus[CPU_SETSIZE], count = 0;
	for (unsigned t = 0; t < BENCH_THREADS; t++)
		bench->worker_cpu[t] = -1;
	if (!pin || sched_getaffinity(0, sizeof(allowed), &allowed))
		return -1;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &allowed))
			cpus[count++] = cpu;
	if (count < BENCH_THREADS)
		return -1;
	for (unsigned t = 0; t < BENCH_THREADS; t++)
		bench->worker_cpu[t] = cpus[t];
	return cpus[count - 1];
}

/* Start the workers and wait for their warm-up.  Returns how many started;
 * *WARM is false if one could not open or lock its sessions. */
static unsigned workers_start(struct bench *bench, bool *warm)
{
	unsigned started = 0;
	pthread_barrier_init(&bench->go, NULL, BENCH_THREADS + 1);
	pthread_barrier_init(&bench->done, NULL, BENCH_THREADS + 1);
	for (; started < BENCH_THREADS; started++) {
		struct bench_worker *worker = &bench->workers[started];
		worker->bench = bench;
		worker->index = started;
		if (pthread_create(&worker->thread, NULL, worker_run, worker))
			break;
	}
	*warm = false;
	if (started < BENCH_THREADS)
		return started;
	pthread_barrier_wait(&bench->done);
	*warm = true;
	for (unsigned t = 0; t < BENCH_THREADS; t++)
		*warm &= !bench->workers[t].warm_up_failed;
	return started;
}

static void workers_stop(struct bench *bench)
{
	bench->quit = true;
	pthread_barrier_wait(&bench->go);
	for (unsigned t = 0; t < BENCH_THREADS; t++)
		pthread_join(bench->workers[t].thread, NULL);
	pthread_barrier_destroy(&bench->go);
	pthread_barrier_destroy(&bench->done);
}

/* Calibrate every configuration, then ROUNDS rounds of one batch each. */
static bool bench_run(struct bench *bench, struct bench_config *configs, unsigned count,
		      const struct options *options)
{
	for (unsigned i = 0; i < count; i++) {
		if (configs[i].threads != 1)
			continue;
		if (!calibrate(bench, &configs[i], options->batch_ns))
			return false;
		for (unsigned j = 0; j < count; j++)
			if (configs[j].bench_case == configs[i].bench_case &&
			    configs[j].variant == configs[i].variant)
				configs[j].calls_per_batch = configs[i].calls_per_batch;
	}
	for (unsigned round = 0; round < options->rounds; round++) {
		for (unsigned k = 0; k < count; k++) {
			struct bench_config *config = &configs[(k + round) % count];
			if (!run_batch(bench, config, config->calls_per_batch, true))
				return false;
		}
	}
	return true;
}

int main(int argc, char **argv)
{
	struct options options;
	int parsed = parse_options(argc, argv, &options);
	if (parsed)
		return parsed == 1 ? 0 : 2;

	static struct bench bench;
	bench.trace_path = options.trace_path;
	int storm_cpu = plan_cpus(&bench, options.pin);
	if (!cores_init(&bench)) {
		fprintf(stderr, "bench-dispatch: load the benchmark's policies: failed\n");
		return 1;
	}

	struct bench_config configs[2 + (CASE_COUNT - 1) * (VARIANT_COUNT - 1) * BENCH_THREADS];
	for (int c = 0; c < BENCH_THREADS; c++)
		for (int r = 0; r < 2; r++)
			root_args_init(&bench.workers[c].root[r],
				       r ? CASE_ROOT_HVCALL_EX : CASE_ROOT_HVCALL);
	unsigned count = configs_build(configs, options.rounds);
	int status = 1;
	bool warm;
	unsigned started = workers_start(&bench, &warm);
	if (started < BENCH_THREADS) {
		fprintf(stderr, "bench-dispatch: start worker thread %u: failed\n", started);
		goto out; /* the started ones wait at a barrier that never fills */
	}
	if (!warm) {
		fprintf(stderr, "bench-dispatch: warm up: a session did not answer as the "
				"policy says\n");
		goto stop_workers;
	}
	int err = storm_start(&bench.storm, &bench.cores[CORE_PLAIN], options.reload_rate,
			      options.batch_ns, storm_cpu);
	if (err) {
		fprintf(stderr, "bench-dispatch: start reload storm thread: %s\n", strerror(err));
		goto stop_workers;
	}

	if (bench_run(&bench, configs, count, &options)) {
		for (unsigned i = 0; i < count; i++)
			print_config(&bench, &configs[i]);
		print_ratios(configs, count);
		fflush(stdout);
		print_summary(&bench, configs, count, options.rounds);
		status = 0;
	}

	storm_quit(&bench.storm);
stop_workers:
	workers_stop(&bench);
	for (unsigned c = 0; c < CORE_COUNT; c++)
		core_fini(&bench.cores[c]);
out:
	configs_free(configs, count);
	return status;
}
