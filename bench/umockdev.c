// SPDX-License-Identifier: MIT
/*
 * umockdev.c - bench-umockdev: the e2e baseline, /dev/mshv emulated by
 * umockdev, the mock users already know (Debian's umockdev, 0.17.x).
 *
 * One process builds a UMockdevTestbed with a /dev/mshv node, attaches a
 * UMockdevIoctlBase whose "handle-ioctl" signal answers the default policy
 * (policies/default.yaml, the "negotiated" profile of docs/abi.md) as far as
 * umockdev can, then runs the client load against that node: --threads
 * threads, each with its own fd, REQUEST_VERSION(1) once, then a timed loop
 * of CHECK_EXTENSION(REGISTER_PAGE) at 0x4004B801.  It prints one JSON line
 * in the shape of the other e2e results.
 *
 * How umockdev gets there, which is what this baseline measures: the
 * preload library (libumockdev-preload.so.0, via umockdev-wrapper) traps
 * open() of /dev/mshv into the testbed (a pty behind the node) and connects
 * a unix socket per fd; every ioctl() on that fd is sent over the socket to
 * the testbed's own worker thread (a private GMainContext that libumockdev
 * runs itself, so this program runs no main loop), which emits
 * "handle-ioctl"; reading the __u32 argument is one more round trip
 * (umockdev_ioctl_data_resolve asks the client to send its memory), and
 * umockdev_ioctl_client_complete sends (result, errno) back.  The preload
 * then usleep(0)s after every emulated ioctl to let other threads at the
 * socket: that, two threads' wake-ups and ~20 syscalls are each call's cost.
 *
 * What umockdev can do here: any errno, kernel-internal ones included (524
 * reaches the caller as 524); a positive result (CHECK_EXTENSION's 1); per-fd
 * state, because each open() is its own UMockdevIoctlClient; concurrent
 * callers, serialized through the one worker thread.
 *
 * What it cannot, so this program does not pretend to: serve a process that
 * was not started under the preload (nothing exists outside the process's
 * LD_PRELOAD view); answer EFAULT for a bad non-NULL pointer (the preload
 * aborts the calling process when it cannot read the memory; only NULL is
 * seen, and answered EFAULT); report consistent node metadata (stat() says
 * char 10:58, fstat() on the open fd says the pty's 136:N); return the
 * result -100 (the preload's "unhandled" marker, which falls through to the
 * real ioctl on the pty).  It does not use the emulator core, policies,
 * reload or faults; the answers are a fixed copy of default.yaml below.
 *
 * --selftest prints, one line each, what the emulation answered against
 * what mshv-emu answers (the evidence for the lists above); --exec runs a
 * command (say mshv-probe) against the testbed.  Both need the preload too.
 *
 * Exit status: 0 ok, 1 failure, 2 usage (including "not under the preload").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <umockdev.h>

#include <mshv-emu/mshv_emu.h>

#define UMOCK_DEVICE  "/dev/mshv"
#define UMOCK_PRELOAD "libumockdev-preload"
/* The preload tracks at most 50 open fds on emulated nodes per process
 * (FD_MAP_MAX) and abort()s on the 51st open: one fd per client thread. */
#define UMOCK_THREADS_MAX 50
#define UMOCK_WARMUP	  200
#define UMOCK_CALLS	  5000
#define UMOCK_SELF_RACERS 8

/*
 * The device in umockdev-record's format.  "N: mshv" without contents makes
 * the node a pty (the only way to get a char device node out of the
 * testbed); "A: dev" gives stat() its major:minor.  misc devices are 10:N;
 * the real mshv minor is dynamic, 58 is only a stand-in.
 */
static const char umock_device_record[] = "P: /devices/virtual/misc/mshv\n"
					  "N: mshv\n"
					  "E: DEVNAME=/dev/mshv\n"
					  "E: SUBSYSTEM=misc\n"
					  "A: dev=10:58\n";

/* ---- the emulated policy: a fixed copy of policies/default.yaml ---- */

/* Versions REQUEST_VERSION accepts, as a bit per version. */
#define UMOCK_VERSIONS (1u << 1 | 1u << 2)

/* CHECK_EXTENSION answers; versions == 0: visible to every version. */
struct umock_capability {
	__u32 id;
	__u32 value;
	__u32 versions;
};

static const struct umock_capability umock_capabilities[] = {
	{MSHV_CAP_CORE_API_STABLE, 0, 0},
	{MSHV_CAP_REGISTER_PAGE, 1, 0},
	{MSHV_CAP_VTL_RETURN_ACTION, 1, 1u << 2},
	{MSHV_CAP_DR6_SHARED, 1, 1u << 2},
};

