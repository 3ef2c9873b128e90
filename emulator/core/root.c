/*
 * root.c - today's root driver (drivers/hv/mshv_root_main.c): the hypercall
 * passthrough MSHV_ROOT_HVCALL, CREATE_PARTITION with its flags and feature
 * banks, and the partition and VP objects it hands out.
 *
 * The hypervisor behind the hypercalls is the policy's model: host
 * properties answer from the snapshot; a partition answers from its own
 * property store, seeded from the snapshot when it is made.  Every check
 * the driver makes, it makes in the driver's order with the driver's errno;
 * which checks and which errnos is the profile's data (profile.c), copied
 * into the snapshot where a policy may override it.
 *
 * On the ioctl path like dispatch.c: no lock and no log.  CREATE_PARTITION
 * and CREATE_VP allocate the object they make (the driver does too); the
 * hypercall path uses two page-sized stack buffers, as the driver uses two
 * pages.  It does not run guests: guest memory, interrupts and VP runs are
 * fixed answers (dispatch.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "core_impl.h"

_Static_assert(TRACE_BANKS == MSHV_EMU_NUM_CPU_FEATURES_BANKS,
	       "the transcript records every feature bank");

struct emu_partition_property {
	uint32_t code;
	enum policy_settable settable;
	_Atomic uint64_t value;
};

struct emu_partition {
	_Atomic unsigned refs; /* the partition fd, and each VP fd */
	/* The driver serializes a partition's ioctls on its pt_mutex; here it
	 * makes INITIALIZE and a before-initialize SET one or the other. */
	pthread_mutex_t lock;
	_Atomic bool initialized;
	uint64_t id; /* what the driver writes over the input's partition id */
	_Atomic uint64_t vps[POLICY_MAX_VPS / 64];
	unsigned property_count;
	struct emu_partition_property properties[]; /* sorted by code */
};

/* The driver's partition ids are the hypervisor's; any non-zero id that is
 * not HV_PARTITION_ID_SELF will do. */
#define PARTITION_ID_BASE 0x1000

static struct emu_partition *partition_new(const struct policy_snapshot *snap, uint64_t id)
{
	struct emu_partition *partition =
		calloc(1, sizeof(*partition) + (size_t)snap->partition_property_count *
						       sizeof(partition->properties[0]));
	if (!partition)
		return NULL;
	atomic_init(&partition->refs, 1);
	pthread_mutex_init(&partition->lock, NULL);
	partition->id = PARTITION_ID_BASE + id;
	partition->property_count = snap->partition_property_count;
	for (unsigned i = 0; i < snap->partition_property_count; i++) {
		partition->properties[i].code = snap->partition_properties[i].code;
		partition->properties[i].settable = snap->partition_properties[i].settable;
		atomic_init(&partition->properties[i].value, snap->partition_properties[i].value);
	}
	return partition;
}

static void partition_put(struct emu_partition *partition)
{
	if (partition && atomic_fetch_sub(&partition->refs, 1) == 1) {
		pthread_mutex_destroy(&partition->lock);
		free(partition);
	}
}

static struct emu_partition_property *partition_property(struct emu_partition *partition,
							 uint32_t code)
{
	unsigned low = 0, high = partition->property_count;
	while (low < high) {
		unsigned mid = low + (high - low) / 2;
		if (partition->properties[mid].code == code)
			return &partition->properties[mid];
		if (partition->properties[mid].code < code)
			low = mid + 1;
		else
			high = mid;
	}
	return NULL;
}

/* A session for a new object, sharing its creator's version and id (so a
 * fault rule on `session: N` covers what the Nth open made). */
static struct emu_session *object_new(const struct emu_session *creator, enum emu_object object,
				      struct emu_partition *partition)
{
	struct emu_session *session = calloc(1, sizeof(*session));
	if (!session)
		return NULL;
	session->object = object;
	session->partition = partition;
	session->id = creator->id;
	atomic_init(&session->negotiated, atomic_load(&creator->negotiated));
	atomic_init(&session->version_gate, 0);
	session->opener_pid = creator->opener_pid;
	session->opener_uid = creator->opener_uid;
	memcpy(session->opener_comm, creator->opener_comm, sizeof(session->opener_comm));
	return session;
}

void root_object_free(struct emu_session *session)
{
	partition_put(session->partition);
	free(session);
}

/* Bind OBJECT to a new fd in the caller.  Returns the fd, or -errno with
 * OBJECT freed.  NO_FD is the answer where the transport cannot make fds. */
static int install(struct emu_core *core, struct emu_call *call, struct emu_session *object,
		   int no_fd)
{
	if (!call->transport || !call->transport->install) {
		root_object_free(object);
		return no_fd;
	}
	atomic_fetch_add(&core->objects_open, 1);
	int fd = call->transport->install(call->transport, object);
	if (fd < 0) {
		atomic_fetch_sub(&core->objects_open, 1);
		root_object_free(object);
	}
	return fd;
}

