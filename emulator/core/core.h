/*
 * core.h - the emulator core: per-open sessions, ioctl dispatch, and the
 * RCU-published policy.  No libfuse and no I/O: a front end (CUSE, FUSE), a
 * test or a benchmark drives it with one call per request.
 */
#ifndef MSHV_EMU_CORE_H
#define MSHV_EMU_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* What the kernel driver kept per open fd: the negotiated version. */
struct emu_session {
	/* MSHV_VERSION_UNSET until REQUEST_VERSION succeeds; then fixed. */
	_Atomic uint32_t negotiated;
	/* Cached gating bit for the snapshot it was computed from:
	 * generation << 8 | (index in snap->versions + 1), 0 when none. */
	_Atomic uint64_t version_gate;
	uint64_t id;
};

/*
 * One ioctl as the kernel hands it to a daemon in restricted mode: the
 * kernel has already copied _IOC_SIZE(cmd) bytes in (_IOC_WRITE) and will
 * copy up to OUT_SIZE bytes out (_IOC_READ).  ARG is the caller's raw
 * argument: a by-value argument for _IO commands.
 */
struct emu_call {
	uint32_t cmd;
	uint64_t arg;
	const void *in;
	size_t in_size;
	void *out;
	size_t out_size;
	size_t out_len; /* set by core_ioctl: bytes of OUT to copy back */
};

struct emu_core {
	struct policy_snapshot *current; /* RCU: rcu_dereference inside a read section */
	pthread_mutex_t publish_lock;	 /* serialises publishers only; readers never take it */
	uint64_t generation;		 /* under publish_lock */
	_Atomic uint64_t sessions_opened;
	_Atomic uint64_t sessions_open;
};

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

/* core_session_open / close - per-open state, as the driver's open/release. */
void core_session_open(struct emu_core *core, struct emu_session *session);
void core_session_close(struct emu_core *core, struct emu_session *session);

/*
 * core_ioctl - answer one ioctl exactly as the profile's kernel did.
 * Returns the ioctl's value (>= 0) or -errno; errnos >= 512 are meant to
 * reach the caller as they are.  No lock, allocation or syscall (after a
 * thread's first call, when urcu-bp registers it).
 */
int core_ioctl(struct emu_core *core, struct emu_session *session, struct emu_call *call);

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