#define UMOCK_UNKNOWN_CAPABILITY EOPNOTSUPP

/* ---- the handler: runs on libumockdev's worker thread only ---- */

/*
 * Per-fd state is qdata on the UMockdevIoctlClient, which umockdev creates
 * per open() (one socket per fd) and drops on close: the negotiated
 * version, 0 while the fd is unversioned (no accepted version is 0).
 * Only the worker thread touches it, so one thread is the driver's mutex.
 */
static GQuark umock_version_quark;

static __u32 umock_fd_version(UMockdevIoctlClient *client)
{
	return GPOINTER_TO_UINT(g_object_get_qdata(G_OBJECT(client), umock_version_quark));
}

/*
 * Copy the ioctl's argument in: umockdev hands over the pointer value only;
 * resolving it makes the preload send SIZE bytes from the caller's memory.
 * Returns 0 or -EFAULT.  umockdev resolves NULL to no data and no error;
 * a bad non-NULL pointer never gets here (the preload aborts the caller).
 */
static int umock_arg_read(UMockdevIoctlClient *client, void *out, size_t size)
{
	UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(client);
	UMockdevIoctlData *data;
	GError *error = NULL;
	int ret = 0;

	data = umockdev_ioctl_data_resolve(arg, 0, size, &error);
	if (!data) {
		g_clear_error(&error);
		return -EFAULT;
	}
	if (data->data_len < 0 || (size_t)data->data_len < size)
		ret = -EFAULT;
	else
		memcpy(out, data->data, size);
	g_object_unref(data);
	return ret;
}

/* RFC 2020: lock the fd to a supported version, once.  Returns 0 or -errno. */
static long umock_request_version(UMockdevIoctlClient *client)
{
	__u32 version;
	int err;

	if (umock_fd_version(client))
		return -EBADFD;
	err = umock_arg_read(client, &version, sizeof(version));
	if (err)
		return err;
	if (version >= 32 || !(UMOCK_VERSIONS & (1u << version)))
		return -MSHV_ENOTSUPP;
	g_object_set_qdata(G_OBJECT(client), umock_version_quark, GUINT_TO_POINTER(version));
	return 0;
}

/* The 2021 proposal at 0x4004B801: a capability's value, gated by the fd's
 * version.  Returns the value (>= 0) or -errno. */
static long umock_check_extension(UMockdevIoctlClient *client)
{
	__u32 version = umock_fd_version(client);
	__u32 id;
	size_t i;
	int err;

	err = umock_arg_read(client, &id, sizeof(id));
	if (err)
		return err;
	for (i = 0; i < G_N_ELEMENTS(umock_capabilities); i++) {
		const struct umock_capability *cap = &umock_capabilities[i];

		if (cap->id != id)
			continue;
		if (cap->versions && !(cap->versions & (1u << version)))
			break;
		return cap->value;
	}
	return -UMOCK_UNKNOWN_CAPABILITY;
}

struct umock_ioctl {
	unsigned long cmd;
	bool before_version; /* may be called on an unversioned fd */
	long (*handler)(UMockdevIoctlClient *client);
};

static const struct umock_ioctl umock_ioctls[] = {
	{MSHV_REQUEST_VERSION, true, umock_request_version},
	{MSHV_NEGOTIATED_CHECK_EXTENSION, false, umock_check_extension},
};

/*
 * "handle-ioctl": answer every ioctl on /dev/mshv (returning TRUE), so
 * nothing falls through to umockdev's own ioctl tree or to the pty.
 * Errors go back as (-1, errno), any errno; results as themselves.
 */
static gboolean umock_handle_ioctl(UMockdevIoctlBase *base, UMockdevIoctlClient *client,
				   gpointer user_data)
{
	unsigned long cmd = umockdev_ioctl_client_get_request(client);
	const struct umock_ioctl *entry = NULL;
	long ret;
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(umock_ioctls); i++) {
		if (umock_ioctls[i].cmd == cmd) {
			entry = &umock_ioctls[i];
			break;
		}
	}
	if (!umock_fd_version(client) && !(entry && entry->before_version))
		ret = -EBADFD;
	else if (!entry)
		ret = -ENOTTY;
	else
		ret = entry->handler(client);

	if (ret < 0)
		umockdev_ioctl_client_complete(client, -1, (int)-ret);
	else
		umockdev_ioctl_client_complete(client, ret, 0);
	return TRUE;
}

/* ---- cold path: errors, the testbed ---- */

struct bench_error {
	int errnum; /* 0: none */
	char message[512];
};