/* ---- hypercalls ---- */

static bool hvcall_allowed(const struct policy_snapshot *snap, enum emu_object object,
			   uint16_t code)
{
	return code < POLICY_HVCALL_SLOTS &&
	       (snap->hvcall_allowed[object][code / 64] >> (code % 64) & 1);
}

/* hv_result_to_errno of the profile, with the policy's overrides. */
static int status_errno(const struct policy_snapshot *snap, uint16_t status)
{
	if (status == MSHV_EMU_HV_STATUS_INSUFFICIENT_MEMORY && snap->insufficient_memory_errno)
		return snap->insufficient_memory_errno;
	return status < POLICY_STATUS_SLOTS ? snap->status_errno[status] : EIO;
}

/* The property input every property hypercall starts with. */
struct property_input {
	uint64_t partition_id;
	uint32_t code;
	uint32_t padding;
	uint64_t value; /* SET_PARTITION_PROPERTY; the `arg` of _EX */
};

/* A host property, or on a partition or VP fd the partition's own, falling
 * back to the host's.  Returns its status; *VALUE or *HOST_PROPERTY. */
static uint16_t read_property(const struct policy_snapshot *snap, struct emu_session *session,
			      uint32_t code, uint64_t *value,
			      const struct policy_property **host_property)
{
	*host_property = NULL;
	if (session->partition) {
		struct emu_partition_property *own = partition_property(session->partition, code);
		if (own) {
			*value = atomic_load_explicit(&own->value, memory_order_relaxed);
			return MSHV_EMU_HV_STATUS_SUCCESS;
		}
	}
	const struct policy_property *property = policy_find_property(snap, code);
	if (!property)
		return MSHV_EMU_HV_STATUS_UNKNOWN_PROPERTY;
	if (property->status)
		return property->status;
	*host_property = property;
	*value = property->value;
	return MSHV_EMU_HV_STATUS_SUCCESS;
}

static uint16_t set_property(struct emu_session *session, uint32_t code, uint64_t value)
{
	struct emu_partition_property *own = partition_property(session->partition, code);
	if (!own)
		return MSHV_EMU_HV_STATUS_UNKNOWN_PROPERTY;
	if (own->settable == POLICY_SET_NEVER)
		return MSHV_EMU_HV_STATUS_ACCESS_DENIED;
	uint16_t status = MSHV_EMU_HV_STATUS_SUCCESS;
	pthread_mutex_lock(&session->partition->lock);
	if (own->settable == POLICY_SET_BEFORE_INITIALIZE &&
	    atomic_load(&session->partition->initialized))
		status = MSHV_EMU_HV_STATUS_INVALID_PARTITION_STATE;
	else
		atomic_store_explicit(&own->value, value, memory_order_relaxed);
	pthread_mutex_unlock(&session->partition->lock);
	return status;
}

/* Copy LEN bytes of SRC to OUTPUT + OFFSET, cut at OUT_SIZE: the driver
 * copies out_sz bytes of the hypervisor's output page, never more. */
static void put(uint8_t *output, size_t out_size, size_t offset, const void *src, size_t len)
{
	if (offset < out_size)
		memcpy(output + offset, src, len < out_size - offset ? len : out_size - offset);
}

/*
 * The hypervisor's side of one hypercall: INPUT (IN_SIZE bytes, the rest of
 * the page zero) to a status and OUTPUT (zeroed, OUT_SIZE bytes).
 */
static uint16_t hypercall(const struct policy_snapshot *snap, struct emu_session *session,
			  uint16_t code, const struct property_input *input, uint8_t *output,
			  size_t out_size, struct trace_detail *detail)
{
	const struct policy_property *host = NULL;
	uint64_t value = 0;
	uint16_t status;
	detail->has_property = true;
	detail->property = input->code;
	switch (code) {
	case MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY:
		/* A banked property answers its first bank here. */
		status = read_property(snap, session, input->code, &value, &host);
		if (!status)
			put(output, out_size, 0, &value, sizeof(value));
		break;
	case MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY_EX:
		status = read_property(snap, session, input->code, &value, &host);
		if (status || !out_size)
			break;
		if (host && host->bank_count) {
			/* {u16 bank_count; u16 rsvd[3]; u64 bank[]}, cut at out_sz;
			 * OUTPUT is already zero. */
			put(output, out_size, 0, &host->bank_count, sizeof(host->bank_count));
			put(output, out_size, 8, host->banks, (size_t)host->bank_count * 8);
		} else {
			put(output, out_size, 0, &value, sizeof(value));
		}
		break;
	case MSHV_EMU_HVCALL_SET_PARTITION_PROPERTY:
		value = input->value;
		status = set_property(session, input->code, value);
		break;
	default:
		detail->has_property = false;
		status = snap->unemulated_status;
		break;
	}
	detail->value = value;
	return status;
}

