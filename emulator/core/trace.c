/*
 * trace.c - the transcript (see trace.h): a bounded lock-free ring that any
 * thread records into, and one writer thread that turns it into JSON Lines.
 *
 * The ring is Dmitry Vyukov's bounded MPMC queue (per-slot sequence numbers),
 * with the dequeue side reduced to plain loads and stores because only the
 * writer thread ever dequeues.
 *
 * The writer formats whole lines into a memory stream and writes them with
 * write(2) itself, between lines, so that a write error loses whole lines it
 * can count: a line cut short is cut off the file again, the lost lines are
 * counted (trace_counts, mshvctl status), logged (once, then at most once a
 * minute while it lasts) and, once writing works again, reported in band
 * like drops.
 *
 * It deliberately does not: block, allocate or make a syscall when recording;
 * wake the writer (the writer polls every 2 ms when idle, so a producer never
 * pays for a futex); read anything about the caller at record time (comm is
 * looked up later by the writer); rotate or fsync the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mshv-emu/mshv_emu.h>

#include "errnames.h"
#include "hvnames.h"
#include "json.h"
#include "files.h"
#include "trace.h"

#define RING_SLOTS    16384 /* a power of two, so a position maps to its slot by masking */
#define RING_MASK     (RING_SLOTS - 1)
#define CACHE_LINE    64
#define COMM_BYTES    64 /* the kernel's TASK_COMM_LEN is 16 */
#define IDLE_PAUSE_NS 2000000L
#define NS_PER_SEC    UINT64_C(1000000000)
#define FLUSH_BYTES   (1 << 16)		/* write once this much is waiting, or when idle */
#define LOG_INTERVAL  (60 * NS_PER_SEC) /* between two log lines about write errors */

struct trace_slot {
	/*
	 * Vyukov's turn counter.  For the producer that claims position pos:
	 * == pos while the slot is free for it, == pos + 1 once its event is
	 * published, == pos + RING_SLOTS once the writer has copied it out and
	 * the next lap may reuse the slot.
	 */
	_Atomic uint64_t sequence;
	struct trace_event event;
};

struct trace {
	/* Written by every producer: a line of its own, away from the writer. */
	_Alignas(CACHE_LINE) _Atomic uint64_t enqueue_pos;
	/* Written only on overflow, read by the writer per event: its own line
	 * keeps those reads from pulling enqueue_pos away from the producers. */
	_Alignas(CACHE_LINE) _Atomic uint64_t dropped;

	/* Writer-thread state; trace_close's once the writer is joined. */
	_Alignas(CACHE_LINE) uint64_t dequeue_pos;
	_Atomic bool stopping;
	uint64_t drops_reported; /* the total in the last "dropped" line */
	bool drop_pending;	 /* a growth was seen; its line is not written yet */
	uint64_t drop_total;	 /* ... the total seen then */
	uint64_t drop_due_pos;	 /* ... and the line goes after the events below this */
	bool comm_cached;	 /* one pid -> comm pair; comm_valid: it could be read */
	bool comm_valid;
	int32_t comm_pid;
	char comm[COMM_BYTES];
	FILE *file;		     /* a memory stream: whole lines waiting for write(2) */
	char *pending;		     /* ... its buffer */
	size_t pending_len;	     /* ... and length, as of its last fflush */
	int fd;			     /* the transcript */
	off_t kept;		     /* bytes of whole lines in it */
	bool failing;		     /* the last write failed */
	bool failure_logged;	     /* a failure was logged since the last recovery was */
	uint64_t logged_ns;	     /* when a failure was last logged (CLOCK_MONOTONIC) */
	uint64_t unwritten_reported; /* the total in the last "unwritten" line */
	char *path;
	pthread_t writer;

	/* Written by the writer on a write error, read by trace_counts. */
	_Atomic uint64_t unwritten; /* lines lost to write errors */
	_Atomic int write_errno;    /* the last write error, 0 before any */

	struct trace_slot slots[RING_SLOTS];
};

