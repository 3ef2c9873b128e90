/*
 * core.c - publishing policy snapshots with RCU, and session bookkeeping.
 *
 * urcu-bp, because libfuse creates and reaps its worker threads itself:
 * they cannot be registered by hand, and bp registers a reader lazily.
 * One publisher at a time (publish_lock); readers never take that lock, and
 * synchronize_rcu is never called from inside a read section.
 */
#include <stdio.h>
#include <string.h>

#include <urcu/urcu-bp.h>

#include "core.h"

void core_init(struct emu_core *core, struct policy_snapshot *initial)
{
	memset(core, 0, sizeof(*core));
	pthread_mutex_init(&core->publish_lock, NULL);
	core->generation = 1;
	initial->generation = 1;
	rcu_assign_pointer(core->current, initial);
}

void core_fini(struct emu_core *core)
{
	policy_free(core->current);
	core->current = NULL;
	pthread_mutex_destroy(&core->publish_lock);
}

uint64_t core_publish(struct emu_core *core, struct policy_snapshot *snap)
{
	pthread_mutex_lock(&core->publish_lock);
	uint64_t generation = ++core->generation;
	snap->generation = generation;
	struct policy_snapshot *old = rcu_xchg_pointer(&core->current, snap);
	pthread_mutex_unlock(&core->publish_lock);
	urcu_bp_synchronize_rcu();
	policy_free(old);
	return generation;
}

void core_session_open(struct emu_core *core, struct emu_session *session)
{
	atomic_init(&session->negotiated, MSHV_VERSION_UNSET);
	atomic_init(&session->version_gate, 0);
	session->id = atomic_fetch_add(&core->sessions_opened, 1) + 1;
	atomic_fetch_add(&core->sessions_open, 1);
}

void core_session_close(struct emu_core *core, struct emu_session *session)
{
	atomic_fetch_sub(&core->sessions_open, 1);
}

void core_identity(struct emu_core *core, struct core_identity *out)
{
	urcu_bp_read_lock();
	const struct policy_snapshot *snap = rcu_dereference(core->current);
	out->generation = snap->generation;
	out->profile = snap->profile;
	snprintf(out->digest, sizeof(out->digest), "%s", snap->digest);
	snprintf(out->source, sizeof(out->source), "%s", snap->source);
	snprintf(out->device_name, sizeof(out->device_name), "%s", snap->device_name);
	out->device_mode = snap->device_mode;
	urcu_bp_read_unlock();
}
