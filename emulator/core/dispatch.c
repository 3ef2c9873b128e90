/*
 * dispatch.c - one ioctl on one session, answered from the current policy
 * snapshot.  This is the fast path: no lock, no allocation, no syscall, no
 * log.  The snapshot is only dereferenced inside the RCU read section.
 *
 * Semantics follow the kernel sources and patch series docs/abi.md cites;
 * see docs/abi.md for the table this implements.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "core_impl.h"
#include "rcu.h"

typedef int (*op_handler)(struct emu_core *core, const struct policy_snapshot *snap,
			  const struct policy_ioctl *entry, struct emu_session *session,
			  struct emu_call *call);

/*
 * The u32 argument of REQUEST_VERSION / CHECK_EXTENSION: copied in by the
 * kernel for _IOW numbers, by value for _IO numbers (a policy may move a
 * built-in to either).  Too few bytes is what copy_from_user reports: EFAULT.
 */
static int read_u32_arg(const struct emu_call *call, uint32_t *value)
{
	if (_IOC_DIR(call->cmd) == _IOC_NONE) {
		*value = (uint32_t)call->arg;
		return 0;
	}
	if (!call->in || call->in_size < sizeof(*value))
		return -EFAULT;
	memcpy(value, call->in, sizeof(*value));
	return 0;
}

/* RFC 2020: lock the fd to a supported version, once.  The driver's per-fd
 * mutex becomes one compare-and-swap: of two racing requests one wins and
 * the other sees the fd already versioned (EBADFD), as under the mutex. */
static int op_request_version(struct emu_core *core, const struct policy_snapshot *snap,
			      const struct policy_ioctl *entry, struct emu_session *session,
			      struct emu_call *call)
{
	uint32_t version, unset = MSHV_VERSION_UNSET;
	if (atomic_load_explicit(&session->negotiated, memory_order_acquire) != MSHV_VERSION_UNSET)
		return -snap->refusal[EMU_REFUSAL_VERSION_LOCKED];
	int err = read_u32_arg(call, &version);
	if (err)
		return err;
	int index = policy_version_index(snap, version);
	if (index < 0)
		return -snap->refusal[EMU_REFUSAL_UNSUPPORTED_VERSION];
	if (!atomic_compare_exchange_strong_explicit(&session->negotiated, &unset, version,
						     memory_order_acq_rel, memory_order_acquire))
		return -snap->refusal[EMU_REFUSAL_VERSION_LOCKED];
	atomic_store_explicit(&session->version_gate, snap->generation << 8 | (uint64_t)(index + 1),
			      memory_order_relaxed);
	return 0;
}

/*
 * The version bit this session's capabilities are gated by in SNAP.  The
 * session keeps its version across reloads; the bit is recomputed once per
 * new snapshot and cached.  A version the new policy no longer lists sees
 * no capability at all.
 */
static uint64_t session_version_bit(const struct policy_snapshot *snap, struct emu_session *session)
{
	if (!snap->versioned)
		return 1;
	uint64_t gate = atomic_load_explicit(&session->version_gate, memory_order_relaxed);
	if (gate >> 8 != snap->generation) {
		uint32_t version = atomic_load_explicit(&session->negotiated, memory_order_acquire);
		int index = policy_version_index(snap, version);
		gate = snap->generation << 8 | (uint64_t)(index + 1);
		atomic_store_explicit(&session->version_gate, gate, memory_order_relaxed);
	}
	return (gate & 0xff) ? 1ull << ((gate & 0xff) - 1) : 0;
}

/* 2021 series / mshv_vtl: 0 known-unsupported, > 0 supported, else the
 * profile's unknown-capability errno (524 in v1, EOPNOTSUPP from v2). */
static int op_check_extension(struct emu_core *core, const struct policy_snapshot *snap,
			      const struct policy_ioctl *entry, struct emu_session *session,
			      struct emu_call *call)
{
	uint32_t id;
	int err = read_u32_arg(call, &id);
	if (err)
		return err;
	if (id < snap->cap_slots &&
	    (snap->caps[id].version_mask & session_version_bit(snap, session)))
		return snap->caps[id].value;
	return -snap->refusal[EMU_REFUSAL_UNKNOWN_CAPABILITY];
}

/* CREATE_VTL, what mshv-emu does not model (guest memory, interrupts, VP
 * runs) and the policy's own ioctls: a fixed answer, nothing copied out. */
static int op_fixed(struct emu_core *core, const struct policy_snapshot *snap,
		    const struct policy_ioctl *entry, struct emu_session *session,
		    struct emu_call *call)
{
	return entry->answer;
}

