/*
 * profile.c - the profile table (see profile.h).  Every number comes from
 * uapi/mshv-emu/mshv_emu.h; every errno from the kernel sources docs/abi.md
 * cites, profile by profile.
 */
#include <errno.h>
#include <string.h>

#include "profile.h"

#define REFUSALS(unknown_capability)                                                       \
	{                                                                                  \
		[EMU_REFUSAL_UNVERSIONED] = EBADFD, [EMU_REFUSAL_VERSION_LOCKED] = EBADFD, \
		[EMU_REFUSAL_UNSUPPORTED_VERSION] = MSHV_ENOTSUPP,                         \
		[EMU_REFUSAL_UNKNOWN_CAPABILITY] = (unknown_capability),                   \
		[EMU_REFUSAL_UNKNOWN_IOCTL] = ENOTTY,                                      \
	}

/*
 * Hypercall allow-lists of the root driver (drivers/hv/mshv_root_main.c,
 * mshv_passthru_hvcalls; the self-targeted list of the "ioctl for self
 * targeted passthrough hvcalls" series, Nov 2025).
 */
#define HVCALLS_6_15                                                                              \
	MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY, MSHV_EMU_HVCALL_SET_PARTITION_PROPERTY,           \
		MSHV_EMU_HVCALL_INSTALL_INTERCEPT, MSHV_EMU_HVCALL_GET_VP_REGISTERS,              \
		MSHV_EMU_HVCALL_SET_VP_REGISTERS, MSHV_EMU_HVCALL_TRANSLATE_VIRTUAL_ADDRESS,      \
		MSHV_EMU_HVCALL_CLEAR_VIRTUAL_INTERRUPT,                                          \
		MSHV_EMU_HVCALL_REGISTER_INTERCEPT_RESULT,                                        \
		MSHV_EMU_HVCALL_ASSERT_VIRTUAL_INTERRUPT, MSHV_EMU_HVCALL_SIGNAL_EVENT_DIRECT,    \
		MSHV_EMU_HVCALL_POST_MESSAGE_DIRECT, MSHV_EMU_HVCALL_GET_GPA_PAGES_ACCESS_STATES, \
		MSHV_EMU_HVCALL_GET_VP_CPUID_VALUES

static const uint16_t hvcalls_6_15[] = {HVCALLS_6_15, 0};
static const uint16_t hvcalls_with_ex[] = {HVCALLS_6_15, MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY_EX,
					   0};
static const uint16_t hvcalls_self[] = {MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
					MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY_EX, 0};

/* hv_result_to_errno as of 6.15 (drivers/hv/hv_common.c, a switch): three
 * codes are EINVAL, one ENOMEM, everything else EIO. */
static const struct profile_status_errno status_errno_6_15[] = {
	{MSHV_EMU_HV_STATUS_INVALID_HYPERCALL_CODE, EINVAL},
	{MSHV_EMU_HV_STATUS_INVALID_HYPERCALL_INPUT, EINVAL},
	{MSHV_EMU_HV_STATUS_INVALID_PARAMETER, EINVAL},
	{MSHV_EMU_HV_STATUS_INSUFFICIENT_MEMORY, ENOMEM},
	{0, 0},
};

/* The table that replaced it ("hyperv: Log hypercall status codes as
 * strings", hv_status_infos): partition and VP ids become EINVAL too. */
static const struct profile_status_errno status_errno_table[] = {
	{MSHV_EMU_HV_STATUS_INVALID_HYPERCALL_CODE, EINVAL},
	{MSHV_EMU_HV_STATUS_INVALID_HYPERCALL_INPUT, EINVAL},
	{MSHV_EMU_HV_STATUS_INVALID_PARAMETER, EINVAL},
	{MSHV_EMU_HV_STATUS_INSUFFICIENT_MEMORY, ENOMEM},
	{MSHV_EMU_HV_STATUS_INVALID_PARTITION_ID, EINVAL},
	{MSHV_EMU_HV_STATUS_INVALID_VP_INDEX, EINVAL},
	{0, 0},
};

