/*
 * core.c - publishing policy snapshots with RCU, and session bookkeeping.
 *
 * urcu-bp, because libfuse creates and reaps its worker threads itself:
 * they cannot be registered by hand, and bp registers a reader lazily.
 * One publisher at a time (publish_lock); readers never take that lock, and
 * synchronize_rcu is never called from inside a read section.  Every RCU
 * access goes through rcu.h, which ThreadSanitizer can follow.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_impl.h"
#include "rcu.h"

#ifdef EMU_RCU_TSAN
char emu_rcu_grace;
#endif

static void fault_set_free(struct fault_set *set)
{
	if (!set)
		return;
	for (unsigned i = 0; i < set->count; i++)
		fault_rule_free(&set->rules[i]);
	free(set->rules);
	free(set); /* states belong to the core */
}

void core_init(struct emu_core *core, struct policy_snapshot *initial)
{
	memset(core, 0, sizeof(*core));
	pthread_mutex_init(&core->publish_lock, NULL);
	core_stats_init(core);
	core->generation = 1;
	initial->generation = 1;
	emu_rcu_assign(core->current, initial);
}

void core_fini(struct emu_core *core)
{
	core_trace_stop(core, NULL);
	fault_set_free(core->injected);
	core->injected = NULL;
	policy_free(core->current);
	core->current = NULL;
	core_stats_fini(core);
	pthread_mutex_destroy(&core->publish_lock);
}

/* Publish SNAP; publish_lock is held, and released here. */
static uint64_t publish_locked(struct emu_core *core, struct policy_snapshot *snap)
{
	uint64_t generation = ++core->generation;
	snap->generation = generation;
	struct policy_snapshot *old = emu_rcu_xchg(&core->current, snap);
	pthread_mutex_unlock(&core->publish_lock);
	emu_rcu_synchronize();
	policy_free(old);
	return generation;
}

uint64_t core_publish(struct emu_core *core, struct policy_snapshot *snap)
{
	pthread_mutex_lock(&core->publish_lock);
	return publish_locked(core, snap);
}

uint64_t core_reload(struct emu_core *core, struct policy_snapshot *snap, char *clash, size_t size)
{
	pthread_mutex_lock(&core->publish_lock);
	/* Under the lock core_inject takes: no rule can be injected between
	 * this check and the publish. */
	const struct fault_set *injected = core->injected;
	for (unsigned i = 0; injected && i < injected->count; i++) {
		for (unsigned j = 0; j < snap->fault_count; j++) {
			if (!strcmp(injected->rules[i].name, snap->faults[j].name)) {
				snprintf(clash, size, "%s", snap->faults[j].name);
				pthread_mutex_unlock(&core->publish_lock);
				return 0;
			}
		}
	}
	return publish_locked(core, snap);
}

int core_open(struct emu_core *core, struct emu_session *session, struct emu_call *call)
{
	int result = 0;
	session->object = EMU_OBJECT_DEVICE;
	session->partition = NULL;
	session->vp_index = 0;
	atomic_init(&session->negotiated, MSHV_VERSION_UNSET);
	atomic_init(&session->version_gate, 0);
	session->id = atomic_fetch_add(&core->sessions_opened, 1) + 1;
	session->opener_pid = call->caller ? call->caller->pid : 0;
	session->opener_uid = call->caller ? call->caller->uid : 0;
	session->opener_comm[0] = '\0';
	const char *comm = call->caller && call->caller->get_comm
				   ? call->caller->get_comm(call->caller)
				   : NULL;
	if (comm)
		snprintf(session->opener_comm, sizeof(session->opener_comm), "%s", comm);
	call->hold_ns = 0;
	call->hang = false;
	call->redispatch = false;
	call->held_result = 0;
	call->fault[0] = '\0';
	call->time_ns = 0;
	emu_rcu_read_lock();
	const struct policy_snapshot *snap = emu_rcu_dereference(core->current);
	struct fault_input input = {
		.event = FAULT_EVENT_OPEN, .session = session->id, .caller = call->caller};
	const struct fault_rule *rule = NULL;
	if (core_vanished(core))
		result = -ENOENT; /* the node is gone */
	else if ((snap->fault_count || emu_rcu_dereference(core->injected)) &&
		 (rule = decide_fault(core, snap, &input, NULL, call))) {
		if (rule->vanish_ns) {
			core_vanish(core, rule->vanish_ns);
			result = -ENOENT;
		} else {
			call->hold_ns = rule->delay_ns;
			call->hang = rule->hang;
			result = call->held_result = rule->has_result ? rule->result : 0;
		}
	}
	if (!call->hold_ns && !call->hang) {
		core_trace_event(core, TRACE_OPEN, session, call, NULL, result, snap->generation,
				 false);
		if (result == 0)
			atomic_fetch_add(&core->sessions_open, 1); /* see core_release */
	}
	emu_rcu_read_unlock();
	return result;
}

int core_open_complete(struct emu_core *core, struct emu_session *session, struct emu_call *call,
		       bool interrupted)
{
	int result = interrupted ? -EINTR : call->held_result;
	emu_rcu_read_lock();
	const struct policy_snapshot *snap = emu_rcu_dereference(core->current);
	core_trace_event(core, TRACE_OPEN, session, call, NULL, result, snap->generation, true);
	if (result == 0)
		atomic_fetch_add(&core->sessions_open, 1); /* see core_release */
	emu_rcu_read_unlock();
	return result;
}

