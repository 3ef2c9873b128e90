/*
 * client.c - the end-to-end load generator: T threads, each with its own fd
 * on a device, issue one ioctl in a tight loop and time every call.
 *
 * It measures what a VMM sees: the whole round trip from ioctl(2) to its
 * return, through the kernel and whatever serves the device (mshv-emu, the
 * null server, /dev/kvm).  Each thread stores its latencies in an array
 * allocated and touched before the measured phase, so the loop allocates
 * nothing; warm-up calls are not recorded; all threads start together
 * behind a start gate.  The result is one JSON line on stdout.  It does not
 * check what the ioctl answered beyond success or failure: a failure is
 * counted (and its errno reported) and the loop goes on, so the latency of
 * an error path can be measured too.  Exit 0 with a result, 1 when the
 * benchmark could not run, 2 for a bad command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <mshv-emu/mshv_emu.h>

#include "json.h"

/*
 * DURATION_CAPACITY: the most calls a thread records under --duration-ms
 * without --calls (16 MiB).  ARG_BUF_SIZE: room for any _IOC_SIZE, since the
 * kernel copies that many bytes in or out of the argument.
 */
#define DEFAULT_CALLS	  20000
#define DEFAULT_WARMUP	  1000
#define MAX_THREADS	  1024
#define DURATION_CAPACITY (4L << 20)
#define ARG_BUF_SIZE	  (_IOC_SIZEMASK + 1)

struct client_options {
	const char *device;
	unsigned long cmd;
	bool by_value; /* --arg value: pass --value itself, as KVM's _IO commands want */
	bool hvcall;   /* --arg hvcall: MSHV_ROOT_HVCALL GET_PARTITION_PROPERTY(--value) */
	unsigned long value;
	int threads;
	long calls;	  /* per thread; with --duration-ms, the most a thread records */
	long duration_ms; /* 0: run exactly --calls */
	long warmup;
	int cpus[CPU_SETSIZE];
	int cpu_count; /* 0: unpinned */
	const char *label;
	bool request_version;
	__u32 version;
};

/*
 * Where threads wait after their warm-up until all are ready.  Not a
 * pthread_barrier: if a thread cannot be created, the ones already waiting
 * must be let go (pthread_barrier_wait is no cancellation point).
 */
struct start_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int waiting;
	int state; /* 0 closed, 1 go, -1 abandon */
};

struct worker {
	const struct client_options *options;
	struct start_gate *gate;
	int fd;
	uint32_t *latency_ns; /* saturates at UINT32_MAX (4.3 s) */
	long recorded;
	long failures;
	int first_errno;
	uint64_t first_failure_ns;
	uint64_t start_ns, end_ns;
	bool truncated; /* filled its array before --duration-ms ran out */
	unsigned char *arg_buf;
};