/* The partition and VP fds of the root driver (include/uapi/linux/mshv.h). */
#define ROOT_OBJECT_CMDS                                                                        \
	[EMU_OP_INITIALIZE_PARTITION] = MSHV_INITIALIZE_PARTITION,                              \
	[EMU_OP_CREATE_VP] = MSHV_CREATE_VP, [EMU_OP_SET_GUEST_MEMORY] = MSHV_SET_GUEST_MEMORY, \
	[EMU_OP_IRQFD] = MSHV_IRQFD, [EMU_OP_IOEVENTFD] = MSHV_IOEVENTFD,                       \
	[EMU_OP_SET_MSI_ROUTING] = MSHV_SET_MSI_ROUTING,                                        \
	[EMU_OP_GET_GPAP_ACCESS_BITMAP] = MSHV_GET_GPAP_ACCESS_BITMAP,                          \
	[EMU_OP_PARTITION_HVCALL] = MSHV_ROOT_HVCALL, [EMU_OP_RUN_VP] = MSHV_RUN_VP,            \
	[EMU_OP_GET_VP_STATE] = MSHV_GET_VP_STATE, [EMU_OP_SET_VP_STATE] = MSHV_SET_VP_STATE,   \
	[EMU_OP_VP_HVCALL] = MSHV_ROOT_HVCALL

static const struct profile_desc profiles[EMU_PROFILE_COUNT] = {
	[EMU_PROFILE_RFC_2020] =
		{
			.name = "rfc-2020",
			.source =
				"RFC Nov 2020, [RFC PATCH 04/18] virt/mshv: request version ioctl",
			.versioned = true,
			.cmd = {[EMU_OP_REQUEST_VERSION] = MSHV_REQUEST_VERSION,
				[EMU_OP_CREATE_PARTITION] = MSHV_CREATE_PARTITION_2020},
			.refusal = REFUSALS(EOPNOTSUPP),
			.root = {.create_size = MSHV_EMU_CREATE_PARTITION_2020_SIZE},
		},
	[EMU_PROFILE_RFC_2021] =
		{
			.name = "rfc-2021",
			.source = "2021 series v1-v3, drivers/hv: check extension ioctl",
			.cmd = {[EMU_OP_CHECK_EXTENSION] = MSHV_CHECK_EXTENSION,
				[EMU_OP_CREATE_PARTITION] = MSHV_CREATE_PARTITION_2021},
			.refusal = REFUSALS(EOPNOTSUPP),
			.root = {.create_size = MSHV_EMU_CREATE_PARTITION_2021_SIZE},
		},
	[EMU_PROFILE_VTL] =
		{
			.name = "vtl",
			.source = "drivers/hv/mshv_vtl_main.c",
			.cmd = {[EMU_OP_CHECK_EXTENSION] = MSHV_CHECK_EXTENSION,
				[EMU_OP_CREATE_VTL] = MSHV_CREATE_VTL},
			.refusal = REFUSALS(EOPNOTSUPP),
		},
	[EMU_PROFILE_ROOT_6_15] =
		{
			.name = "root-6.15",
			.source =
				"Linux 6.15 include/uapi/linux/mshv.h, drivers/hv/mshv_root_main.c",
			.cmd = {[EMU_OP_CREATE_PARTITION] = MSHV_CREATE_PARTITION,
				ROOT_OBJECT_CMDS},
			.refusal = REFUSALS(EOPNOTSUPP),
			.root =
				{
					.create_size = sizeof(struct mshv_create_partition),
					.flags_mask = MSHV_EMU_PT_FLAGS_MASK_6_15,
					.isolation_count = MSHV_PT_ISOLATION_COUNT,
					.hvcalls = {[EMU_OBJECT_PARTITION] = hvcalls_6_15,
						    [EMU_OBJECT_VP] = hvcalls_6_15},
					.status_errno = status_errno_6_15,
					.insufficient_memory_errno = EAGAIN,
					.output_on_failure = true,
				},
		},
	[EMU_PROFILE_ROOT_6_19] =
		{
			.name = "root-6.19",
			.source =
				"upstream with \"Drivers: hv: ioctl for self targeted passthrough "
				"hvcalls\" and \"mshv: add CPU and xsave feature banks\" (Nov "
				"2025)",
			.cmd = {[EMU_OP_CREATE_PARTITION] = MSHV_CREATE_PARTITION,
				[EMU_OP_ROOT_HVCALL] = MSHV_ROOT_HVCALL,
				ROOT_OBJECT_CMDS},
			.refusal = REFUSALS(EOPNOTSUPP),
			.root =
				{
					.create_size = sizeof(struct mshv_create_partition),
					.flags_mask = 0xF,
					.isolation_count = MSHV_PT_ISOLATION_COUNT,
					.v2 = true,
					.hvcalls = {[EMU_OBJECT_DEVICE] = hvcalls_self,
						    [EMU_OBJECT_PARTITION] = hvcalls_with_ex,
						    [EMU_OBJECT_VP] = hvcalls_with_ex},
					.status_errno = status_errno_table,
				},
		},
	[EMU_PROFILE_MICROSOFT] =
		{
			.name = "microsoft",
			.source = "Microsoft's kernel, as rust-vmm/mshv v0.7.0's bindings describe "
				  "it",
			.cmd = {[EMU_OP_CREATE_PARTITION] = MSHV_CREATE_PARTITION,
				[EMU_OP_GET_HOST_PARTITION_PROPERTY] =
					MSHV_GET_HOST_PARTITION_PROPERTY,
				[EMU_OP_ROOT_HVCALL] = MSHV_ROOT_HVCALL,
				ROOT_OBJECT_CMDS},
			.refusal = REFUSALS(EOPNOTSUPP),
			.root =
				{
					.create_size = sizeof(struct mshv_create_partition),
					.flags_mask = 0x3F,
					.isolation_count = MSHV_EMU_PT_ISOLATION_SNP + 1,
					.v2 = true,
					.fbanks_at_most = true,
					.hvcalls = {[EMU_OBJECT_DEVICE] = hvcalls_self,
						    [EMU_OBJECT_PARTITION] = hvcalls_with_ex,
						    [EMU_OBJECT_VP] = hvcalls_with_ex},
					.status_errno = status_errno_table,
				},
		},
	[EMU_PROFILE_NEGOTIATED] =
		{
			.name = "negotiated",
			.source =
				"the 2021 review's proposal: REQUEST_VERSION, then CHECK_EXTENSION",
			.versioned = true,
			.cmd = {[EMU_OP_REQUEST_VERSION] = MSHV_REQUEST_VERSION,
				[EMU_OP_CHECK_EXTENSION] = MSHV_NEGOTIATED_CHECK_EXTENSION},
			.refusal = REFUSALS(EOPNOTSUPP),
		},
	[EMU_PROFILE_NONE] =
		{
			.name = "none",
			.source = "a driver with no negotiation ioctl: only the policy's ioctls",
			.refusal = REFUSALS(EOPNOTSUPP),
		},
};

