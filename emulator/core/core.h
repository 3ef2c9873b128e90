/*
 * core.h - the emulator core: per-open sessions, ioctl dispatch, and the
 * RCU-published policy.  No libfuse and no I/O: a front end (CUSE, FUSE), a
 * test or a benchmark drives it with one call per request.
 */
#ifndef MSHV_EMU_CORE_H
#define MSHV_EMU_CORE_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fault.h"
#include "policy.h"
#include "trace.h"

struct emu_partition;

/*
 * What the kernel driver kept per open fd.  A session is one open object:
 * the device (an open of /dev/mshv: its negotiated version), a partition
 * (CREATE_PARTITION: its properties and initialized flag, in PARTITION) or
 * a VP (CREATE_VP: its index, and a reference to its PARTITION).
 */
struct emu_session {
	/* MSHV_VERSION_UNSET until REQUEST_VERSION succeeds; then fixed. */
	_Atomic uint32_t negotiated;
	/* Cached gating bit for the snapshot it was computed from:
	 * generation << 8 | (index in snap->versions + 1), 0 when none. */
	_Atomic uint64_t version_gate;
	uint64_t id;
	/* Who opened it, read once at open for the transcript: a short-lived
	 * client may be gone before the transcript's writer could ask /proc. */
	int32_t opener_pid;
	uint32_t opener_uid;
	char opener_comm[16];
	enum emu_object object;
	struct emu_partition *partition; /* PARTITION, VP: a counted reference */
	uint32_t vp_index;		 /* VP */
};

/* What an op answers when its transport cannot reach the caller's memory:
 * no kernel answers a hypercall with it, so it cannot be mistaken for one. */
#define EMU_NO_CALLER_MEMORY EOPNOTSUPP

/*
 * What a transport answers when it does not hold the caller's memory an op
 * asked for yet, but can get it: CUSE's unrestricted ioctls, where the
 * kernel copies what the daemon names in a retry.  The call ends without a
 * count or a transcript line, and comes back with the memory (continued).
 * No errno is this large, so it never reaches a caller.
 */
#define EMU_RETRY_WITH_MEMORY 0x10000

/* A stretch of the caller's memory an op will read or write. */
struct emu_region {
	uint64_t addr;
	size_t len;
	bool write;
};

/*
 * What a transport can do beyond the ioctl's own argument (docs/abi.md,
 * "What each transport carries").  Any member may be NULL: the transport
 * cannot, and the op answers the documented errno.
 *   read / write  copy LEN bytes of the caller's memory at ADDR: 0, or
 *                 -EFAULT where the caller's copy_from/to_user would fault,
 *                 or -EMU_RETRY_WITH_MEMORY (above).
 *   prepare       the regions an op will read and write, named before it
 *                 acts: an op that writes the caller's memory calls it
 *                 before any effect, so that a retry never repeats one.
 *                 0, or -EMU_RETRY_WITH_MEMORY.
 *   install       bind a new fd in the caller to OBJECT, a session the core
 *                 made (ownership passes on success: core_release frees it
 *                 at the fd's last close); returns the fd or -errno.
 */
struct emu_transport {
	int (*read)(struct emu_transport *transport, uint64_t addr, void *buf, size_t len);
	int (*write)(struct emu_transport *transport, uint64_t addr, const void *buf, size_t len);
	int (*prepare)(struct emu_transport *transport, const struct emu_region *regions,
		       unsigned count);
	int (*install)(struct emu_transport *transport, struct emu_session *object);
};

/*
 * One ioctl as the kernel hands it to a daemon in restricted mode (CUSE's
 * front end presents its unrestricted ioctls the same way): the kernel has
 * already copied _IOC_SIZE(cmd) bytes in (_IOC_WRITE) and will copy up to
 * OUT_SIZE bytes out (_IOC_READ).  ARG is the caller's raw argument: a
 * by-value argument for _IO commands.
 */
struct emu_call {
	uint32_t cmd;
	uint64_t arg;
	const void *in;
	size_t in_size;
	void *out;
	size_t out_size;
	struct emu_caller *caller;	 /* NULL: no caller-specific fault rule matches */
	struct emu_transport *transport; /* NULL: no caller memory, no new fds */
	struct trace_detail detail;	 /* set by root ops, for the transcript */
	/* The same call again, with the memory a transport asked the kernel
	 * for: its faults were decided the first time (none fired). */
	bool continued;

	/* Set by core_ioctl / core_open. */
	size_t out_len;	  /* bytes of OUT to copy back */
	uint64_t hold_ns; /* hold the answer this long (a delay fault) ... */
	bool hang;	  /* ... or until core_release_hung / an interrupt */
	/* Internal to a held call: finish it with core_ioctl_complete. */
	bool redispatch;
	int32_t held_result;
	uint64_t time_ns;
	char fault[TRACE_NAME_MAX];
};

/* Rules armed at runtime (mshvctl inject), RCU-published as a whole.  Their
 * counters live in the core (injected_states), not in the set: a new set is
 * published while workers may still count in the old one, and nothing is
 * copied, so nothing is lost. */
#define CORE_MAX_INJECTED 64

struct fault_set {
	unsigned count;
	struct fault_rule *rules;
	struct fault_state *states; /* the core's injected_states */
};

#define CORE_ERRNO_SLOTS 1024

#define CORE_SHARD_SLOTS 4096
#define CORE_MAX_ENTRIES (POLICY_MAX_IOCTLS + EMU_OP_BUILTIN_COUNT)