static const char usage_text[] =
	"usage: bench-client --device PATH [--cmd N] [--arg u32|value|hvcall] [--value V] "
	"[--threads T]\n"
	"                    [--calls N | --duration-ms D] [--warmup N] [--cpu-list LIST]\n"
	"                    [--label TEXT] [--request-version V]\n"
	"  --device PATH        device or file to open, once per thread, O_RDWR\n"
	"  --cmd N              ioctl number (default 0x4004B801, negotiated CHECK_EXTENSION)\n"
	"  --arg u32|value      pass a pointer to a __u32 holding V (default), or V itself\n"
	"  --arg hvcall         MSHV_ROOT_HVCALL (0xC020B807) GET_PARTITION_PROPERTY of the\n"
	"                       property code V, as mshv-ioctls sends it: the driver reads\n"
	"                       16 bytes at in_ptr and writes 8 at out_ptr (--cmd ignored)\n"
	"  --value V            the argument (default 1)\n"
	"  --threads T          threads, each with its own fd (default 1)\n"
	"  --calls N            measured calls per thread (default 20000)\n"
	"  --duration-ms D      measure for D ms instead (at most --calls, or 4194304, calls)\n"
	"  --warmup N           unrecorded calls per thread first (default 1000)\n"
	"  --cpu-list LIST      pin thread i to CPU LIST[i % n], e.g. 0,1 or 0-3 (default none)\n"
	"  --label TEXT         copied into the result\n"
	"  --request-version V  issue REQUEST_VERSION(V) (0x4004B800) on each fd first\n"
	"Prints one JSON line: latency percentiles (nearest rank, all threads) and calls/s.\n";

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *worker_run(void *opaque)
{
	struct worker *worker = opaque;
	const struct client_options *options = worker->options;
	const unsigned long cmd = options->cmd;
	const unsigned long arg =
		options->by_value ? options->value : (unsigned long)(uintptr_t)worker->arg_buf;
	const __u32 value32 = (__u32)options->value;
	/* --arg hvcall: the header, input and output share arg_buf; the header
	 * is rewritten before every call, as the driver writes its status back. */
	unsigned char *buf = worker->arg_buf;
	struct mshv_emu_hv_get_property_in hv_in = {.partition_id = MSHV_EMU_HV_PARTITION_ID_SELF,
						    .property_code = value32};
	const struct mshv_root_hvcall hv_header = {
		.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
		.in_sz = sizeof(hv_in),
		.out_sz = sizeof(__u64),
		.in_ptr = (uintptr_t)(buf + 64),
		.out_ptr = (uintptr_t)(buf + 128),
	};
	const void *preset = options->hvcall ? (const void *)&hv_header : (const void *)&value32;
	const size_t preset_size = options->hvcall ? sizeof(hv_header) : sizeof(value32);
	if (options->hvcall)
		memcpy(buf + 64, &hv_in, sizeof(hv_in));
	const long capacity = options->calls;
	uint32_t *latency_ns = worker->latency_ns;
	long failures = 0, i;
	int first_errno = 0;
	uint64_t first_failure_ns = 0;

	/* Fault the array in now rather than inside the measured loop. */
	memset(latency_ns, 0, (size_t)capacity * sizeof(*latency_ns));
	for (i = 0; i < options->warmup; i++) {
		memcpy(worker->arg_buf, preset, preset_size);
		ioctl(worker->fd, cmd, arg);
	}
	struct start_gate *gate = worker->gate;
	pthread_mutex_lock(&gate->lock);
	gate->waiting++;
	pthread_cond_broadcast(&gate->cond);
	while (!gate->state)
		pthread_cond_wait(&gate->cond, &gate->lock);
	const bool go = gate->state > 0;
	pthread_mutex_unlock(&gate->lock);
	if (!go)
		return NULL;

	const uint64_t start_ns = now_ns();
	const uint64_t deadline_ns = options->duration_ms
					     ? start_ns + (uint64_t)options->duration_ms * 1000000u
					     : UINT64_MAX;
	uint64_t after_ns = start_ns;
	for (i = 0; i < capacity && after_ns < deadline_ns; i++) {
		/* A command that copies out may have overwritten it. */
		memcpy(worker->arg_buf, preset, preset_size);
		const uint64_t before_ns = now_ns();
		const int result = ioctl(worker->fd, cmd, arg);
		const int saved_errno = errno;
		after_ns = now_ns();
		const uint64_t elapsed_ns = after_ns - before_ns;
		latency_ns[i] = elapsed_ns > UINT32_MAX ? UINT32_MAX : (uint32_t)elapsed_ns;
		if (result < 0 && !failures++) {
			first_errno = saved_errno;
			first_failure_ns = after_ns;
		}
	}
	worker->recorded = i;
	worker->failures = failures;
	worker->first_errno = first_errno;
	worker->first_failure_ns = first_failure_ns;
	worker->start_ns = start_ns;
	worker->end_ns = after_ns;
	worker->truncated = options->duration_ms && after_ns < deadline_ns;
	return NULL;
}

static int compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least PER_MILLE/1000 of COUNT at or below it. */
static double percentile_us(const uint32_t *sorted, long count, long per_mille)
{
	long rank = (count * per_mille + 999) / 1000;
	return sorted[rank > 0 ? rank - 1 : 0] / 1000.0;
}

