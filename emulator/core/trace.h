/*
 * trace.h - the transcript: one JSON Lines event per open, ioctl and release.
 *
 * The ioctl path only copies a fixed-size record into a lock-free bounded
 * ring (no allocation, no lock, no syscall); a writer thread formats and
 * writes the records.  When the ring is full the record is dropped and
 * counted; the writer reports drops in the transcript itself, so a gap is
 * never silent.  Lines a write error loses are counted too, logged, and
 * reported in the transcript once writing works again.  With no transcript
 * open, the cost is one pointer load.
 */
#ifndef MSHV_EMU_TRACE_H
#define MSHV_EMU_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

enum trace_kind {
	TRACE_OPEN,
	TRACE_IOCTL,
	TRACE_RELEASE,
};

#define TRACE_NAME_MAX 48

/*
 * What a root-driver call did, enough to replay it: the hypercall (code;
 * once it ran, its status and the property read or set) or CREATE_PARTITION
 * (flags, isolation, and the feature banks when the v2 structure was read).
 */
enum trace_detail_kind {
	TRACE_DETAIL_NONE,
	TRACE_DETAIL_HVCALL,
	TRACE_DETAIL_CREATE_PARTITION,
};

#define TRACE_BANKS 2

struct trace_detail {
	enum trace_detail_kind kind;
	bool called;	   /* HVCALL: it reached the hypervisor: status is set */
	bool has_property; /* HVCALL: a property call: property, value are set */
	uint16_t hv_code;
	uint16_t hv_status;
	uint32_t property;
	uint64_t value; /* read (on success) or set */
	uint64_t flags, isolation;
	bool has_banks; /* CREATE_PARTITION: the v2 structure was read */
	bool no_fd;	/* CREATE_PARTITION: valid, but the transport makes no fds */
	uint16_t bank_count;
	uint64_t banks[TRACE_BANKS];
};

/* One event, as the core saw it.  Strings are copied in: the snapshot they
 * came from may be gone by the time the writer runs. */
struct trace_event {
	uint64_t time_ns; /* CLOCK_REALTIME */
	uint64_t session; /* the session id: the Nth open of the device */
	uint64_t generation;
	int32_t pid;
	uint32_t uid;
	enum trace_kind kind;
	uint32_t cmd;	/* TRACE_IOCTL */
	bool has_arg;	/* the call carried a __u32 argument */
	uint32_t arg;	/* ... this one (capability id, version) */
	int32_t result; /* >= 0 value, < 0 -errno */
	bool deferred;	/* answered later (delay, hang): result is what was decided now */
	char ioctl[TRACE_NAME_MAX]; /* "MSHV_CHECK_EXTENSION", or "" when unknown */
	char fault[TRACE_NAME_MAX]; /* the rule that fired, or "" */
	char comm[16]; /* the caller's command name if known, else "": the writer asks /proc */
	struct trace_detail detail; /* TRACE_IOCTL of a root op; kind NONE otherwise */
};

struct trace;

/*
 * trace_open - start a transcript to PATH (files_open_write: created 0600
 * or truncated) and its writer thread.  Returns NULL with a message in
 * DIAGS if PATH cannot be opened.  Cold path.
 */
struct trace *trace_open(const char *path, struct diag_list *diags);

/*
 * trace_set_log - where writer threads report write errors: LOG (the
 * daemon's log line, without a newline), or stderr when NULL.  Set it before
 * the first trace_open.
 */
void trace_set_log(void (*log)(const char *fmt, ...));

/* trace_record - queue EV; never blocks.  Safe from any thread, any number
 * at once, including inside an RCU read section. */
void trace_record(struct trace *trace, const struct trace_event *ev);

/* trace_dropped - events dropped so far because the ring was full. */
uint64_t trace_dropped(const struct trace *trace);

/* What a transcript lost so far. */
struct trace_counts {
	uint64_t dropped;   /* events: the ring was full */
	uint64_t unwritten; /* lines: a write failed */
	int write_errno;    /* the last write error, 0 if none */
};

/* trace_counts - TRACE's losses so far; any thread, while it runs. */
void trace_counts(const struct trace *trace, struct trace_counts *out);

/* trace_path - the file this transcript writes. */
const char *trace_path(const struct trace *trace);

/*
 * trace_close - write what is queued, a final line if anything was dropped,
 * stop the writer, close the file, free TRACE, and (if FINAL is not NULL)
 * store its losses there.  No trace_record may run concurrently (unpublish
 * it and wait for readers first).
 */
void trace_close(struct trace *trace, struct trace_counts *final);

#endif