void trace_record(struct trace *trace, const struct trace_event *ev)
{
	if (!trace)
		return;
	/* Relaxed: the position is only a claim ticket.  The slot's contents
	 * are ordered by the slot's sequence, never by enqueue_pos. */
	uint64_t pos = atomic_load_explicit(&trace->enqueue_pos, memory_order_relaxed);
	struct trace_slot *slot;
	for (;;) {
		slot = &trace->slots[pos & RING_MASK];
		/* Acquire pairs with the writer's release after it copied the
		 * previous lap's event out, so our copy in cannot race its read. */
		uint64_t seq = atomic_load_explicit(&slot->sequence, memory_order_acquire);
		int64_t lag = (int64_t)(seq - pos);
		if (lag == 0) {
			/* Relaxed either way: winning only grants the slot, whose
			 * reuse is already ordered by the acquire above; losing
			 * reloads pos into the loop. */
			if (atomic_compare_exchange_weak_explicit(&trace->enqueue_pos, &pos,
								  pos + 1, memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (lag < 0) {
			/* The slot still holds the event of one lap ago: full.
			 * Release so that a writer that sees this count (acquire)
			 * then reads an enqueue_pos of at least pos, which is
			 * where writer_note_drops places the line. */
			atomic_fetch_add_explicit(&trace->dropped, 1, memory_order_release);
			return;
		} else {
			/* Another producer took pos first. */
			pos = atomic_load_explicit(&trace->enqueue_pos, memory_order_relaxed);
		}
	}
	slot->event = *ev;
	/* Release publishes the event to the writer's acquire in ring_pop. */
	atomic_store_explicit(&slot->sequence, pos + 1, memory_order_release);
}

/* ring_pop - copy the next event out; false if it is not published yet.
 * Writer thread only. */
static bool ring_pop(struct trace *trace, struct trace_event *out)
{
	struct trace_slot *slot = &trace->slots[trace->dequeue_pos & RING_MASK];
	/* Acquire pairs with trace_record's release: the event's bytes are in. */
	uint64_t seq = atomic_load_explicit(&slot->sequence, memory_order_acquire);
	if (seq != trace->dequeue_pos + 1)
		return false; /* empty, or its producer is still copying: keep order */
	*out = slot->event;
	/* Release: our read happens before the next lap's producer writes. */
	atomic_store_explicit(&slot->sequence, trace->dequeue_pos + RING_SLOTS,
			      memory_order_release);
	trace->dequeue_pos++;
	return true;
}

/* writer_comm - /proc/PID/comm without its newline, or NULL once the process
 * is gone (or in another pid namespace: FUSE then reports pid 0).  The last
 * pair is cached: a session's events come in runs from one process. */
static const char *writer_comm(struct trace *trace, int32_t pid)
{
	if (trace->comm_cached && trace->comm_pid == pid)
		return trace->comm_valid ? trace->comm : NULL;
	trace->comm_cached = true;
	trace->comm_pid = pid;
	trace->comm_valid = false;
	char path[32];
	snprintf(path, sizeof(path), "/proc/%" PRId32 "/comm", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, trace->comm, sizeof(trace->comm) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	if (trace->comm[n - 1] == '\n')
		n--;
	trace->comm[n] = '\0';
	trace->comm_valid = true;
	return trace->comm;
}

/* `,"hvcall":{...}` or `,"create_partition":{...}`: what a root-driver call
 * did, enough to replay it.  Names come from the uapi lists; an unnamed code
 * is null.  64-bit values are hex strings: JSON numbers lose precision past
 * 2^53 in most readers. */
static void writer_detail(FILE *out, const struct trace_detail *d)
{
	if (d->kind == TRACE_DETAIL_HVCALL) {
		fprintf(out, ",\"hvcall\":{\"code\":\"0x%04" PRIx16 "\",\"name\":", d->hv_code);
		json_string(out, hv_name_of(&hv_hvcalls, d->hv_code), SIZE_MAX);
		if (d->called) {
			if (d->has_property) {
				fprintf(out, ",\"property\":\"0x%08" PRIx32 "\",\"property_name\":",
					d->property);
				json_string(out, hv_name_of(&hv_properties, d->property), SIZE_MAX);
				/* What was read, or what the caller tried to set. */
				if (!d->hv_status ||
				    d->hv_code == MSHV_EMU_HVCALL_SET_PARTITION_PROPERTY)
					fprintf(out, ",\"value\":\"0x%" PRIx64 "\"", d->value);
			}
			fprintf(out, ",\"status\":%" PRIu16 ",\"status_name\":", d->hv_status);
			json_string(out, hv_name_of(&hv_statuses, d->hv_status), SIZE_MAX);
		}
		fputc('}', out);
	} else if (d->kind == TRACE_DETAIL_CREATE_PARTITION) {
		fputs(",\"create_partition\":{", out);
		fprintf(out, "\"flags\":\"0x%" PRIx64 "\"", d->flags);
		fprintf(out, ",\"isolation\":%" PRIu64, d->isolation);
		if (d->has_banks) {
			fprintf(out, ",\"bank_count\":%" PRIu16 ",\"banks\":[", d->bank_count);
			for (int i = 0; i < TRACE_BANKS; i++)
				fprintf(out, "%s\"0x%" PRIx64 "\"", i ? "," : "", d->banks[i]);
			fputc(']', out);
		}
		if (d->no_fd)
			fputs(",\"no_fd\":true", out);
		fputc('}', out);
	}
}

static void writer_event(struct trace *trace, const struct trace_event *ev)
{
	static const char *const kinds[] = {
		[TRACE_OPEN] = "open",
		[TRACE_IOCTL] = "ioctl",
		[TRACE_RELEASE] = "release",
	};
	const char *kind = (unsigned)ev->kind <= TRACE_RELEASE ? kinds[ev->kind] : "unknown";
	FILE *out = trace->file;
	time_t seconds = (time_t)(ev->time_ns / NS_PER_SEC);
	char stamp[32] = "invalid";
	struct tm tm;
	if (gmtime_r(&seconds, &tm))
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

	fprintf(out,
		"{\"time\":\"%s.%09" PRIu64 "Z\",\"event\":\"%s\",\"pid\":%" PRId32 ",\"comm\":",
		stamp, ev->time_ns % NS_PER_SEC, kind, ev->pid);
	json_string(out, ev->comm[0] ? ev->comm : writer_comm(trace, ev->pid), COMM_BYTES);
	fprintf(out, ",\"uid\":%" PRIu32 ",\"session\":%" PRIu64, ev->uid, ev->session);
	if (ev->kind == TRACE_IOCTL) {
		fputs(",\"ioctl\":", out);
		json_string(out, ev->ioctl[0] ? ev->ioctl : NULL, sizeof(ev->ioctl));
		fprintf(out, ",\"cmd\":\"0x%08" PRIx32 "\",\"arg\":", ev->cmd);
		if (ev->has_arg)
			fprintf(out, "%" PRIu32, ev->arg);
		else
			fputs("null", out);
		writer_detail(out, &ev->detail);
	}
	if (ev->result >= 0) {
		fprintf(out, ",\"result\":%" PRId32, ev->result);
	} else {
		/* 64-bit, so that even INT32_MIN negates. */
		int64_t err = -(int64_t)ev->result;
		fprintf(out, ",\"result\":-1,\"errno\":%" PRId64 ",\"errno_name\":", err);
		json_string(out, err <= INT_MAX ? errname_of((int)err) : NULL, SIZE_MAX);
	}
	if (ev->deferred)
		fputs(",\"deferred\":true", out);
	fputs(",\"fault\":", out);
	json_string(out, ev->fault[0] ? ev->fault : NULL, sizeof(ev->fault));
	fprintf(out, ",\"generation\":%" PRIu64 "}\n", ev->generation);
}

static void (*log_line)(const char *fmt, ...);

void trace_set_log(void (*log)(const char *fmt, ...))
{
	log_line = log;
}

__attribute__((format(printf, 1, 2))) static void writer_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_line)
		log_line("%s", line);
	else
		fprintf(stderr, "%s\n", line);
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* A write failed with ERR: say so at once, then at most once a minute. */
static void writer_failed(struct trace *trace, int err)
{
	trace->failing = true;
	uint64_t now = monotonic_ns();
	if (trace->logged_ns && now - trace->logged_ns < LOG_INTERVAL)
		return;
	const char *name = errname_of(err);
	writer_log("transcript %s: write failed: %s (%s); %" PRIu64
		   " lines lost so far, counted by `mshvctl status`; free space or "
		   "`mshvctl trace start` another file",
		   trace->path, strerror(err), name ? name : "?",
		   atomic_load_explicit(&trace->unwritten, memory_order_relaxed));
	trace->logged_ns = now;
	trace->failure_logged = true;
}

/*
 * write_whole - write LEN bytes of whole lines at the end of what is kept.
 * Returns 0, or the error; then a line written in part is cut off the file
 * again (best effort), so that it holds whole lines only, and *LOST is the
 * number of lines lost.
 */
static int write_whole(struct trace *trace, const char *buf, size_t len, uint64_t *lost)
{
	size_t done = 0;
	int err = 0;
	while (done < len) {
		ssize_t n = write(trace->fd, buf + done, len - done);
		if (n > 0) {
			done += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			err = n < 0 ? errno : EIO;
			break;
		}
	}
	size_t keep = done;
	if (err)
		while (keep && buf[keep - 1] != '\n')
			keep--;
	if (keep != done && ftruncate(trace->fd, trace->kept + (off_t)keep) == 0)
		lseek(trace->fd, trace->kept + (off_t)keep, SEEK_SET);
	trace->kept += (off_t)keep;
	*lost = 0;
	for (size_t i = keep; i < len; i++)
		*lost += buf[i] == '\n';
	return err;
}

/* After write errors, a line where the lost lines are missing, before any
 * line written after them, and a log line once per failure logged. */
static int writer_mark_gap(struct trace *trace)
{
	uint64_t total = atomic_load_explicit(&trace->unwritten, memory_order_relaxed), lost;
	char line[128];
	int len =
		snprintf(line, sizeof(line),
			 "{\"event\":\"unwritten\",\"count\":%" PRIu64 ",\"total\":%" PRIu64 "}\n",
			 total - trace->unwritten_reported, total);
	int err = write_whole(trace, line, (size_t)len, &lost);
	if (err)
		return err;
	trace->failing = false;
	trace->unwritten_reported = total;
	if (trace->failure_logged) {
		writer_log("transcript %s: writing again; %" PRIu64 " lines lost in all",
			   trace->path, total);
		trace->failure_logged = false;
	}
	return 0;
}

/*
 * writer_flush - write the lines waiting (after the gap line, if writes
 * failed before); on an error, count the lines lost.  CLOSING: the last
 * flush, which marks a gap even with nothing else to write.
 */
static void writer_flush(struct trace *trace, bool closing)
{
	fflush(trace->file);
	size_t len = trace->pending_len;
	if (!len && !(closing && trace->failing))
		return;
	uint64_t lost = 0;
	for (const char *p = trace->pending; p < trace->pending + len; p++)
		lost += *p == '\n';
	int err = trace->failing ? writer_mark_gap(trace) : 0;
	if (!err)
		err = write_whole(trace, trace->pending, len, &lost);
	rewind(trace->file);
	if (!err)
		return;
	/* Relaxed: statistics for mshvctl; nothing is read on their strength. */
	atomic_fetch_add_explicit(&trace->unwritten, lost, memory_order_relaxed);
	atomic_store_explicit(&trace->write_errno, err, memory_order_relaxed);
	writer_failed(trace, err);
}

static void writer_drop_line(struct trace *trace, uint64_t total)
{
	fprintf(trace->file,
		"{\"event\":\"dropped\",\"count\":%" PRIu64 ",\"total\":%" PRIu64 "}\n",
		total - trace->drops_reported, total);
	trace->drops_reported = total;
}

/*
 * writer_note_drops - report new drops once the events queued before them
 * are written, so the line sits at the gap rather than up to a ring's worth
 * of events earlier.  Called after each event and whenever the ring is empty.
 */
static void writer_note_drops(struct trace *trace)
{
	if (!trace->drop_pending) {
		/* Acquire pairs with the release in trace_record's drop path. */
		uint64_t total = atomic_load_explicit(&trace->dropped, memory_order_acquire);
		if (total == trace->drops_reported)
			return;
		trace->drop_pending = true;
		trace->drop_total = total;
		/* Relaxed suffices: coherence after that acquire already makes
		 * this at least every dropping producer's pos. */
		trace->drop_due_pos =
			atomic_load_explicit(&trace->enqueue_pos, memory_order_relaxed);
	}
	if ((int64_t)(trace->dequeue_pos - trace->drop_due_pos) < 0)
		return;
	writer_drop_line(trace, trace->drop_total);
	trace->drop_pending = false;
}

static void *writer_run(void *arg)
{
	struct trace *trace = arg;
	const struct timespec idle_pause = {.tv_nsec = IDLE_PAUSE_NS};
	struct trace_event ev;

	for (;;) {
		/* Read before draining: once set, every event recorded before
		 * trace_close is published (acquire pairs with its release),
		 * so this drain is the last one needed. */
		bool stopping = atomic_load_explicit(&trace->stopping, memory_order_acquire);
		while (ring_pop(trace, &ev)) {
			writer_event(trace, &ev);
			writer_note_drops(trace);
			if (ftello(trace->file) >= FLUSH_BYTES)
				writer_flush(trace, false);
		}
		writer_note_drops(trace);
		if (stopping)
			return NULL;
		/* Idle: make what we have visible, then poll again later rather
		 * than have producers wake us. */
		writer_flush(trace, false);
		nanosleep(&idle_pause, NULL);
	}
}

struct trace *trace_open(const char *path, struct diag_list *diags)
{
	struct trace *trace = NULL;
	char *path_copy = NULL;
	int fd = files_open_write(path, "transcript", diags);
	if (fd < 0)
		goto fail;
	trace = aligned_alloc(CACHE_LINE, sizeof(*trace));
	if (trace)
		memset(trace, 0, offsetof(struct trace, slots));
	path_copy = strdup(path);
	if (!trace || !path_copy) {
		diag_add(diags, path, 0, 0, "allocate transcript: %s", strerror(ENOMEM));
		goto fail;
	}
	atomic_init(&trace->enqueue_pos, 0);
	atomic_init(&trace->dropped, 0);
	atomic_init(&trace->stopping, false);
	atomic_init(&trace->unwritten, 0);
	atomic_init(&trace->write_errno, 0);
	for (uint64_t i = 0; i < RING_SLOTS; i++)
		atomic_init(&trace->slots[i].sequence, i);
	trace->fd = fd;
	trace->path = path_copy;
	if (!(trace->file = open_memstream(&trace->pending, &trace->pending_len))) {
		diag_add(diags, path, 0, 0, "allocate transcript: %s", strerror(errno));
		goto fail;
	}

	/* The writer blocks every signal: a process-directed signal (SIGTERM,
	 * SIGHUP) must reach a thread that acts on it, such as libfuse's loop
	 * waiting for EINTR, not this one. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&trace->writer, NULL, writer_run, trace);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		diag_add(diags, path, 0, 0, "start writer thread: %s", strerror(err));
		goto fail;
	}
	pthread_setname_np(trace->writer, "mshv-trace");
	return trace;

fail:
	if (trace && trace->file) {
		fclose(trace->file);
		free(trace->pending);
	}
	free(path_copy);
	free(trace);
	if (fd >= 0)
		close(fd);
	return NULL;
}

uint64_t trace_dropped(const struct trace *trace)
{
	/* Relaxed: a statistic; nothing else is read on the strength of it. */
	return atomic_load_explicit(&trace->dropped, memory_order_relaxed);
}

void trace_counts(const struct trace *trace, struct trace_counts *out)
{
	/* Relaxed: statistics, each read on its own. */
	out->dropped = atomic_load_explicit(&trace->dropped, memory_order_relaxed);
	out->unwritten = atomic_load_explicit(&trace->unwritten, memory_order_relaxed);
	out->write_errno = atomic_load_explicit(&trace->write_errno, memory_order_relaxed);
}

const char *trace_path(const struct trace *trace)
{
	return trace->path;
}

void trace_close(struct trace *trace, struct trace_counts *final)
{
	if (!trace)
		return;
	/* Release: the caller ordered every trace_record before this call, so
	 * the writer's acquire of stopping also sees all their events. */
	atomic_store_explicit(&trace->stopping, true, memory_order_release);
	pthread_join(trace->writer, NULL);
	/* The join orders the writer's state before us; relaxed is enough. */
	uint64_t total = atomic_load_explicit(&trace->dropped, memory_order_relaxed);
	if (total != trace->drops_reported)
		writer_drop_line(trace, total);
	writer_flush(trace, true);
	if (final)
		trace_counts(trace, final);
	fclose(trace->file);
	free(trace->pending);
	close(trace->fd);
	free(trace->path);
	free(trace);
}