static int report(const struct client_options *options, const struct worker *workers)
{
	long total = 0, failures = 0;
	int first_errno = 0;
	uint64_t first_failure_ns = UINT64_MAX, start_ns = UINT64_MAX, end_ns = 0;
	for (int t = 0; t < options->threads; t++) {
		const struct worker *worker = &workers[t];
		total += worker->recorded;
		failures += worker->failures;
		if (worker->failures && worker->first_failure_ns < first_failure_ns) {
			first_failure_ns = worker->first_failure_ns;
			first_errno = worker->first_errno;
		}
		if (worker->start_ns < start_ns)
			start_ns = worker->start_ns;
		if (worker->end_ns > end_ns)
			end_ns = worker->end_ns;
		if (worker->truncated)
			fprintf(stderr, "bench-client: thread %d filled its %ld calls early\n", t,
				worker->recorded);
	}
	if (total == 0) {
		fprintf(stderr, "bench-client: no call was measured\n");
		return 1;
	}
	uint32_t *all = malloc((size_t)total * sizeof(*all));
	if (!all) {
		fprintf(stderr, "bench-client: out of memory sorting %ld latencies\n", total);
		return 1;
	}
	long used = 0;
	uint64_t sum_ns = 0;
	for (int t = 0; t < options->threads; t++) {
		memcpy(all + used, workers[t].latency_ns,
		       (size_t)workers[t].recorded * sizeof(*all));
		used += workers[t].recorded;
	}
	for (long i = 0; i < total; i++)
		sum_ns += all[i];
	qsort(all, (size_t)total, sizeof(*all), compare_u32);
	if (failures)
		fprintf(stderr, "bench-client: %ld of %ld calls failed, the first with %s (%d)\n",
			failures, total, strerror(first_errno), first_errno);

	double wall_s = (double)(end_ns - start_ns) / 1e9;
	printf("{\"suite\":\"e2e\",\"label\":");
	print_json_string(options->label);
	printf(",\"device\":");
	print_json_string(options->device);
	printf(",\"cmd\":\"0x%lx\",\"threads\":%d,\"calls\":%ld,\"failures\":%ld,"
	       "\"first_errno\":%d,\"p50_us\":%.3f,\"p90_us\":%.3f,\"p99_us\":%.3f,"
	       "\"p999_us\":%.3f,\"mean_us\":%.3f,\"calls_per_s\":%.0f}\n",
	       options->cmd, options->threads, total, failures, first_errno,
	       percentile_us(all, total, 500), percentile_us(all, total, 900),
	       percentile_us(all, total, 990), percentile_us(all, total, 999),
	       (double)sum_ns / (double)total / 1000.0, wall_s > 0 ? total / wall_s : 0.0);
	free(all);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* Open every fd (and version it) before any thread starts, so errors stop us early. */
static int open_workers(const struct client_options *options, struct worker *workers)
{
	for (int t = 0; t < options->threads; t++) {
		struct worker *worker = &workers[t];
		worker->fd = open(options->device, O_RDWR | O_CLOEXEC);
		if (worker->fd < 0) {
			fprintf(stderr, "bench-client: open %s: %s\n", options->device,
				strerror(errno));
			return -1;
		}
		if (options->request_version) {
			__u32 version = options->version;
			if (ioctl(worker->fd, MSHV_REQUEST_VERSION, &version) < 0) {
				fprintf(stderr,
					"bench-client: %s: REQUEST_VERSION(%u): %s (errno %d)\n",
					options->device, options->version, strerror(errno), errno);
				return -1;
			}
		}
		worker->latency_ns = malloc((size_t)options->calls * sizeof(uint32_t));
		worker->arg_buf = calloc(1, ARG_BUF_SIZE);
		if (!worker->latency_ns || !worker->arg_buf) {
			fprintf(stderr, "bench-client: out of memory for %ld calls per thread\n",
				options->calls);
			return -1;
		}
	}
	return 0;
}

static int run(const struct client_options *options)
{
	struct worker *workers = calloc((size_t)options->threads, sizeof(*workers));
	pthread_t *threads = calloc((size_t)options->threads, sizeof(*threads));
	struct start_gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	int started = 0, rc = 1;
	if (!workers || !threads) {
		fprintf(stderr, "bench-client: out of memory\n");
		goto out_free;
	}
	for (int t = 0; t < options->threads; t++)
		workers[t] = (struct worker){.options = options, .gate = &gate, .fd = -1};
	if (open_workers(options, workers) != 0)
		goto out_close;
	for (; started < options->threads; started++) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		if (options->cpu_count) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(options->cpus[started % options->cpu_count], &set);
			pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		}
		int err = pthread_create(&threads[started], &attr, worker_run, &workers[started]);
		pthread_attr_destroy(&attr);
		if (err) {
			fprintf(stderr, "bench-client: start thread %d%s: %s\n", started,
				options->cpu_count ? " (is its --cpu-list CPU online?)" : "",
				strerror(err));
			break;
		}
	}
	/* Open the gate once every thread is behind it, so all start together. */
	pthread_mutex_lock(&gate.lock);
	while (gate.waiting < started)
		pthread_cond_wait(&gate.cond, &gate.lock);
	gate.state = started == options->threads ? 1 : -1;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	for (int t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
	if (started == options->threads)
		rc = report(options, workers);
out_close:
	for (int t = 0; t < options->threads; t++) {
		if (workers[t].fd >= 0)
			close(workers[t].fd);
		free(workers[t].latency_ns);
		free(workers[t].arg_buf);
	}
out_free:
	free(threads);
	free(workers);
	return rc;
}

static int parse_ulong(const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long value = strtoul(text, &end, 0);
	if (errno || !*text || *end || *text == '-' || value < min || value > max)
		return -1;
	*out = value;
	return 0;
}