static const struct {
	const char *key, *display;
	enum emu_object object;
	enum emu_answer_kind kind;
} ops[] = {
#define X(id, key, display, object, kind) \
	[EMU_OP_##id] = {key, display, EMU_OBJECT_##object, EMU_ANSWER_##kind},
	EMU_OPS(X)
#undef X
};

static const char *const object_keys[] = {
#define X(id, key, display) [EMU_OBJECT_##id] = key,
	EMU_OBJECTS(X)
#undef X
};

static const struct {
	const char *key;
	enum emu_op needs;
} refusals[] = {
#define X(id, key, op) [EMU_REFUSAL_##id] = {key, op},
	EMU_REFUSALS(X)
#undef X
};

const struct profile_desc *profile_get(enum emu_profile profile)
{
	return &profiles[profile];
}

int profile_from_name(const char *name)
{
	for (int i = 0; i < EMU_PROFILE_COUNT; i++)
		if (!strcmp(profiles[i].name, name))
			return i;
	return -1;
}

const char *profile_names(void)
{
	/* ", rfc-2020, rfc-2021, ..." from the uapi list, past its first ", ". */
	static const char names[] =
#define X(id, name) ", " name
		MSHV_EMU_PROFILES(X)
#undef X
		;
	return names + 2;
}

const char *op_key(enum emu_op op)
{
	return op < EMU_OP_BUILTIN_COUNT ? ops[op].key : "ioctls";
}

const char *op_display(enum emu_op op)
{
	return op < EMU_OP_BUILTIN_COUNT ? ops[op].display : "ioctl";
}

enum emu_object op_object(enum emu_op op)
{
	return op < EMU_OP_BUILTIN_COUNT ? ops[op].object : EMU_OBJECT_DEVICE;
}

enum emu_answer_kind op_answer_kind(enum emu_op op)
{
	return op < EMU_OP_BUILTIN_COUNT ? ops[op].kind : EMU_ANSWER_REQUIRED;
}

const char *object_key(enum emu_object object)
{
	return object_keys[object];
}

const char *refusal_key(enum emu_refusal refusal)
{
	return refusals[refusal].key;
}

enum emu_op refusal_needs(enum emu_refusal refusal)
{
	return refusals[refusal].needs;
}
