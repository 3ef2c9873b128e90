/*
 * core_impl.h - what dispatch.c and core.c share; not for front ends.
 */
#ifndef MSHV_EMU_CORE_IMPL_H
#define MSHV_EMU_CORE_IMPL_H

#include "core.h"

/* Record one transcript event if a transcript is on.  Inside an RCU read
 * section.  CALL may be NULL for open/release without a caller. */
void core_trace_event(struct emu_core *core, enum trace_kind kind,
		      const struct emu_session *session, const struct emu_call *call,
		      const char *ioctl_name, int result, uint64_t generation, bool deferred);

/* The first fault rule that fires for INPUT (injected, then the policy's);
 * copies its name into CALL.  Inside an RCU read section. */
const struct fault_rule *decide_fault(struct emu_core *core, const struct policy_snapshot *snap,
				      const struct fault_input *input,
				      const struct policy_ioctl *entry, struct emu_call *call);

/* Per-thread counters (stats.c): count one answered call. */
void core_stats_init(struct emu_core *core);
void core_stats_fini(struct emu_core *core);
void core_count(struct emu_core *core, const struct policy_snapshot *snap,
		const struct policy_ioctl *entry, int result);

/* The root driver's ops (root.c); the handler signature of dispatch.c. */
#define ROOT_OP(name)                                                           \
	int name(struct emu_core *core, const struct policy_snapshot *snap,     \
		 const struct policy_ioctl *entry, struct emu_session *session, \
		 struct emu_call *call)
ROOT_OP(root_op_hvcall);
ROOT_OP(root_op_get_host_property);
ROOT_OP(root_op_create_partition);
ROOT_OP(root_op_initialize_partition);
ROOT_OP(root_op_create_vp);
#undef ROOT_OP

/* root_object_free - free a partition or VP session and drop its
 * reference to the partition. */
void root_object_free(struct emu_session *session);

#endif