/* "0,1,4-6": CPU numbers in thread order. */
static int parse_cpu_list(const char *text, struct client_options *options)
{
	const char *p = text;
	options->cpu_count = 0;
	while (*p) {
		char *end;
		errno = 0;
		long first = strtol(p, &end, 10), last = first;
		if (errno || end == p || first < 0)
			return -1;
		if (*end == '-') {
			p = end + 1;
			last = strtol(p, &end, 10);
			if (errno || end == p || last < first)
				return -1;
		}
		if (last >= CPU_SETSIZE)
			return -1;
		for (long cpu = first; cpu <= last; cpu++) {
			if (options->cpu_count == CPU_SETSIZE)
				return -1;
			options->cpus[options->cpu_count++] = (int)cpu;
		}
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			return -1;
		p = end;
	}
	return options->cpu_count ? 0 : -1;
}

/* parse_options - fill OPTIONS; -1 to go on, else the exit code. */
static int parse_options(int argc, char **argv, struct client_options *options)
{
	static const struct option longopts[] = {
		{"device", required_argument, NULL, 'd'},
		{"cmd", required_argument, NULL, 'c'},
		{"arg", required_argument, NULL, 'a'},
		{"value", required_argument, NULL, 'v'},
		{"threads", required_argument, NULL, 't'},
		{"calls", required_argument, NULL, 'n'},
		{"duration-ms", required_argument, NULL, 'D'},
		{"warmup", required_argument, NULL, 'w'},
		{"cpu-list", required_argument, NULL, 'C'},
		{"label", required_argument, NULL, 'l'},
		{"request-version", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*options = (struct client_options){.cmd = MSHV_NEGOTIATED_CHECK_EXTENSION,
					   .value = 1,
					   .threads = 1,
					   .warmup = DEFAULT_WARMUP,
					   .label = ""};
	bool calls_given = false;
	unsigned long number;
	int opt;
	while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		const char *bad = NULL;
		switch (opt) {
		case 'd':
			options->device = optarg;
			break;
		case 'c':
			if (parse_ulong(optarg, 0, UINT32_MAX, &options->cmd))
				bad = "--cmd: expected a 32-bit ioctl number";
			break;
		case 'a':
			options->by_value = !strcmp(optarg, "value");
			options->hvcall = !strcmp(optarg, "hvcall");
			if (strcmp(optarg, "u32") && !options->by_value && !options->hvcall)
				bad = "--arg: expected u32, value or hvcall";
			break;
		case 'v':
			if (parse_ulong(optarg, 0, ULONG_MAX, &options->value))
				bad = "--value: expected a non-negative number";
			break;
		case 't':
			if (parse_ulong(optarg, 1, MAX_THREADS, &number))
				bad = "--threads: expected 1 to 1024";
			options->threads = (int)number;
			break;
		case 'n':
			if (parse_ulong(optarg, 1, LONG_MAX / 1000, &number))
				bad = "--calls: expected a positive number";
			options->calls = (long)number;
			calls_given = true;
			break;
		case 'D':
			if (parse_ulong(optarg, 1, 86400000, &number))
				bad = "--duration-ms: expected a positive number of milliseconds";
			options->duration_ms = (long)number;
			break;
		case 'w':
			if (parse_ulong(optarg, 0, LONG_MAX, &number))
				bad = "--warmup: expected a number";
			options->warmup = (long)number;
			break;
		case 'C':
			if (parse_cpu_list(optarg, options))
				bad = "--cpu-list: expected CPU numbers like 0,1 or 0-3";
			break;
		case 'l':
			options->label = optarg;
			break;
		case 'r':
			if (parse_ulong(optarg, 0, UINT32_MAX, &number))
				bad = "--request-version: expected a 32-bit number";
			options->version = (__u32)number;
			options->request_version = true;
			break;
		case 'h':
			printf("%s", usage_text);
			return 0;
		default:
			bad = "unknown or incomplete option";
		}
		if (bad) {
			fprintf(stderr, "bench-client: %s\n%s", bad, usage_text);
			return 2;
		}
	}
	const char *bad = NULL;
	if (optind < argc)
		bad = "unexpected argument";
	else if (!options->device)
		bad = "--device is required";
	else if (!options->by_value && options->value > UINT32_MAX)
		bad = "--value: does not fit the __u32 of --arg u32 or hvcall";
	if (options->hvcall)
		options->cmd = MSHV_ROOT_HVCALL;
	if (bad) {
		fprintf(stderr, "bench-client: %s\n%s", bad, usage_text);
		return 2;
	}
	if (!calls_given)
		options->calls = options->duration_ms ? DURATION_CAPACITY : DEFAULT_CALLS;
	return -1;
}

int main(int argc, char **argv)
{
	static struct client_options options; /* cpus[] is large for a stack */
	int rc = parse_options(argc, argv, &options);
	if (rc >= 0)
		return rc;
	return run(&options);
}