/* One handler per built-in; every fixed-answer op is op_fixed. */
static const op_handler handlers[EMU_OP_BUILTIN_COUNT + 1] = {
	[EMU_OP_REQUEST_VERSION] = op_request_version,
	[EMU_OP_CHECK_EXTENSION] = op_check_extension,
	[EMU_OP_CREATE_VTL] = op_fixed,
	[EMU_OP_CREATE_PARTITION] = root_op_create_partition,
	[EMU_OP_GET_HOST_PARTITION_PROPERTY] = root_op_get_host_property,
	[EMU_OP_ROOT_HVCALL] = root_op_hvcall,
	[EMU_OP_INITIALIZE_PARTITION] = root_op_initialize_partition,
	[EMU_OP_CREATE_VP] = root_op_create_vp,
	[EMU_OP_SET_GUEST_MEMORY] = op_fixed,
	[EMU_OP_IRQFD] = op_fixed,
	[EMU_OP_IOEVENTFD] = op_fixed,
	[EMU_OP_SET_MSI_ROUTING] = op_fixed,
	[EMU_OP_GET_GPAP_ACCESS_BITMAP] = op_fixed,
	[EMU_OP_PARTITION_HVCALL] = root_op_hvcall,
	[EMU_OP_RUN_VP] = op_fixed,
	[EMU_OP_GET_VP_STATE] = op_fixed,
	[EMU_OP_SET_VP_STATE] = op_fixed,
	[EMU_OP_VP_HVCALL] = root_op_hvcall,
	[EMU_OP_FIXED] = op_fixed,
};