void core_release(struct emu_core *core, struct emu_session *session, struct emu_caller *caller)
{
	struct emu_call call = {.caller = caller};
	bool object = session->object != EMU_OBJECT_DEVICE;
	emu_rcu_read_lock();
	const struct policy_snapshot *snap = emu_rcu_dereference(core->current);
	struct fault_input input = {
		.event = FAULT_EVENT_RELEASE, .session = session->id, .caller = caller};
	const struct fault_rule *rule = NULL;
	/* Release faults are about the device's opens, not what they made. */
	if (!object && (snap->fault_count || emu_rcu_dereference(core->injected)) &&
	    (rule = decide_fault(core, snap, &input, NULL, &call)) && rule->vanish_ns)
		core_vanish(core, rule->vanish_ns);
	core_trace_event(core, TRACE_RELEASE, session, &call, NULL, 0, snap->generation, false);
	/* Counted out only once its event is in the transcript, and inside the
	 * read section: whoever sees the count drop (mshvctl status) and then
	 * stops the transcript waits for this section, so the event is among
	 * those the stop drains.  Counted out before, it could be lost. */
	atomic_fetch_sub(object ? &core->objects_open : &core->sessions_open, 1);
	emu_rcu_read_unlock();
	if (object)
		root_object_free(session);
}

void core_trace_start(struct emu_core *core, struct trace *trace)
{
	pthread_mutex_lock(&core->publish_lock);
	struct trace *old = emu_rcu_xchg(&core->trace, trace);
	pthread_mutex_unlock(&core->publish_lock);
	if (old) {
		emu_rcu_synchronize();
		trace_close(old, NULL);
	}
}

bool core_trace_stop(struct emu_core *core, struct trace_counts *final)
{
	pthread_mutex_lock(&core->publish_lock);
	struct trace *old = emu_rcu_xchg(&core->trace, NULL);
	pthread_mutex_unlock(&core->publish_lock);
	if (final)
		*final = (struct trace_counts){0};
	if (!old)
		return false;
	emu_rcu_synchronize();
	trace_close(old, final);
	return true;
}

static bool enable_in(struct fault_rule *rules, struct fault_state *states, unsigned count,
		      const char *name, bool enabled)
{
	bool found = false;
	for (unsigned i = 0; i < count; i++) {
		if (!strcmp(rules[i].name, name)) {
			atomic_store(&states[i].enabled, enabled);
			found = true;
		}
	}
	return found;
}

bool core_fault_enable(struct emu_core *core, const char *name, bool enabled)
{
	emu_rcu_read_lock();
	struct policy_snapshot *snap = emu_rcu_dereference(core->current);
	struct fault_set *injected = emu_rcu_dereference(core->injected);
	bool found = enable_in(snap->faults, snap->fault_states, snap->fault_count, name, enabled);
	if (injected)
		found |= enable_in(injected->rules, injected->states, injected->count, name,
				   enabled);
	emu_rcu_read_unlock();
	return found;
}

/* A new set: the old rules plus RULE, published whole; the counters stay put. */
int core_inject(struct emu_core *core, struct fault_rule *rule)
{
	pthread_mutex_lock(&core->publish_lock);
	struct fault_set *old = core->injected;
	unsigned count = (old ? old->count : 0) + 1;
	/* One rule per name: `fault enable|disable NAME` must say which. */
	bool taken = false;
	for (unsigned i = 0; old && i < old->count; i++)
		taken |= !strcmp(old->rules[i].name, rule->name);
	emu_rcu_read_lock();
	const struct policy_snapshot *snap = emu_rcu_dereference(core->current);
	for (unsigned i = 0; snap && i < snap->fault_count; i++)
		taken |= !strcmp(snap->faults[i].name, rule->name);
	emu_rcu_read_unlock();
	if (taken) {
		pthread_mutex_unlock(&core->publish_lock);
		return -EEXIST;
	}
	if (count > CORE_MAX_INJECTED) {
		pthread_mutex_unlock(&core->publish_lock);
		return -ENOSPC;
	}
	struct fault_set *set = calloc(1, sizeof(*set));
	if (!set || !(set->rules = calloc(count, sizeof(*set->rules))))
		abort();
	for (unsigned i = 0; old && i < old->count; i++) {
		set->rules[i] = old->rules[i];
		set->rules[i].name = strdup(old->rules[i].name);
		set->rules[i].comm_glob =
			old->rules[i].comm_glob ? strdup(old->rules[i].comm_glob) : NULL;
		if (!set->rules[i].name || (old->rules[i].comm_glob && !set->rules[i].comm_glob))
			abort();
	}
	set->rules[count - 1] = *rule;
	memset(rule, 0, sizeof(*rule));
	set->states = core->injected_states;
	fault_state_init(&set->states[count - 1], &set->rules[count - 1], 1);
	set->count = count;
	emu_rcu_assign(core->injected, set);
	pthread_mutex_unlock(&core->publish_lock);
	emu_rcu_synchronize();
	fault_set_free(old);
	return 0;
}

void core_identity(struct emu_core *core, struct core_identity *out)
{
	emu_rcu_read_lock();
	const struct policy_snapshot *snap = emu_rcu_dereference(core->current);
	out->generation = snap->generation;
	out->profile = snap->profile;
	snprintf(out->digest, sizeof(out->digest), "%s", snap->digest);
	snprintf(out->source, sizeof(out->source), "%s", snap->source);
	snprintf(out->device_name, sizeof(out->device_name), "%s", snap->device_name);
	out->device_mode = snap->device_mode;
	emu_rcu_read_unlock();
}