/*
 * MSHV_ROOT_HVCALL on any object, in mshv_ioctl_passthru_hvcall's order:
 * header checks and the allow-list (-EINVAL, nothing written back), the
 * input copy (-EFAULT), the call, then the header written back with status
 * and reps whatever the result, the output (on success, or always where the
 * profile's kernel did), and the status mapped to an errno.
 */
int root_op_hvcall(struct emu_core *core, const struct policy_snapshot *snap,
		   const struct policy_ioctl *entry, struct emu_session *session,
		   struct emu_call *call)
{
	struct mshv_root_hvcall header;
	memcpy(&header, call->in, sizeof(header)); /* answer() checked in_size */
	call->detail = (struct trace_detail){.kind = TRACE_DETAIL_HVCALL, .hv_code = header.code};
	static const uint8_t zero_rsvd[sizeof(header.rsvd)];
	if (header.status || memcmp(header.rsvd, zero_rsvd, sizeof(zero_rsvd)) || !header.in_ptr ||
	    header.in_sz < sizeof(uint64_t) || header.in_sz > MSHV_EMU_HV_PAGE_SIZE)
		return -EINVAL;
	if (header.out_ptr && (!header.out_sz || header.out_sz > MSHV_EMU_HV_PAGE_SIZE))
		return -EINVAL;
	if (!hvcall_allowed(snap, session->object, header.code))
		return -EINVAL;
	/* Asynchronous calls complete through the partition's handler: only a
	 * partition fd has one. */
	if (header.code == MSHV_EMU_HVCALL_SET_PARTITION_PROPERTY &&
	    session->object != EMU_OBJECT_PARTITION)
		return -EINVAL;
	struct emu_transport *transport = call->transport;
	if (!transport || !transport->read || !transport->write)
		return -EMU_NO_CALLER_MEMORY;
	if (!call->out || call->out_size < sizeof(header))
		return -EFAULT; /* the header cannot be written back */
	size_t out_size = header.out_ptr ? header.out_sz : 0;
	if (transport->prepare) {
		const struct emu_region regions[] = {
			{.addr = header.in_ptr, .len = header.in_sz},
			{.addr = header.out_ptr, .len = out_size, .write = true},
		};
		int err = transport->prepare(transport, regions, out_size ? 2 : 1);
		if (err)
			return err;
	}

	union {
		uint8_t bytes[MSHV_EMU_HV_PAGE_SIZE];
		struct property_input property;
	} input;
	memset(&input.property, 0, sizeof(input.property));
	int err = transport->read(transport, header.in_ptr, input.bytes, header.in_sz);
	if (err)
		return err;
	/* The driver overwrites the partition id: every allowed input starts with one. */
	input.property.partition_id =
		session->partition ? session->partition->id : MSHV_EMU_HV_PARTITION_ID_SELF;

	uint8_t output[MSHV_EMU_HV_PAGE_SIZE];
	memset(output, 0, out_size);
	uint16_t status;
	/* Every call these ops model is a simple (non-rep) hypercall. */
	if (header.reps)
		status = MSHV_EMU_HV_STATUS_INVALID_HYPERCALL_INPUT;
	else
		status = hypercall(snap, session, header.code, &input.property, output, out_size,
				   &call->detail);
	call->detail.called = true;
	call->detail.hv_status = status;

	int result = status ? -status_errno(snap, status) : 0;
	header.status = status;
	header.reps = 0; /* reps completed */
	memcpy(call->out, &header, sizeof(header));
	call->out_len = sizeof(header);
	if (out_size && (!status || snap->output_on_failure) &&
	    transport->write(transport, header.out_ptr, output, out_size))
		result = -EFAULT;
	return result;
}

/* Microsoft's MSHV_GET_HOST_PARTITION_PROPERTY: {u64 code; u64 value}; no
 * status reaches the caller, only its errno. */
int root_op_get_host_property(struct emu_core *core, const struct policy_snapshot *snap,
			      const struct policy_ioctl *entry, struct emu_session *session,
			      struct emu_call *call)
{
	struct mshv_emu_partition_property args;
	memcpy(&args, call->in, sizeof(args));
	const struct policy_property *host;
	uint64_t value = 0;
	uint16_t status = read_property(snap, session, (uint32_t)args.property_code, &value, &host);
	call->detail = (struct trace_detail){
		.kind = TRACE_DETAIL_HVCALL,
		.called = true,
		.has_property = true,
		.hv_code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
		.hv_status = status,
		.property = (uint32_t)args.property_code,
		.value = value,
	};
	if (status)
		return -status_errno(snap, status);
	if (!call->out || call->out_size < sizeof(args))
		return -EFAULT;
	args.property_value = value;
	memcpy(call->out, &args, sizeof(args));
	call->out_len = sizeof(args);
	return 0;
}