/* The u32 a fault rule's `arg` is compared with, if the call carries one. */
static bool call_u32(const struct emu_call *call, uint32_t *value)
{
	if (_IOC_DIR(call->cmd) == _IOC_NONE) {
		*value = (uint32_t)call->arg;
		return true;
	}
	if ((_IOC_DIR(call->cmd) & _IOC_WRITE) && call->in && call->in_size >= sizeof(*value)) {
		memcpy(value, call->in, sizeof(*value));
		return true;
	}
	return false;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool core_vanished(struct emu_core *core)
{
	uint64_t until = atomic_load_explicit(&core->vanished_until_ns, memory_order_relaxed);
	return until && monotonic_ns() < until;
}

void core_vanish(struct emu_core *core, uint64_t duration_ns)
{
	atomic_store(&core->vanished_until_ns, duration_ns ? monotonic_ns() + duration_ns : 0);
}

static void copy_name(char *dst, const char *src)
{
	size_t len = src ? strnlen(src, TRACE_NAME_MAX - 1) : 0;
	memcpy(dst, src ? src : "", len);
	dst[len] = '\0';
}

/* One transcript event for a session event; only when a transcript is on.
 * Inside the caller's RCU read section. */
void core_trace_event(struct emu_core *core, enum trace_kind kind,
		      const struct emu_session *session, const struct emu_call *call,
		      const char *ioctl_name, int result, uint64_t generation, bool deferred)
{
	struct trace *trace = emu_rcu_dereference(core->trace);
	if (!trace)
		return;
	struct trace_event ev = {
		.time_ns = call && call->time_ns ? call->time_ns : realtime_ns(),
		.session = session->id,
		.generation = generation,
		.pid = call && call->caller ? call->caller->pid : 0,
		.uid = call && call->caller ? call->caller->uid : 0,
		.kind = kind,
		.result = result,
		.deferred = deferred,
	};
	if (kind == TRACE_IOCTL) {
		ev.cmd = call->cmd;
		ev.has_arg = call_u32(call, &ev.arg);
		ev.detail = call->detail;
	}
	/* The kernel sends a release with no caller (pid 0): it runs at the last
	 * close, in no particular process.  Name the process that opened the fd. */
	if (kind == TRACE_RELEASE && !ev.pid) {
		ev.pid = session->opener_pid;
		ev.uid = session->opener_uid;
	}
	if (ev.pid && ev.pid == session->opener_pid)
		memcpy(ev.comm, session->opener_comm, sizeof(ev.comm));
	copy_name(ev.ioctl, ioctl_name);
	copy_name(ev.fault, call ? call->fault : NULL);
	trace_record(trace, &ev);
}

/* The policy's answer, faults aside. */
static int answer(struct emu_core *core, const struct policy_snapshot *snap,
		  const struct policy_ioctl *entry, struct emu_session *session,
		  struct emu_call *call)
{
	/* RFC 2020: every ioctl but REQUEST_VERSION, known or not, needs a version. */
	if (snap->versioned && (!entry || entry->op != EMU_OP_REQUEST_VERSION) &&
	    atomic_load_explicit(&session->negotiated, memory_order_acquire) == MSHV_VERSION_UNSET)
		return -snap->refusal[EMU_REFUSAL_UNVERSIONED];
	if (!entry)
		return -snap->refusal[EMU_REFUSAL_UNKNOWN_IOCTL];
	/* Every handler of the real drivers copies its argument first. */
	if ((_IOC_DIR(call->cmd) & _IOC_WRITE) && call->in_size < _IOC_SIZE(call->cmd))
		return -EFAULT;
	return handlers[entry->op](core, snap, entry, session, call);
}

/*
 * The first fault that fires for INPUT: injected rules first, then the
 * policy's.  Copies the rule's name into CALL and returns it, or NULL.
 */
const struct fault_rule *decide_fault(struct emu_core *core, const struct policy_snapshot *snap,
				      const struct fault_input *input,
				      const struct policy_ioctl *entry, struct emu_call *call)
{
	const struct fault_rule *rule = NULL;
	struct fault_set *injected = emu_rcu_dereference(core->injected);
	unsigned bucket = input->event == FAULT_EVENT_OPEN	? POLICY_BUCKET_OPEN(snap)
			  : input->event == FAULT_EVENT_RELEASE ? POLICY_BUCKET_RELEASE(snap)
			  : entry				? (unsigned)(entry - snap->ioctls)
								: POLICY_BUCKET_UNKNOWN(snap);
	uint32_t first = snap->fault_count ? snap->fault_bucket[bucket] : 0;
	uint32_t end = snap->fault_count ? snap->fault_bucket[bucket + 1] : 0;
	int index;
	if (injected && (index = fault_decide(injected->rules, injected->states, NULL,
					      injected->count, snap->fault_seed, input)) >= 0)
		rule = &injected->rules[index];
	else if (end > first &&
		 (index = fault_decide(snap->faults, snap->fault_states, snap->fault_order + first,
				       end - first, snap->fault_seed, input)) >= 0)
		rule = &snap->faults[index];
	if (rule)
		copy_name(call->fault, rule->name);
	return rule;
}

/* The fault that fires for this ioctl, if the policy or mshvctl armed one
 * that can match it; a call whose bucket is empty costs two loads. */
static const struct fault_rule *ioctl_fault(struct emu_core *core,
					    const struct policy_snapshot *snap,
					    const struct policy_ioctl *entry,
					    const struct emu_session *session,
					    struct emu_call *call)
{
	unsigned bucket = entry ? (unsigned)(entry - snap->ioctls) : POLICY_BUCKET_UNKNOWN(snap);
	if ((!snap->fault_count || snap->fault_bucket[bucket] == snap->fault_bucket[bucket + 1]) &&
	    !emu_rcu_dereference(core->injected))
		return NULL;
	struct fault_input input = {
		.event = FAULT_EVENT_IOCTL,
		.cmd = call->cmd,
		.object = session->object,
		.session = session->id,
		.caller = call->caller,
	};
	input.has_arg = call_u32(call, &input.arg);
	return decide_fault(core, snap, &input, entry, call);
}

/*
 * Apply RULE to a call: answer now (errno, value, vanish), or hold it
 * (delay, hang).  Returns the answer, or sets the hold and returns 0.
 */
static int apply_fault(struct emu_core *core, const struct fault_rule *rule, struct emu_call *call)
{
	if (rule->vanish_ns) {
		core_vanish(core, rule->vanish_ns);
		return -ENODEV;
	}
	call->hold_ns = rule->delay_ns;
	call->hang = rule->hang;
	call->redispatch = !rule->has_result;
	call->held_result = rule->result;
	return rule->result;
}

int core_ioctl(struct emu_core *core, struct emu_session *session, struct emu_call *call)
{
	int result;
	call->out_len = 0;
	call->hold_ns = 0;
	call->hang = false;
	call->redispatch = false;
	call->fault[0] = '\0';
	call->time_ns = 0;
	call->detail.kind = TRACE_DETAIL_NONE;
	emu_rcu_read_lock();
	const struct policy_snapshot *snap = emu_rcu_dereference(core->current);
	const struct policy_ioctl *entry = policy_find_ioctl(snap, session->object, call->cmd);
	const struct fault_rule *rule = NULL;
	bool tracing = emu_rcu_dereference(core->trace) != NULL;
	if (tracing)
		call->time_ns = realtime_ns();
	if (core_vanished(core)) { /* one relaxed load unless a vanish is armed */
		result = -ENODEV;  /* the driver is gone: what an fd on a removed device gets */
	} else if (!call->continued && (rule = ioctl_fault(core, snap, entry, session, call))) {
		result = apply_fault(core, rule, call);
	} else {
		result = answer(core, snap, entry, session, call);
	}
	if (result == -EMU_RETRY_WITH_MEMORY) {
		/* Not answered yet: the front end asks the kernel for the memory. */
	} else if (!call->hold_ns && !call->hang) {
		core_count(core, snap, entry, result);
		if (tracing)
			core_trace_event(core, TRACE_IOCTL, session, call,
					 entry ? entry->name : NULL, result, snap->generation,
					 false);
	} else if (!call->time_ns) {
		call->time_ns = realtime_ns();
	}
	emu_rcu_read_unlock();
	return result;
}

int core_ioctl_complete(struct emu_core *core, struct emu_session *session, struct emu_call *call,
			bool interrupted)
{
	int result;
	emu_rcu_read_lock();
	const struct policy_snapshot *snap = emu_rcu_dereference(core->current);
	const struct policy_ioctl *entry = policy_find_ioctl(snap, session->object, call->cmd);
	if (interrupted)
		result = -EINTR; /* a signal ended the wait, as in the kernel */
	else if (call->redispatch)
		result = answer(core, snap, entry, session, call);
	else
		result = call->held_result;
	if (result != -EMU_RETRY_WITH_MEMORY) {
		core_count(core, snap, entry, result);
		core_trace_event(core, TRACE_IOCTL, session, call, entry ? entry->name : NULL,
				 result, snap->generation, true);
	}
	emu_rcu_read_unlock();
	return result;
}