struct core_shard;

struct emu_core {
	/* Read on every call, written rarely: kept apart from what is written. */
	struct policy_snapshot *current;    /* RCU (rcu.h): read inside a read section */
	struct fault_set *injected;	    /* RCU; NULL when none */
	struct trace *trace;		    /* RCU; NULL when no transcript */
	_Atomic uint64_t vanished_until_ns; /* CLOCK_MONOTONIC; 0: present */
	struct core_shard *_Atomic *shards; /* per-thread counters (stats.c) */
	struct core_shard *overflow;
	struct fault_state injected_states[CORE_MAX_INJECTED];

	_Alignas(64) pthread_mutex_t publish_lock; /* publishers only; readers never take it */
	uint64_t generation;			   /* under publish_lock */
	_Atomic uint64_t sessions_opened;
	_Atomic uint64_t sessions_open;
	_Atomic uint64_t partitions_created;
	_Atomic uint64_t objects_open; /* partition and VP sessions not yet released */
};

/* Counters summed over threads (mshvctl stats).  ioctl_calls are for the
 * snapshot of GENERATION, indexed like its ioctls. */
struct core_stats {
	uint64_t generation;
	uint64_t calls;
	uint64_t unknown_ioctls;
	uint64_t ioctl_calls[CORE_MAX_ENTRIES];
	uint64_t refusals[CORE_ERRNO_SLOTS]; /* by errno; slot 0: errno >= 1024 */
};

void core_stats(struct emu_core *core, uint64_t generation, struct core_stats *out);

/* core_init - start serving INITIAL (ownership passes) as generation 1. */
void core_init(struct emu_core *core, struct policy_snapshot *initial);

/* core_fini - free the current snapshot.  No reader may be running. */
void core_fini(struct emu_core *core);

/*
 * core_publish - make SNAP (ownership passes) the policy every following
 * call sees; waits for a grace period and frees the old one.  Returns the
 * new generation.  Never call it inside a read section.
 */
uint64_t core_publish(struct emu_core *core, struct policy_snapshot *snap);

/*
 * core_reload - core_publish, unless a fault rule of SNAP has the name of an
 * injected rule (one rule per name, as core_inject keeps it): then nothing
 * changes, SNAP stays the caller's, the name goes into CLASH (SIZE bytes)
 * and 0 is returned.
 */
uint64_t core_reload(struct emu_core *core, struct policy_snapshot *snap, char *clash, size_t size);

/*
 * core_open - a new open of the device: numbers SESSION (the Nth open) and
 * applies open faults.  Returns 0 or -errno (the open fails; SESSION is not
 * in use).  CALL carries the caller; a delay or hang fault sets its
 * hold_ns/hang: hold the open's reply, then finish with core_open_complete.
 */
int core_open(struct emu_core *core, struct emu_session *session, struct emu_call *call);
int core_open_complete(struct emu_core *core, struct emu_session *session, struct emu_call *call,
		       bool interrupted);

/* core_release - the fd's last close: release faults (vanish), transcript.
 * For a partition or VP session (one the core made) it also frees SESSION;
 * a partition lives on while a VP of it is open, as in the driver. */
void core_release(struct emu_core *core, struct emu_session *session, struct emu_caller *caller);

/*
 * core_ioctl - answer one ioctl exactly as the profile's kernel did, or as a
 * fault rule says.  Returns the ioctl's value (>= 0) or -errno; errnos >= 512
 * are meant to reach the caller as they are.  When it sets CALL->hold_ns or
 * CALL->hang, the return value is not the answer: hold the reply, then get
 * it from core_ioctl_complete.  No lock, allocation or syscall (after a
 * thread's first call, when urcu-bp registers it).
 */
int core_ioctl(struct emu_core *core, struct emu_session *session, struct emu_call *call);

/* core_ioctl_complete - the answer to a held call, now; -EINTR if the
 * caller was INTERRUPTED.  CALL's input must still be valid. */
int core_ioctl_complete(struct emu_core *core, struct emu_session *session, struct emu_call *call,
			bool interrupted);

/* core_vanish - the device is gone for DURATION_NS from now (0: back now). */
void core_vanish(struct emu_core *core, uint64_t duration_ns);
/* core_vanished - the device is inside a vanish window now. */
bool core_vanished(struct emu_core *core);

/* core_trace_start / stop - publish or retire a transcript (cold path).
 * stop waits for readers and closes the transcript, stores its final losses
 * in FINAL (if not NULL; zero when none ran) and returns whether one ran. */
void core_trace_start(struct emu_core *core, struct trace *trace);
bool core_trace_stop(struct emu_core *core, struct trace_counts *final);

/* core_fault_enable - switch the rule NAME (policy or injected) on or off.
 * Returns false when no rule has that name. */
bool core_fault_enable(struct emu_core *core, const char *name, bool enabled);

/* core_inject - arm RULE (its contents pass to the core) ahead of the
 * policy's rules.  Returns 0, -EEXIST when an injected rule or one of the
 * serving policy's has its name, or -ENOSPC when CORE_MAX_INJECTED are
 * armed (RULE is then untouched). */
int core_inject(struct emu_core *core, struct fault_rule *rule);

/* What is serving now, for start lines and reload logs. */
struct core_identity {
	uint64_t generation;
	enum emu_profile profile;
	char digest[72];
	char source[512];
	char device_name[POLICY_NAME_MAX];
	unsigned device_mode;
};

void core_identity(struct emu_core *core, struct core_identity *out);

#endif