static void bench_error_set(struct bench_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void bench_error_set(struct bench_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;

	err->errnum = errnum ? errnum : EIO;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

static int preload_seen(struct dl_phdr_info *info, size_t size, void *data)
{
	return info->dlpi_name && strstr(info->dlpi_name, UMOCK_PRELOAD) != NULL;
}

/*
 * Whether libumockdev-preload is mapped into this process.  Not
 * umockdev_in_mock_environment(): that caches its first answer and only
 * compares /sys's inode, which is true without the preload wherever /sys is
 * not a sysfs root, and false with it before a testbed exists.
 */
static bool bench_preloaded(void)
{
	return dl_iterate_phdr(preload_seen, NULL) != 0;
}

struct umock_bed {
	UMockdevTestbed *testbed;
	UMockdevIoctlBase *handler;
};

/* Build the testbed and attach the handler.  Returns 0, or -errno with ERR set. */
static int umock_bed_create(struct umock_bed *bed, struct bench_error *err)
{
	GError *error = NULL;

	umock_version_quark = g_quark_from_static_string("mshv-emu-version");
	bed->testbed = umockdev_testbed_new();
	if (!umockdev_testbed_add_from_string(bed->testbed, umock_device_record, &error))
		goto fail;
	bed->handler = umockdev_ioctl_base_new();
	g_signal_connect(bed->handler, "handle-ioctl", G_CALLBACK(umock_handle_ioctl), NULL);
	if (!umockdev_testbed_attach_ioctl(bed->testbed, UMOCK_DEVICE, bed->handler, &error))
		goto fail;
	return 0;
fail:
	bench_error_set(err, EINVAL, "set up umockdev testbed for `%s`: %s", UMOCK_DEVICE,
			error ? error->message : "unknown error");
	g_clear_error(&error);
	return -EINVAL;
}

/* Detach and drop the testbed (its directory goes with it).  No fd on the
 * device may still be open. */
static void umock_bed_destroy(struct umock_bed *bed)
{
	if (bed->handler && bed->testbed)
		umockdev_testbed_detach_ioctl(bed->testbed, UMOCK_DEVICE, NULL);
	g_clear_object(&bed->handler);
	g_clear_object(&bed->testbed);
}

/* ---- the client load ---- */

struct bench_options {
	unsigned int threads;
	unsigned int calls;
	unsigned int warmup;
};

/*
 * The start line: every client is set up and warmed up before any timed
 * call, and a client that failed to start makes the others stand down.
 */
struct bench_start {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int ready;
	int state; /* 0 waiting, 1 go, -1 stand down */
};

struct bench_worker {
	pthread_t thread;
	const struct bench_options *options;
	struct bench_start *start;
	uint64_t *latency_ns; /* options->calls slots, this worker's slice */
	uint64_t start_ns;
	uint64_t end_ns;
	uint64_t failures;
	int setup_errno; /* open or REQUEST_VERSION failed: no timed calls */
	const char *setup_step;
};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Open the device and lock the fd to VERSION.  Returns the fd, or -errno
 * with *STEP naming the call that failed. */
static int mshv_open_versioned(__u32 version, const char **step)
{
	int fd;

	*step = "open";
	fd = open(UMOCK_DEVICE, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	*step = "REQUEST_VERSION";
	if (ioctl(fd, MSHV_REQUEST_VERSION, &version) != 0) {
		int err = errno ? errno : EPROTO;

		close(fd);
		return -err;
	}
	return fd;
}

/* One client thread.  Always reports at the start line, so a failed setup
 * cannot leave the others waiting there. */
static void *bench_worker_run(void *data)
{
	struct bench_worker *worker = data;
	unsigned int calls = worker->options->calls;
	__u32 cap = MSHV_CAP_REGISTER_PAGE;
	unsigned int i;
	bool go;
	int fd;

	fd = mshv_open_versioned(1, &worker->setup_step);
	if (fd < 0)
		worker->setup_errno = -fd;
	for (i = 0; fd >= 0 && i < worker->options->warmup; i++)
		ioctl(fd, MSHV_NEGOTIATED_CHECK_EXTENSION, &cap);

	pthread_mutex_lock(&worker->start->lock);
	worker->start->ready++;
	pthread_cond_broadcast(&worker->start->cond);
	while (!worker->start->state)
		pthread_cond_wait(&worker->start->cond, &worker->start->lock);
	go = worker->start->state > 0;
	pthread_mutex_unlock(&worker->start->lock);
	if (fd < 0)
		return NULL;
	if (!go) {
		close(fd);
		return NULL;
	}

	worker->start_ns = monotonic_ns();
	for (i = 0; i < calls; i++) {
		uint64_t before = monotonic_ns();
		int ret = ioctl(fd, MSHV_NEGOTIATED_CHECK_EXTENSION, &cap);

		worker->latency_ns[i] = monotonic_ns() - before;
		if (ret != 1)
			worker->failures++;
	}
	worker->end_ns = monotonic_ns();
	close(fd);
	return NULL;
}

static int u64_compare(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank over SORTED[0..COUNT): the smallest value with at least
 * PER_100K / 100000 of the samples at or below it. */
static double percentile_us(const uint64_t *sorted, size_t count, uint64_t per_100k)
{
	uint64_t rank = (per_100k * count + 99999) / 100000;

	if (rank < 1)
		rank = 1;
	return (double)sorted[rank - 1] / 1000.0;
}

struct bench_result {
	size_t calls;
	uint64_t failures;
	double p50_us, p90_us, p99_us, p999_us, mean_us, calls_per_s;
};

/* Run the load against an attached testbed.  Returns 0 with RESULT filled
 * in, or -errno with ERR set. */
static int bench_run(const struct bench_options *options, struct bench_result *result,
		     struct bench_error *err)
{
	size_t total = (size_t)options->threads * options->calls;
	struct bench_start start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	struct bench_worker *workers;
	uint64_t *latency_ns, failures = 0, sum_ns = 0;
	uint64_t first_start = UINT64_MAX, last_end = 0;
	unsigned int i, started = 0;
	int ret = 0;

	latency_ns = calloc(total, sizeof(*latency_ns));
	workers = calloc(options->threads, sizeof(*workers));
	if (!latency_ns || !workers) {
		bench_error_set(err, ENOMEM, "allocate %zu latency slots: %s", total,
				strerror(ENOMEM));
		ret = -ENOMEM;
		goto out_free;
	}
	/* Touch every slot now, so no page fault lands inside a timed call. */
	memset(latency_ns, 0xff, total * sizeof(*latency_ns));

	for (i = 0; i < options->threads; i++) {
		struct bench_worker *worker = &workers[i];
		int rc;

		worker->options = options;
		worker->start = &start;
		worker->latency_ns = latency_ns + (size_t)i * options->calls;
		rc = pthread_create(&worker->thread, NULL, bench_worker_run, worker);
		if (rc) {
			bench_error_set(err, rc, "start client thread %u: %s", i, strerror(rc));
			ret = -rc;
			break;
		}
		started++;
	}
	pthread_mutex_lock(&start.lock);
	while (!ret && start.ready < started)
		pthread_cond_wait(&start.cond, &start.lock);
	start.state = ret ? -1 : 1;
	pthread_cond_broadcast(&start.cond);
	pthread_mutex_unlock(&start.lock);
	for (i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);
	if (ret)
		goto out_free;

	for (i = 0; i < options->threads; i++) {
		const struct bench_worker *worker = &workers[i];

		if (worker->setup_errno) {
			bench_error_set(err, worker->setup_errno, "client %u: %s `%s`: %s", i,
					worker->setup_step, UMOCK_DEVICE,
					strerror(worker->setup_errno));
			ret = -worker->setup_errno;
			goto out_free;
		}
		failures += worker->failures;
		if (worker->start_ns < first_start)
			first_start = worker->start_ns;
		if (worker->end_ns > last_end)
			last_end = worker->end_ns;
	}
	for (size_t k = 0; k < total; k++)
		sum_ns += latency_ns[k];
	qsort(latency_ns, total, sizeof(*latency_ns), u64_compare);

	result->calls = total;
	result->failures = failures;
	result->p50_us = percentile_us(latency_ns, total, 50000);
	result->p90_us = percentile_us(latency_ns, total, 90000);
	result->p99_us = percentile_us(latency_ns, total, 99000);
	result->p999_us = percentile_us(latency_ns, total, 99900);
	result->mean_us = (double)sum_ns / (double)total / 1000.0;
	result->calls_per_s = (double)total * 1e9 / (double)(last_end - first_start);
out_free:
	free(workers);
	free(latency_ns);
	return ret;
}

/* The one JSON line of an e2e result. */
static void bench_print(const struct bench_options *options, const struct bench_result *result)
{
	printf("{\"suite\":\"e2e\",\"label\":\"umockdev\",\"device\":\"%s\",\"cmd\":\"0x%x\","
	       "\"threads\":%u,\"calls\":%zu,\"failures\":%" PRIu64 ",\"p50_us\":%.3f,"
	       "\"p90_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,\"mean_us\":%.3f,"
	       "\"calls_per_s\":%.1f}\n",
	       UMOCK_DEVICE, (unsigned int)MSHV_NEGOTIATED_CHECK_EXTENSION, options->threads,
	       result->calls, result->failures, result->p50_us, result->p90_us, result->p99_us,
	       result->p999_us, result->mean_us, result->calls_per_s);
	fflush(stdout);
}

/* ---- --selftest: what the emulation answers, against mshv-emu ---- */

struct self_tally {
	unsigned int checks;
	unsigned int differs;
};

/* One line: the call, what it returned, what mshv-emu returns. */
static void self_report(struct self_tally *tally, const char *what, long ret, int err,
			long want_ret, int want_errno)
{
	bool same = ret == want_ret && (want_ret != -1 || err == want_errno);

	tally->checks++;
	if (!same)
		tally->differs++;
	printf("%-7s %-58s got %ld", same ? "same" : "DIFFERS", what, ret);
	if (ret == -1)
		printf(" errno %d", err);
	printf(", mshv-emu %ld", want_ret);
	if (want_ret == -1)
		printf(" errno %d", want_errno);
	putchar('\n');
}

static void self_ioctl(struct self_tally *tally, const char *what, int fd, unsigned long cmd,
		       void *arg, long want_ret, int want_errno)
{
	long ret;

	errno = 0;
	ret = ioctl(fd, cmd, arg);
	self_report(tally, what, ret, errno, want_ret, want_errno);
}

static void self_u32(struct self_tally *tally, const char *what, int fd, unsigned long cmd,
		     __u32 value, long want_ret, int want_errno)
{
	self_ioctl(tally, what, fd, cmd, &value, want_ret, want_errno);
}

/* The node: mshv-emu's is one char device, the same through stat and fstat. */
static void self_node(struct self_tally *tally, int fd)
{
	struct stat by_path, by_fd;
	bool same;

	if (stat(UMOCK_DEVICE, &by_path) || fstat(fd, &by_fd)) {
		printf("DIFFERS %-58s %s\n", "stat/fstat " UMOCK_DEVICE, strerror(errno));
		tally->checks++;
		tally->differs++;
		return;
	}
	same = S_ISCHR(by_path.st_mode) && S_ISCHR(by_fd.st_mode) &&
	       by_path.st_rdev == by_fd.st_rdev;
	tally->checks++;
	tally->differs += !same;
	printf("%-7s %-58s stat: %s %u:%u mode %04o; fstat: %s %u:%u\n", same ? "same" : "DIFFERS",
	       "node: stat() and fstat() agree on a char device",
	       S_ISCHR(by_path.st_mode) ? "char" : "not char", major(by_path.st_rdev),
	       minor(by_path.st_rdev), (unsigned int)(by_path.st_mode & 07777),
	       S_ISCHR(by_fd.st_mode) ? "char" : "not char", major(by_fd.st_rdev),
	       minor(by_fd.st_rdev));
}

struct self_racer {
	pthread_t thread;
	int fd;
	pthread_barrier_t *line;
	int ret;
	int err;
};

static void *self_racer_run(void *data)
{
	struct self_racer *racer = data;
	__u32 version = 1;

	pthread_barrier_wait(racer->line);
	errno = 0;
	racer->ret = ioctl(racer->fd, MSHV_REQUEST_VERSION, &version);
	racer->err = errno;
	return NULL;
}

/* Racing REQUEST_VERSIONs on one fd: the driver's mutex lets exactly one in. */
static void self_race(struct self_tally *tally)
{
	struct self_racer racers[UMOCK_SELF_RACERS];
	pthread_barrier_t line;
	unsigned int i, won = 0, ebadfd = 0, started = 0;
	int fd = open(UMOCK_DEVICE, O_RDWR | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		self_report(tally, "race: open", -1, errno, 0, 0);
		return;
	}
	pthread_barrier_init(&line, NULL, UMOCK_SELF_RACERS);
	for (i = 0; i < UMOCK_SELF_RACERS; i++) {
		racers[i] = (struct self_racer){.fd = fd, .line = &line};
		if (pthread_create(&racers[i].thread, NULL, self_racer_run, &racers[i]))
			break;
		started++;
	}
	if (started < UMOCK_SELF_RACERS) {
		/* Cannot fill the barrier: give up on the race, leave the
		 * started racers parked and report it. */
		printf("DIFFERS %-58s could not start %u threads\n", "race", UMOCK_SELF_RACERS);
		tally->checks++;
		tally->differs++;
		return;
	}
	for (i = 0; i < UMOCK_SELF_RACERS; i++) {
		pthread_join(racers[i].thread, NULL);
		won += racers[i].ret == 0;
		ebadfd += racers[i].ret == -1 && racers[i].err == EBADFD;
	}
	pthread_barrier_destroy(&line);
	close(fd);
	tally->checks++;
	tally->differs += !(won == 1 && ebadfd == UMOCK_SELF_RACERS - 1);
	printf("%-7s %-58s %u won, %u EBADFD; mshv-emu 1 won, %u EBADFD\n",
	       won == 1 && ebadfd == UMOCK_SELF_RACERS - 1 ? "same" : "DIFFERS",
	       "race: 8 threads REQUEST_VERSION(1) on one fd", won, ebadfd, UMOCK_SELF_RACERS - 1);
}

/*
 * Run CHILD_FN in a child process.  The child only opens the device and
 * calls ioctl, or execs, then _exit()s: nothing that needs the parent's
 * other threads.  Returns the wait status, or -1.
 */
static int self_in_child(void (*child_fn)(void))
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		child_fn();
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/* Exit 0 if a bad non-NULL argument comes back as EFAULT, 3 if otherwise. */
static void self_child_bad_pointer(void)
{
	const char *step;
	int fd = mshv_open_versioned(1, &step);

	if (fd < 0)
		_exit(4);
	errno = 0;
	if (ioctl(fd, MSHV_NEGOTIATED_CHECK_EXTENSION, (void *)16) == -1 && errno == EFAULT)
		_exit(0);
	_exit(3);
}

/* Open the node from a fresh process image, with or without the preload. */
static void self_child_exec_open(bool keep_preload)
{
	if (!keep_preload)
		unsetenv("LD_PRELOAD");
	/* "<", not "<>": a redirection that may create must not make a file
	 * in the real /dev when the node is missing there. */
	execl("/bin/sh", "sh", "-c", "exec 3<" UMOCK_DEVICE, (char *)NULL);
}

static void self_child_exec_with_preload(void)
{
	self_child_exec_open(true);
}

static void self_child_exec_without_preload(void)
{
	self_child_exec_open(false);
}

static void self_status(struct self_tally *tally, const char *what, int status, const char *want)
{
	bool same = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;

	tally->checks++;
	tally->differs += !same;
	printf("%-7s %-58s ", same ? "same" : "DIFFERS", what);
	if (status < 0)
		printf("fork/wait failed");
	else if (WIFSIGNALED(status))
		printf("killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		printf("exit status %d", WEXITSTATUS(status));
	printf("; mshv-emu %s\n", want);
}

/* Concurrent callers, each on its own fd: every answer must still be 1. */
static void self_concurrent(struct self_tally *tally)
{
	struct bench_options options = {.threads = UMOCK_SELF_RACERS, .calls = 1000, .warmup = 0};
	struct bench_result result = {0};
	struct bench_error err = {0};
	bool same;
	int ret;

	ret = bench_run(&options, &result, &err);
	same = ret == 0 && result.failures == 0;
	tally->checks++;
	tally->differs += !same;
	printf("%-7s %-58s ", same ? "same" : "DIFFERS",
	       "8 threads x 1000 CHECK_EXTENSION(1), one fd each");
	if (ret)
		printf("%s\n", err.message);
	else
		printf("%" PRIu64 " of %zu answers not 1; mshv-emu 0\n", result.failures,
		       result.calls);
}

/* Returns 0 when the checks ran (differences are results), -errno if not. */
static int self_test(struct bench_error *err)
{
	struct self_tally tally = {0};
	int fd, other, status;

	fd = open(UMOCK_DEVICE, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		bench_error_set(err, errno, "open `%s`: %s", UMOCK_DEVICE, strerror(errno));
		return -err->errnum;
	}
	self_node(&tally, fd);

	self_u32(&tally, "CHECK_EXTENSION(1) before REQUEST_VERSION", fd,
		 MSHV_NEGOTIATED_CHECK_EXTENSION, MSHV_CAP_REGISTER_PAGE, -1, EBADFD);
	self_u32(&tally, "unknown ioctl 0x4004b8ff before REQUEST_VERSION", fd,
		 _IOW(MSHV_IOCTL, 0xff, __u32), 0, -1, EBADFD);
	self_u32(&tally, "REQUEST_VERSION(0): errno 524, kernel-internal", fd, MSHV_REQUEST_VERSION,
		 0, -1, MSHV_ENOTSUPP);
	self_u32(&tally, "REQUEST_VERSION(3)", fd, MSHV_REQUEST_VERSION, 3, -1, MSHV_ENOTSUPP);
	self_ioctl(&tally, "REQUEST_VERSION(NULL)", fd, MSHV_REQUEST_VERSION, NULL, -1, EFAULT);
	self_u32(&tally, "REQUEST_VERSION(1) after refusals", fd, MSHV_REQUEST_VERSION, 1, 0, 0);
	self_u32(&tally, "REQUEST_VERSION(2) on a versioned fd", fd, MSHV_REQUEST_VERSION, 2, -1,
		 EBADFD);
	self_u32(&tally, "CHECK_EXTENSION(0): 0, known but unsupported", fd,
		 MSHV_NEGOTIATED_CHECK_EXTENSION, MSHV_CAP_CORE_API_STABLE, 0, 0);
	self_u32(&tally, "CHECK_EXTENSION(1): positive result", fd, MSHV_NEGOTIATED_CHECK_EXTENSION,
		 MSHV_CAP_REGISTER_PAGE, 1, 0);
	self_u32(&tally, "CHECK_EXTENSION(2) on a version-1 fd", fd,
		 MSHV_NEGOTIATED_CHECK_EXTENSION, MSHV_CAP_VTL_RETURN_ACTION, -1, EOPNOTSUPP);
	self_u32(&tally, "CHECK_EXTENSION(0x1000): unknown", fd, MSHV_NEGOTIATED_CHECK_EXTENSION,
		 0x1000, -1, EOPNOTSUPP);
	self_ioctl(&tally, "CHECK_EXTENSION(NULL)", fd, MSHV_NEGOTIATED_CHECK_EXTENSION, NULL, -1,
		   EFAULT);
	self_u32(&tally, "unknown ioctl 0x4004b8ff after REQUEST_VERSION", fd,
		 _IOW(MSHV_IOCTL, 0xff, __u32), 0, -1, ENOTTY);

	other = open(UMOCK_DEVICE, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (other >= 0) {
		self_u32(&tally, "per fd: a second fd starts unversioned", other,
			 MSHV_NEGOTIATED_CHECK_EXTENSION, MSHV_CAP_REGISTER_PAGE, -1, EBADFD);
		self_u32(&tally, "per fd: REQUEST_VERSION(2) on the second fd", other,
			 MSHV_REQUEST_VERSION, 2, 0, 0);
		self_u32(&tally, "per fd: CHECK_EXTENSION(2) on the version-2 fd", other,
			 MSHV_NEGOTIATED_CHECK_EXTENSION, MSHV_CAP_VTL_RETURN_ACTION, 1, 0);
		self_u32(&tally, "per fd: ... and still refused on the version-1 fd", fd,
			 MSHV_NEGOTIATED_CHECK_EXTENSION, MSHV_CAP_VTL_RETURN_ACTION, -1,
			 EOPNOTSUPP);
		close(other);
	} else {
		self_report(&tally, "per fd: open a second fd", -1, errno, 0, 0);
	}

	self_race(&tally);
	self_concurrent(&tally);

	status = self_in_child(self_child_bad_pointer);
	self_status(&tally, "bad pointer 0x10 (in a child process)", status,
		    "returns -1 errno 14 (EFAULT)");
	self_u32(&tally, "the testbed still answers after that child", fd,
		 MSHV_NEGOTIATED_CHECK_EXTENSION, MSHV_CAP_REGISTER_PAGE, 1, 0);

	status = self_in_child(self_child_exec_with_preload);
	self_status(&tally, "another process, under the preload, opens it", status, "opens it");
	status = self_in_child(self_child_exec_without_preload);
	self_status(&tally, "another process, without the preload, opens it", status, "opens it");

	close(fd);
	printf("%u checks, %u differ from mshv-emu\n", tally.checks, tally.differs);
	return 0;
}

/* ---- --exec: run a command against the testbed ---- */

/* Run ARGV (inheriting LD_PRELOAD and UMOCKDEV_DIR) and wait for it.
 * Returns its exit status (128 + signal if killed), or -errno with ERR set. */
static int bench_exec(char **argv, struct bench_error *err)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		bench_error_set(err, errno, "fork for `%s`: %s", argv[0], strerror(errno));
		return -err->errnum;
	}
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "bench-umockdev: exec `%s`: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid) {
		bench_error_set(err, errno, "wait for `%s`: %s", argv[0], strerror(errno));
		return -err->errnum;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* ---- options, main ---- */

static const char usage_text[] =
	"usage: umockdev-wrapper bench-umockdev [--threads N] [--calls N] [--warmup N]\n"
	"       umockdev-wrapper bench-umockdev --selftest\n"
	"       umockdev-wrapper bench-umockdev --exec COMMAND [ARG...]\n"
	"       bench-umockdev --help\n";

static void usage_print(FILE *out, bool full)
{
	fputs(usage_text, out);
	if (!full)
		return;
	fputs("\n/dev/mshv emulated by umockdev (the \"negotiated\" profile of the default\n"
	      "policy), measured with CHECK_EXTENSION(REGISTER_PAGE) at 0x4004B801.\n"
	      "Must run under libumockdev-preload: umockdev-wrapper, or\n"
	      "LD_PRELOAD=libumockdev-preload.so.0.\n\n"
	      "  --threads N   client threads, one fd each (default 1, at most 50)\n"
	      "  --calls N     timed calls per thread (default 5000)\n"
	      "  --warmup N    untimed calls per thread first (default 200)\n"
	      "  --selftest    print what the emulation answers against mshv-emu\n"
	      "  --exec CMD    run CMD (say mshv-probe --json) against the testbed;\n"
	      "                exit with its status\n\n"
	      "Output: one JSON line, {\"suite\":\"e2e\",\"label\":\"umockdev\",...}.\n"
	      "Exit status: 0 ok, 1 failure, 2 usage error or not under the preload.\n",
	      out);
}

static bool parse_uint(const char *text, unsigned long min, unsigned long max, unsigned int *out)
{
	unsigned long value;
	char *end;

	if (!text[0] || text[0] == '-')
		return false;
	errno = 0;
	value = strtoul(text, &end, 0);
	if (errno || *end || value < min || value > max)
		return false;
	*out = (unsigned int)value;
	return true;
}

enum bench_mode {
	MODE_BENCH,
	MODE_SELFTEST,
	MODE_EXEC,
};

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"threads", required_argument, NULL, 't'},
		{"calls", required_argument, NULL, 'n'},
		{"warmup", required_argument, NULL, 'w'},
		{"selftest", no_argument, NULL, 's'},
		{"exec", no_argument, NULL, 'x'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct bench_options options = {1, UMOCK_CALLS, UMOCK_WARMUP};
	struct bench_result result = {0};
	struct bench_error err = {0};
	struct umock_bed bed = {0};
	enum bench_mode mode = MODE_BENCH;
	int opt, ret;

	/* "+": stop at the first non-option, the command of --exec. */
	while ((opt = getopt_long(argc, argv, "+", long_options, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (!parse_uint(optarg, 1, UMOCK_THREADS_MAX, &options.threads)) {
				fprintf(stderr, "bench-umockdev: --threads: `%s` is not 1-%d\n",
					optarg, UMOCK_THREADS_MAX);
				goto usage;
			}
			break;
		case 'n':
			if (!parse_uint(optarg, 1, 100000000, &options.calls)) {
				fprintf(stderr,
					"bench-umockdev: --calls: `%s` is not 1-100000000\n",
					optarg);
				goto usage;
			}
			break;
		case 'w':
			if (!parse_uint(optarg, 0, 100000000, &options.warmup)) {
				fprintf(stderr,
					"bench-umockdev: --warmup: `%s` is not 0-100000000\n",
					optarg);
				goto usage;
			}
			break;
		case 's':
			mode = MODE_SELFTEST;
			break;
		case 'x':
			mode = MODE_EXEC;
			break;
		case 'h':
			usage_print(stdout, true);
			return 0;
		default:
			goto usage;
		}
	}
	if (mode == MODE_EXEC ? optind >= argc : optind < argc) {
		fprintf(stderr,
			mode == MODE_EXEC ? "bench-umockdev: --exec: no command\n"
					  : "bench-umockdev: unexpected argument `%s`\n",
			argv[optind]);
		goto usage;
	}

	if (!bench_preloaded()) {
		fprintf(stderr,
			"bench-umockdev: %s.so is not loaded: umockdev emulates %s only\n"
			"inside a process started under its preload library.  Run it as\n"
			"  umockdev-wrapper %s [OPTIONS]\n"
			"or with LD_PRELOAD=libumockdev-preload.so.0 in its environment.\n",
			UMOCK_PRELOAD, UMOCK_DEVICE, argv[0]);
		return 2;
	}

	ret = umock_bed_create(&bed, &err);
	if (ret < 0)
		goto fail;
	switch (mode) {
	case MODE_BENCH:
		ret = bench_run(&options, &result, &err);
		if (!ret)
			bench_print(&options, &result);
		break;
	case MODE_SELFTEST:
		ret = self_test(&err);
		break;
	case MODE_EXEC:
		ret = bench_exec(argv + optind, &err);
		break;
	default:
		ret = -EINVAL;
		break;
	}
	umock_bed_destroy(&bed);
	if (ret < 0)
		goto fail;
	return mode == MODE_EXEC ? ret : 0;

fail:
	umock_bed_destroy(&bed);
	if (!err.message[0])
		bench_error_set(&err, -ret, "%s", strerror(-ret));
	fprintf(stderr, "bench-umockdev: %s\n", err.message);
	return 1;
usage:
	usage_print(stderr, false);
	return 2;
}