/* ---- objects ---- */

/*
 * CREATE_PARTITION: the flags and isolation against the generation's masks
 * (-EINVAL), the 64-byte v2 structure behind the 16-byte number when bit 3
 * asks for it, then a partition bound to a new fd where the transport can
 * make one, else the policy's create_partition answer.  The 2020 and 2021
 * series' structures are copied (their size) but not checked.
 */
int root_op_create_partition(struct emu_core *core, const struct policy_snapshot *snap,
			     const struct policy_ioctl *entry, struct emu_session *session,
			     struct emu_call *call)
{
	struct mshv_emu_create_partition_v2 args = {0};
	call->detail = (struct trace_detail){.kind = TRACE_DETAIL_CREATE_PARTITION};
	if (snap->create_flags_mask) {
		memcpy(&args, call->in, sizeof(struct mshv_create_partition));
		call->detail.flags = args.pt_flags;
		call->detail.isolation = args.pt_isolation;
		if ((args.pt_flags & ~snap->create_flags_mask) ||
		    args.pt_isolation >= snap->create_isolation_count)
			return -EINVAL;
		if (snap->create_v2 &&
		    (args.pt_flags & 1ull << MSHV_EMU_PT_BIT_CPU_AND_XSAVE_FEATURES)) {
			if (!call->transport || !call->transport->read)
				return -EMU_NO_CALLER_MEMORY;
			int err = call->transport->read(call->transport, call->arg, &args,
							sizeof(args));
			if (err)
				return err;
			call->detail.has_banks = true;
			call->detail.bank_count = args.pt_num_cpu_fbanks;
			memcpy(call->detail.banks, args.pt_cpu_fbanks, sizeof(call->detail.banks));
			static const uint8_t zero[sizeof(args.pt_rsvd1)];
			bool banks_ok =
				snap->create_fbanks_at_most
					? args.pt_num_cpu_fbanks <= MSHV_EMU_NUM_CPU_FEATURES_BANKS
					: args.pt_num_cpu_fbanks == MSHV_EMU_NUM_CPU_FEATURES_BANKS;
			if (!banks_ok || memcmp(args.pt_rsvd, zero, sizeof(args.pt_rsvd)) ||
			    memcmp(args.pt_rsvd1, zero, sizeof(args.pt_rsvd1)))
				return -EINVAL;
		}
	}
	if (!call->transport || !call->transport->install) {
		call->detail.no_fd = true;
		return entry->answer; /* no fd can be made: the policy's answer */
	}
	struct emu_partition *partition =
		partition_new(snap, atomic_fetch_add(&core->partitions_created, 1));
	struct emu_session *object =
		partition ? object_new(session, EMU_OBJECT_PARTITION, partition) : NULL;
	if (!object) {
		partition_put(partition);
		return -ENOMEM;
	}
	return install(core, call, object, entry->answer);
}

int root_op_initialize_partition(struct emu_core *core, const struct policy_snapshot *snap,
				 const struct policy_ioctl *entry, struct emu_session *session,
				 struct emu_call *call)
{
	/* A second INITIALIZE is a no-op in the driver. */
	pthread_mutex_lock(&session->partition->lock);
	atomic_store(&session->partition->initialized, true);
	pthread_mutex_unlock(&session->partition->lock);
	return 0;
}

/* CREATE_VP: an index below MSHV_MAX_VPS, once per partition (EEXIST). */
int root_op_create_vp(struct emu_core *core, const struct policy_snapshot *snap,
		      const struct policy_ioctl *entry, struct emu_session *session,
		      struct emu_call *call)
{
	uint32_t index;
	memcpy(&index, call->in, sizeof(index));
	if (index >= POLICY_MAX_VPS)
		return -EINVAL;
	struct emu_partition *partition = session->partition;
	uint64_t bit = 1ull << (index % 64);
	if (atomic_fetch_or(&partition->vps[index / 64], bit) & bit)
		return -EEXIST;
	atomic_fetch_add(&partition->refs, 1);
	struct emu_session *object = object_new(session, EMU_OBJECT_VP, partition);
	if (!object) {
		partition_put(partition);
		atomic_fetch_and(&partition->vps[index / 64], ~bit);
		return -ENOMEM;
	}
	object->vp_index = index;
	int fd = install(core, call, object, EMU_FIXED_DEFAULT);
	if (fd < 0) /* the VP was never made: its index is free again */
		atomic_fetch_and(&partition->vps[index / 64], ~bit);
	return fd;
}
