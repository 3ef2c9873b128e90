/*
 * dispatch.c - one ioctl on one session, answered from the current policy
 * snapshot.  This is the fast path: no lock, no allocation, no syscall, no
 * log.  The snapshot is only dereferenced inside the RCU read section.
 *
 * Semantics follow the kernel sources of DESIGN.md section 2; see
 * docs/abi.md for the table this implements.
 */
#include <errno.h>
#include <string.h>

#include <urcu/urcu-bp.h>

#include "core.h"

typedef int (*op_handler)(const struct policy_snapshot *snap, const struct policy_ioctl *entry,
			  struct emu_session *session, struct emu_call *call);

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
static int op_request_version(const struct policy_snapshot *snap, const struct policy_ioctl *entry,
			      struct emu_session *session, struct emu_call *call)
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
static int op_check_extension(const struct policy_snapshot *snap, const struct policy_ioctl *entry,
			      struct emu_session *session, struct emu_call *call)
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

/* CREATE_VTL, CREATE_PARTITION and the policy's own ioctls: a fixed answer.
 * Nothing is copied out (a real driver returns a new fd, which CUSE cannot). */
static int op_fixed(const struct policy_snapshot *snap, const struct policy_ioctl *entry,
		    struct emu_session *session, struct emu_call *call)
{
	return entry->answer;
}

static const op_handler handlers[] = {
	[EMU_OP_REQUEST_VERSION] = op_request_version,
	[EMU_OP_CHECK_EXTENSION] = op_check_extension,
	[EMU_OP_CREATE_VTL] = op_fixed,
	[EMU_OP_CREATE_PARTITION] = op_fixed,
	[EMU_OP_FIXED] = op_fixed,
};

int core_ioctl(struct emu_core *core, struct emu_session *session, struct emu_call *call)
{
	int result;
	call->out_len = 0;
	urcu_bp_read_lock();
	const struct policy_snapshot *snap = rcu_dereference(core->current);
	const struct policy_ioctl *entry = policy_find_ioctl(snap, call->cmd);
	/* RFC 2020: every ioctl but REQUEST_VERSION, known or not, needs a version. */
	if (snap->versioned && (!entry || entry->op != EMU_OP_REQUEST_VERSION) &&
	    atomic_load_explicit(&session->negotiated, memory_order_acquire) == MSHV_VERSION_UNSET)
		result = -snap->refusal[EMU_REFUSAL_UNVERSIONED];
	else if (!entry)
		result = -snap->refusal[EMU_REFUSAL_UNKNOWN_IOCTL];
	/* Every handler of the real drivers copies its argument first. */
	else if ((_IOC_DIR(call->cmd) & _IOC_WRITE) && call->in_size < _IOC_SIZE(call->cmd))
		result = -EFAULT;
	else
		result = handlers[entry->op](snap, entry, session, call);
	urcu_bp_read_unlock();
	return result;
}
