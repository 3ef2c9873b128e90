/*
 * test_root.c - today's root driver through the core, with an in-process
 * transport (memcpy for caller memory, a table for new fds): every header
 * check of MSHV_ROOT_HVCALL and its errno, the header written back on
 * failure, the allow-lists per profile and object, the status-to-errno
 * tables, CREATE_PARTITION's masks and v2 structure, canaries around every
 * output buffer, and mshv-ioctls 0.7's start-up down to a VP.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core.h"

/* ---- an in-process transport ---- */

#define POISON_ADDR 0xdead0000ull /* reads and writes here fault */
#define MAX_FDS	    16
#define FD_BASE	    100

struct test_transport {
	struct emu_transport base;
	struct emu_session *fds[MAX_FDS];
	unsigned reads, writes;
};

static int t_read(struct emu_transport *base, uint64_t addr, void *buf, size_t len)
{
	struct test_transport *t = (struct test_transport *)base;
	t->reads++;
	if (addr == POISON_ADDR)
		return -EFAULT;
	memcpy(buf, (const void *)(uintptr_t)addr, len);
	return 0;
}

static int t_write(struct emu_transport *base, uint64_t addr, const void *buf, size_t len)
{
	struct test_transport *t = (struct test_transport *)base;
	t->writes++;
	if (addr == POISON_ADDR)
		return -EFAULT;
	memcpy((void *)(uintptr_t)addr, buf, len);
	return 0;
}

static int t_install(struct emu_transport *base, struct emu_session *object)
{
	struct test_transport *t = (struct test_transport *)base;
	for (int i = 0; i < MAX_FDS; i++) {
		if (!t->fds[i]) {
			t->fds[i] = object;
			return FD_BASE + i;
		}
	}
	return -EMFILE;
}

static struct emu_core core;
static struct emu_session device;
static struct test_transport transport;

static void serve(const char *policy_text)
{
	struct diag_list diags = {0};
	struct policy_snapshot *snap =
		policy_load_buffer("root.yaml", policy_text, strlen(policy_text), &diags);
	for (unsigned i = 0; i < diags.count; i++)
		cr_log_error("%s:%u:%u: %s", diags.items[i].file, diags.items[i].line,
			     diags.items[i].column, diags.items[i].message);
	cr_assert_not_null(snap);
	diag_free(&diags);
	core_init(&core, snap);
	cr_assert_eq(core_open(&core, &device, &(struct emu_call){0}), 0);
	transport = (struct test_transport){
		.base = {.read = t_read, .write = t_write, .install = t_install}};
}

static void serve_file(const char *name)
{
	char path[512], text[8192];
	snprintf(path, sizeof(path), "%s/policies/%s", MSHV_EMU_SOURCE_DIR, name);
	FILE *file = fopen(path, "r");
	cr_assert_not_null(file, "%s", path);
	size_t len = fread(text, 1, sizeof(text) - 1, file);
	fclose(file);
	text[len] = '\0';
	serve(text);
}

static struct emu_session *object_of(int fd)
{
	cr_assert(fd >= FD_BASE && fd < FD_BASE + MAX_FDS, "not an fd: %d", fd);
	return transport.fds[fd - FD_BASE];
}

static void finish(void)
{
	for (int i = MAX_FDS - 1; i >= 0; i--)
		if (transport.fds[i])
			core_release(&core, transport.fds[i], NULL);
	cr_expect_eq(atomic_load(&core.objects_open), 0, "every object was released");
	core_release(&core, &device, NULL);
	core_fini(&core);
}

/* One ioctl with the argument ARG of SIZE bytes, copied in and out as the
 * kernel does for restricted ioctls; NULL transport = FUSE without memory. */
static int ioctl_on(struct emu_session *session, uint32_t cmd, void *arg, size_t size,
		    struct emu_transport *through)
{
	unsigned char out[256];
	struct emu_call call = {
		.cmd = cmd,
		.arg = (uintptr_t)arg,
		.in = arg,
		.in_size = size,
		.out = out,
		.out_size = size < sizeof(out) ? size : sizeof(out),
		.transport = through,
	};
	int result = core_ioctl(&core, session, &call);
	if (call.out_len)
		memcpy(arg, out, call.out_len);
	return result;
}

static int hvcall(struct emu_session *session, struct mshv_root_hvcall *header)
{
	return ioctl_on(session, MSHV_ROOT_HVCALL, header, sizeof(*header), &transport.base);
}

/* Canaries: 0xAA around the OUT_SZ bytes a call may write. */
#define CANARY 64
struct guarded {
	uint8_t before[CANARY];
	uint8_t data[4096];
	uint8_t after[CANARY];
};

static void guard(struct guarded *g)
{
	memset(g, 0xAA, sizeof(*g));
}

static void expect_untouched(const struct guarded *g, size_t written)
{
	for (size_t i = 0; i < CANARY; i++) {
		cr_expect_eq(g->before[i], 0xAA, "byte %zu before the output changed", i);
		cr_expect_eq(g->after[i], 0xAA, "byte %zu after the output changed", i);
	}
	for (size_t i = written; i < sizeof(g->data); i++)
		cr_expect_eq(g->data[i], 0xAA, "byte %zu past out_sz (%zu) changed", i, written);
}

/* GET_PARTITION_PROPERTY(CODE) into OUT (8 bytes); the header comes back in H. */
static int get_property(struct emu_session *session, uint32_t code, struct guarded *out,
			struct mshv_root_hvcall *h)
{
	struct mshv_emu_hv_get_property_in in = {.partition_id = 7, .property_code = code};
	*h = (struct mshv_root_hvcall){
		.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
		.in_sz = sizeof(in),
		.out_sz = 8,
		.in_ptr = (uintptr_t)&in,
		.out_ptr = (uintptr_t)out->data,
	};
	guard(out);
	int result = hvcall(session, h);
	cr_expect_eq(in.partition_id, 7, "the caller's input is not modified");
	return result;
}

static int get_property_ex(struct emu_session *session, uint32_t code, struct guarded *out,
			   struct mshv_root_hvcall *h)
{
	struct mshv_emu_hv_get_property_ex_in in = {.partition_id = ~0ull, .property_code = code};
	*h = (struct mshv_root_hvcall){
		.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY_EX,
		.in_sz = sizeof(in),
		.out_sz = MSHV_EMU_HV_PROPERTY_EX_OUT_SIZE,
		.in_ptr = (uintptr_t)&in,
		.out_ptr = (uintptr_t)out->data,
	};
	guard(out);
	return hvcall(session, h);
}

static int set_property(struct emu_session *session, uint32_t code, uint64_t value,
			struct mshv_root_hvcall *h)
{
	struct mshv_emu_hv_set_property_in in = {.property_code = code, .property_value = value};
	*h = (struct mshv_root_hvcall){
		.code = MSHV_EMU_HVCALL_SET_PARTITION_PROPERTY,
		.in_sz = sizeof(in),
		.in_ptr = (uintptr_t)&in,
	};
	return hvcall(session, h);
}

static uint64_t u64_at(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static int create_partition(uint64_t flags, uint64_t isolation, struct emu_transport *through)
{
	struct mshv_create_partition args = {.pt_flags = flags, .pt_isolation = isolation};
	return ioctl_on(&device, MSHV_CREATE_PARTITION, &args, sizeof(args), through);
}

static int create_partition_v2(struct mshv_emu_create_partition_v2 *args)
{
	/* The number encodes 16 bytes; the driver reads 64 behind the pointer. */
	return ioctl_on(&device, MSHV_CREATE_PARTITION, args, sizeof(struct mshv_create_partition),
			&transport.base);
}

static struct mshv_emu_create_partition_v2 crate_v2(void)
{
	/* mshv-ioctls 0.7's make_default_partition_create_arg. */
	return (struct mshv_emu_create_partition_v2){
		.pt_flags = 0xF,
		.pt_num_cpu_fbanks = 2,
		.pt_cpu_fbanks = {~0x00F1FFFF7FFFFFFFull | 1ull << 63, ~0x7Full},
	};
}

/* ---- root-6.15 ---- */

Test(root, root_6_15_has_no_hypercall_on_the_device)
{
	serve_file("root-6.15.yaml");
	struct guarded out;
	struct mshv_root_hvcall h;
	cr_expect_eq(get_property_ex(&device, MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES, &out, &h),
		     -ENOTTY);
	cr_expect_eq(h.status, 0, "ENOTTY writes nothing back");
	expect_untouched(&out, 0);
	uint32_t index = 0;
	cr_expect_eq(
		ioctl_on(&device, MSHV_GET_HOST_PARTITION_PROPERTY, &index, 16, &transport.base),
		-ENOTTY);
	finish();
}

Test(root, root_6_15_create_partition_masks)
{
	serve_file("root-6.15.yaml");
	cr_expect_eq(create_partition(0xF, 0, &transport.base), -EINVAL, "bit 3 is not 6.15's");
	cr_expect_eq(create_partition(0x8, 0, &transport.base), -EINVAL);
	cr_expect_eq(create_partition(0x7, 1, &transport.base), -EINVAL, "isolation NONE only");
	cr_expect_eq(create_partition(0x7, 0, NULL), -EOPNOTSUPP,
		     "no transport that makes fds: the policy's create_partition errno");
	int fd = create_partition(0x7, 0, &transport.base);
	cr_expect_geq(fd, FD_BASE);
	struct emu_session *partition = object_of(fd);
	cr_expect_eq(partition->object, EMU_OBJECT_PARTITION);
	finish();
}

/* 6.15 copies the output page back whatever the result; later kernels do
 * not.  A failed call's output is the (zeroed) page. */
Test(root, root_6_15_copies_output_back_on_failure)
{
	serve_file("root-6.15.yaml");
	struct emu_session *partition = object_of(create_partition(0x7, 0, &transport.base));
	struct guarded out;
	struct mshv_root_hvcall h;
	cr_expect_eq(get_property(partition, 0x12345, &out, &h), -EIO);
	cr_expect_eq(h.status, MSHV_EMU_HV_STATUS_UNKNOWN_PROPERTY);
	cr_expect_eq(u64_at(out.data), 0, "the output was written back, zero");
	expect_untouched(&out, 8);
	/* 6.15's allow-list has no GET_PARTITION_PROPERTY_EX. */
	cr_expect_eq(get_property_ex(partition, MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES, &out, &h),
		     -EINVAL);
	finish();
}

Test(root, insufficient_memory_is_eagain_on_6_15_and_enomem_later)
{
	const char *profiles[] = {"root-6.15", "root-6.19"};
	const int want[] = {-EAGAIN, -ENOMEM};
	for (int i = 0; i < 2; i++) {
		char text[256];
		snprintf(text, sizeof(text),
			 "profile: %s\nhypervisor:\n  properties:\n"
			 "    - {name: PHYSICAL_ADDRESS_WIDTH, status: INSUFFICIENT_MEMORY}\n",
			 profiles[i]);
		serve(text);
		struct emu_session *partition =
			object_of(create_partition(0x7, 0, &transport.base));
		struct guarded out;
		struct mshv_root_hvcall h;
		cr_expect_eq(get_property(partition, MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH,
					  &out, &h),
			     want[i], "%s", profiles[i]);
		cr_expect_eq(h.status, MSHV_EMU_HV_STATUS_INSUFFICIENT_MEMORY);
		finish();
	}
}

/* ---- the hypercall header ---- */

Test(root, every_header_check_is_einval_and_writes_nothing_back)
{
	serve_file("microsoft.yaml");
	struct mshv_emu_hv_get_property_in in = {
		.property_code = MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH};
	struct guarded out;
	const struct mshv_root_hvcall good = {
		.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
		.in_sz = sizeof(in),
		.out_sz = 8,
		.in_ptr = (uintptr_t)&in,
		.out_ptr = (uintptr_t)out.data,
	};
	struct {
		const char *what;
		struct mshv_root_hvcall h;
	} cases[] = {
		{"status set on entry", good},
		{"rsvd not zero", good},
		{"in_ptr 0", good},
		{"in_sz below 8", good},
		{"in_sz over 4096", good},
		{"out_ptr with out_sz 0", good},
		{"out_sz over 4096", good},
		{"SET_PARTITION_PROPERTY is not on the device's self list", good},
		{"GET_VP_REGISTERS is not on the device's self list", good},
		{"an unknown code", good},
	};
	cases[0].h.status = 1;
	cases[1].h.rsvd[5] = 1;
	cases[2].h.in_ptr = 0;
	cases[3].h.in_sz = 7;
	cases[4].h.in_sz = 4097;
	cases[5].h.out_sz = 0;
	cases[6].h.out_sz = 4097;
	cases[7].h.code = MSHV_EMU_HVCALL_SET_PARTITION_PROPERTY;
	cases[8].h.code = MSHV_EMU_HVCALL_GET_VP_REGISTERS;
	cases[9].h.code = 0x1ff;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mshv_root_hvcall h = cases[i].h;
		guard(&out);
		transport.reads = transport.writes = 0;
		cr_expect_eq(hvcall(&device, &h), -EINVAL, "%s", cases[i].what);
		cr_expect_eq(memcmp(&h, &cases[i].h, sizeof(h)), 0,
			     "%s: the header is not written back", cases[i].what);
		cr_expect_eq(transport.reads + transport.writes, 0,
			     "%s: the caller's memory is not touched", cases[i].what);
		expect_untouched(&out, 0);
	}
	finish();
}

Test(root, a_bad_input_pointer_is_efault_before_the_call)
{
	serve_file("microsoft.yaml");
	struct guarded out;
	guard(&out);
	struct mshv_root_hvcall h =
					{
						.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
						.in_sz = 16,
						.out_sz = 8,
						.in_ptr = POISON_ADDR,
						.out_ptr = (uintptr_t)out.data,
					},
				sent = h;
	cr_expect_eq(hvcall(&device, &h), -EFAULT);
	cr_expect_eq(memcmp(&h, &sent, sizeof(h)), 0, "no header written back");
	expect_untouched(&out, 0);
	/* A bad output pointer: the call ran, the header came back, then EFAULT. */
	struct mshv_emu_hv_get_property_in in = {
		.property_code = MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH};
	h = (struct mshv_root_hvcall){.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
				      .in_sz = 16,
				      .out_sz = 8,
				      .in_ptr = (uintptr_t)&in,
				      .out_ptr = POISON_ADDR};
	cr_expect_eq(hvcall(&device, &h), -EFAULT);
	cr_expect_eq(h.status, 0, "the header was written back with the call's status");
	finish();
}

Test(root, without_caller_memory_a_hypercall_answers_the_transport_errno)
{
	serve_file("microsoft.yaml");
	struct mshv_emu_hv_get_property_in in = {0};
	uint64_t value = 0;
	struct mshv_root_hvcall h = {.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
				     .in_sz = 16,
				     .out_sz = 8,
				     .in_ptr = (uintptr_t)&in,
				     .out_ptr = (uintptr_t)&value};
	cr_expect_eq(ioctl_on(&device, MSHV_ROOT_HVCALL, &h, sizeof(h), NULL),
		     -EMU_NO_CALLER_MEMORY);
	finish();
}

Test(root, reps_on_a_simple_call_is_invalid_input_written_back)
{
	serve_file("microsoft.yaml");
	struct guarded out;
	struct mshv_emu_hv_get_property_in in = {
		.property_code = MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH};
	guard(&out);
	struct mshv_root_hvcall h = {.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
				     .reps = 3,
				     .in_sz = 16,
				     .out_sz = 8,
				     .in_ptr = (uintptr_t)&in,
				     .out_ptr = (uintptr_t)out.data};
	cr_expect_eq(hvcall(&device, &h), -EINVAL);
	cr_expect_eq(h.status, MSHV_EMU_HV_STATUS_INVALID_HYPERCALL_INPUT);
	cr_expect_eq(h.reps, 0, "no rep completed");
	expect_untouched(&out, 0);
	finish();
}

/* ---- host properties ---- */

Test(root, vmm_capabilities_and_properties_come_from_the_policy)
{
	serve_file("microsoft.yaml");
	struct guarded out;
	struct mshv_root_hvcall h;
	cr_assert_eq(get_property_ex(&device, MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES, &out, &h), 0);
	cr_expect_eq(h.status, 0);
	uint16_t banks;
	memcpy(&banks, out.data, sizeof(banks));
	cr_expect_eq(banks, 1);
	cr_expect_eq(u64_at(out.data + 8), 0x17, "map_gpa, overlay_gpfn, vp_affinity, assignable");
	expect_untouched(&out, MSHV_EMU_HV_PROPERTY_EX_OUT_SIZE);
	for (size_t i = 16; i < MSHV_EMU_HV_PROPERTY_EX_OUT_SIZE; i++)
		cr_expect_eq(out.data[i], 0, "byte %zu of the output page is zero", i);

	cr_assert_eq(get_property(&device, MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0, &out, &h), 0);
	cr_expect_eq(u64_at(out.data), 0x00F1FFFF7FFFFFFFull);
	expect_untouched(&out, 8);
	cr_expect_eq(get_property(&device, 0x00BADBAD, &out, &h), -EIO);
	cr_expect_eq(h.status, MSHV_EMU_HV_STATUS_UNKNOWN_PROPERTY);
	expect_untouched(&out, 0);

	struct mshv_emu_partition_property prop = {
		.property_code = MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH};
	cr_expect_eq(ioctl_on(&device, MSHV_GET_HOST_PARTITION_PROPERTY, &prop, sizeof(prop),
			      &transport.base),
		     0);
	cr_expect_eq(prop.property_value, 46);
	finish();
}

Test(root, out_sz_smaller_than_the_answer_truncates_it)
{
	serve_file("microsoft.yaml");
	struct guarded out;
	struct mshv_root_hvcall h;
	struct mshv_emu_hv_get_property_ex_in in = {.property_code =
							    MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES};
	guard(&out);
	h = (struct mshv_root_hvcall){.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY_EX,
				      .in_sz = sizeof(in),
				      .out_sz = 9,
				      .in_ptr = (uintptr_t)&in,
				      .out_ptr = (uintptr_t)out.data};
	cr_expect_eq(hvcall(&device, &h), 0);
	cr_expect_eq(out.data[0], 1);
	cr_expect_eq(out.data[8], 0x17);
	expect_untouched(&out, 9);
	finish();
}

Test(root, old_hypervisor_answers_access_denied_written_back)
{
	serve_file("old-hypervisor.yaml");
	struct guarded out;
	struct mshv_root_hvcall h;
	cr_expect_eq(get_property_ex(&device, MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES, &out, &h),
		     -EIO);
	cr_expect_eq(h.status, MSHV_EMU_HV_STATUS_ACCESS_DENIED,
		     "mshv-ioctls' zero-capabilities fallback needs the status");
	expect_untouched(&out, 0);
	finish();
}

Test(root, the_policy_remaps_statuses)
{
	serve("profile: root-6.19\n"
	      "driver: {status_errno: {ACCESS_DENIED: EACCES}}\n"
	      "hypervisor:\n  properties:\n    - {name: VMM_CAPABILITIES, status: ACCESS_DENIED}\n"
	      "    - {name: PROCESSOR_FEATURES0, status: PROPERTY_VALUE_OUT_OF_RANGE}\n");
	struct guarded out;
	struct mshv_root_hvcall h;
	cr_expect_eq(get_property_ex(&device, MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES, &out, &h),
		     -EACCES);
	cr_expect_eq(get_property(&device, MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0, &out, &h),
		     -EIO, "not remapped: the profile's table");
	finish();
}

/* ---- CREATE_PARTITION ---- */

Test(root, v2_structure_rules_per_generation)
{
	const char *profiles[] = {"root-6.19", "microsoft"};
	for (int p = 0; p < 2; p++) {
		char text[64];
		snprintf(text, sizeof(text), "profile: %s\n", profiles[p]);
		serve(text);
		bool microsoft = p == 1;
		struct mshv_emu_create_partition_v2 args = crate_v2();
		cr_expect_geq(create_partition_v2(&args), FD_BASE, "%s: the crate's v2",
			      profiles[p]);
		args.pt_num_cpu_fbanks = 1;
		cr_expect_eq(create_partition_v2(&args) >= FD_BASE, microsoft,
			     "%s: one bank (Microsoft's <= 2)", profiles[p]);
		args.pt_num_cpu_fbanks = 3;
		cr_expect_eq(create_partition_v2(&args), -EINVAL, "%s: three banks", profiles[p]);
		args = crate_v2();
		args.pt_rsvd[2] = 1;
		cr_expect_eq(create_partition_v2(&args), -EINVAL, "%s: pt_rsvd", profiles[p]);
		args = crate_v2();
		args.pt_rsvd1[1] = 1;
		cr_expect_eq(create_partition_v2(&args), -EINVAL, "%s: pt_rsvd1", profiles[p]);
		args = crate_v2();
		args.pt_flags |= 1 << MSHV_EMU_PT_BIT_NESTED_VIRTUALIZATION;
		cr_expect_eq(create_partition_v2(&args) >= FD_BASE, microsoft, "%s: NESTED",
			     profiles[p]);
		args = crate_v2();
		args.pt_isolation = MSHV_EMU_PT_ISOLATION_SNP;
		cr_expect_eq(create_partition_v2(&args) >= FD_BASE, microsoft, "%s: SNP",
			     profiles[p]);
		/* Bit 3 behind a pointer the caller cannot read: EFAULT. */
		struct mshv_create_partition head = {.pt_flags = 0xF};
		unsigned char out[16];
		struct emu_call call = {.cmd = MSHV_CREATE_PARTITION,
					.arg = POISON_ADDR,
					.in = &head,
					.in_size = sizeof(head),
					.out = out,
					.transport = &transport.base};
		cr_expect_eq(core_ioctl(&core, &device, &call), -EFAULT);
		finish();
	}
}

Test(root, no_nested_refuses_bits_4_and_5)
{
	serve_file("no-nested.yaml");
	struct mshv_emu_create_partition_v2 args = crate_v2();
	cr_expect_geq(create_partition_v2(&args), FD_BASE);
	args.pt_flags |= 1 << MSHV_EMU_PT_BIT_NESTED_VIRTUALIZATION;
	cr_expect_eq(create_partition_v2(&args), -EINVAL);
	args.pt_flags = 0xF | 1 << MSHV_EMU_PT_BIT_SMT_ENABLED_GUEST;
	cr_expect_eq(create_partition_v2(&args), -EINVAL);
	finish();
}

/* ---- mshv-ioctls 0.7, all the way ---- */

Test(root, mshv_ioctls_sequence_down_to_a_vp)
{
	serve_file("microsoft.yaml");
	struct guarded out;
	struct mshv_root_hvcall h;
	/* get_vmm_caps, the feature words, CREATE_PARTITION v2. */
	cr_assert_eq(get_property_ex(&device, MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES, &out, &h), 0);
	cr_assert_eq(get_property(&device, MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0, &out, &h), 0);
	cr_assert_eq(get_property(&device, MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES1, &out, &h), 0);
	struct mshv_emu_create_partition_v2 args = crate_v2();
	struct emu_session *partition = object_of(create_partition_v2(&args));
	/* The synthetic features mask: ASSIGNABLE_SYNTHETIC_PROC_FEATURES, bank 0. */
	cr_assert_eq(get_property_ex(&device,
				     MSHV_EMU_HV_PROPERTY_ASSIGNABLE_SYNTHETIC_PROC_FEATURES, &out,
				     &h),
		     0);
	uint64_t mask = u64_at(out.data + 8);
	cr_expect_eq(mask, 0x3FFFFF);
	/* On the partition fd: set early properties, read them back. */
	cr_expect_eq(
		set_property(partition, MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, mask, &h), 0);
	cr_expect_eq(h.status, 0);
	cr_expect_eq(set_property(partition, MSHV_EMU_HV_PROPERTY_UNIMPLEMENTED_MSR_ACTION, 1, &h),
		     0);
	cr_expect_eq(
		get_property(partition, MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, &out, &h), 0);
	cr_expect_eq(u64_at(out.data), mask, "what SET stored, GET reads back");
	cr_expect_eq(set_property(partition, MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0, 1, &h),
		     -EIO);
	cr_expect_eq(h.status, MSHV_EMU_HV_STATUS_ACCESS_DENIED, "a read-only property");
	cr_expect_eq(set_property(partition, 0x00BADBAD, 1, &h), -EIO);
	cr_expect_eq(h.status, MSHV_EMU_HV_STATUS_UNKNOWN_PROPERTY);
	/* A partition falls back to the host's properties. */
	cr_expect_eq(get_property(partition, MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH, &out, &h),
		     0);
	cr_expect_eq(u64_at(out.data), 46);

	/* INITIALIZE: early properties are refused afterwards. */
	cr_expect_eq(ioctl_on(partition, MSHV_INITIALIZE_PARTITION, NULL, 0, &transport.base), 0);
	cr_expect_eq(ioctl_on(partition, MSHV_INITIALIZE_PARTITION, NULL, 0, &transport.base), 0,
		     "a second INITIALIZE is a no-op");
	cr_expect_eq(set_property(partition, MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, 0, &h),
		     -EIO);
	cr_expect_eq(h.status, MSHV_EMU_HV_STATUS_INVALID_PARTITION_STATE);

	/* VPs. */
	uint32_t index = 0;
	int vp_fd = ioctl_on(partition, MSHV_CREATE_VP, &index, sizeof(index), &transport.base);
	struct emu_session *vp = object_of(vp_fd);
	cr_expect_eq(vp->object, EMU_OBJECT_VP);
	cr_expect_eq(vp->vp_index, 0);
	cr_expect_eq(ioctl_on(partition, MSHV_CREATE_VP, &index, sizeof(index), &transport.base),
		     -EEXIST);
	index = POLICY_MAX_VPS;
	cr_expect_eq(ioctl_on(partition, MSHV_CREATE_VP, &index, sizeof(index), &transport.base),
		     -EINVAL);
	cr_expect_eq(set_property(vp, MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, 0, &h), -EINVAL,
		     "SET_PARTITION_PROPERTY is asynchronous: partition fds only");
	cr_expect_eq(get_property(vp, MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, &out, &h), 0);
	cr_expect_eq(u64_at(out.data), mask, "a VP reads its partition's store");

	/* What mshv-emu does not model answers fixed errnos, never success. */
	struct mshv_run_vp run;
	cr_expect_eq(ioctl_on(vp, MSHV_RUN_VP, &run, sizeof(run), &transport.base), -EOPNOTSUPP);
	struct mshv_user_mem_region region = {0};
	cr_expect_eq(ioctl_on(partition, MSHV_SET_GUEST_MEMORY, &region, sizeof(region),
			      &transport.base),
		     -EOPNOTSUPP);
	struct mshv_emu_hv_get_property_in regs = {0};
	h = (struct mshv_root_hvcall){.code = MSHV_EMU_HVCALL_GET_VP_REGISTERS,
				      .in_sz = sizeof(regs),
				      .in_ptr = (uintptr_t)&regs};
	cr_expect_eq(hvcall(vp, &h), -EIO);
	cr_expect_eq(h.status, MSHV_EMU_HV_STATUS_FEATURE_UNAVAILABLE);
	/* A device ioctl number means nothing on a partition fd. */
	struct mshv_create_partition again = {0};
	cr_expect_eq(
		ioctl_on(partition, MSHV_CREATE_PARTITION, &again, sizeof(again), &transport.base),
		-ENOTTY);

	/* The partition outlives its fd while a VP is open. */
	core_release(&core, partition, NULL);
	transport.fds[0] = NULL;
	cr_expect_eq(get_property(vp, MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, &out, &h), 0);
	cr_expect_eq(u64_at(out.data), mask);
	finish();
}

Test(root, partitions_do_not_share_state)
{
	serve_file("microsoft.yaml");
	struct mshv_emu_create_partition_v2 args = crate_v2();
	struct emu_session *a = object_of(create_partition_v2(&args));
	struct emu_session *b = object_of(create_partition_v2(&args));
	struct mshv_root_hvcall h;
	struct guarded out;
	cr_expect_eq(set_property(a, MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, 5, &h), 0);
	cr_expect_eq(ioctl_on(a, MSHV_INITIALIZE_PARTITION, NULL, 0, &transport.base), 0);
	cr_expect_eq(get_property(b, MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, &out, &h), 0);
	cr_expect_eq(u64_at(out.data), 0);
	cr_expect_eq(set_property(b, MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, 6, &h), 0,
		     "b is not initialized");
	uint32_t index = 3;
	cr_expect_geq(ioctl_on(a, MSHV_CREATE_VP, &index, sizeof(index), &transport.base), FD_BASE);
	cr_expect_geq(ioctl_on(b, MSHV_CREATE_VP, &index, sizeof(index), &transport.base), FD_BASE,
		      "VP indices are per partition");
	finish();
}

/* The transcript replays the crate's start-up: the hypercall, its property
 * and status, CREATE_PARTITION's flags and banks, through the core. */
Test(root, the_transcript_records_what_replays_a_call)
{
	serve_file("old-hypervisor.yaml");
	char path[] = "/tmp/mshv-emu-root-trace-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	struct diag_list diags = {0};
	struct trace *trace = trace_open(path, &diags);
	cr_assert_not_null(trace);
	core_trace_start(&core, trace);
	struct guarded out;
	struct mshv_root_hvcall h;
	cr_expect_eq(get_property_ex(&device, MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES, &out, &h),
		     -EIO);
	struct mshv_emu_create_partition_v2 args = crate_v2();
	cr_expect_geq(create_partition_v2(&args), FD_BASE);
	core_trace_stop(&core, NULL);

	char text[8192] = "";
	FILE *file = fopen(path, "r");
	cr_assert_not_null(file);
	size_t len = fread(text, 1, sizeof(text) - 1, file);
	text[len] = '\0';
	fclose(file);
	unlink(path);
	cr_expect_not_null(strstr(text, "\"hvcall\":{\"code\":\"0x0101\",\"name\":"
					"\"GET_PARTITION_PROPERTY_EX\",\"property\":\"0x00090007\","
					"\"property_name\":\"VMM_CAPABILITIES\",\"status\":6,"
					"\"status_name\":\"ACCESS_DENIED\"}"),
			   "%s", text);
	char banks[256];
	snprintf(banks, sizeof(banks),
		 "\"create_partition\":{\"flags\":\"0xf\",\"isolation\":0,\"bank_count\":2,"
		 "\"banks\":[\"0x%llx\",\"0x%llx\"]}",
		 (unsigned long long)args.pt_cpu_fbanks[0],
		 (unsigned long long)args.pt_cpu_fbanks[1]);
	cr_expect_not_null(strstr(text, banks), "%s\nwant %s", text, banks);
	finish();
}

/* SET of a before-initialize property racing INITIALIZE on one partition:
 * the driver serializes a partition's ioctls, so either the SET lands
 * before INITIALIZE (and is what a later GET reads) or it is refused with
 * INVALID_PARTITION_STATE.  It never succeeds after INITIALIZE returned. */
struct init_race {
	struct emu_session *partition;
	atomic_uint *start; /* a start line both threads spin on */
	uint64_t value;
	uint16_t set_status;
	uint64_t read_after_init;
};

static void start_line(atomic_uint *line)
{
	atomic_fetch_add(line, 1);
	while (atomic_load(line) < 2)
		;
}

static void *race_set(void *arg)
{
	struct init_race *race = arg;
	struct test_transport own = {.base = {.read = t_read, .write = t_write}};
	struct mshv_emu_hv_set_property_in in = {
		.property_code = MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES,
		.property_value = race->value};
	struct mshv_root_hvcall h = {.code = MSHV_EMU_HVCALL_SET_PARTITION_PROPERTY,
				     .in_sz = sizeof(in),
				     .in_ptr = (uintptr_t)&in};
	start_line(race->start);
	ioctl_on(race->partition, MSHV_ROOT_HVCALL, &h, sizeof(h), &own.base);
	race->set_status = h.status;
	return NULL;
}

static void *race_initialize(void *arg)
{
	struct init_race *race = arg;
	struct test_transport own = {.base = {.read = t_read, .write = t_write}};
	struct mshv_emu_hv_get_property_in in = {
		.property_code = MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES};
	uint64_t value = 0;
	struct mshv_root_hvcall h = {.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
				     .in_sz = sizeof(in),
				     .out_sz = sizeof(value),
				     .in_ptr = (uintptr_t)&in,
				     .out_ptr = (uintptr_t)&value};
	start_line(race->start);
	/* Spread INITIALIZE over the whole of the SET's path, round by round. */
	for (volatile uint64_t spin = 0; spin < race->value % 64 * 8; spin++)
		;
	ioctl_on(race->partition, MSHV_INITIALIZE_PARTITION, NULL, 0, &own.base);
	ioctl_on(race->partition, MSHV_ROOT_HVCALL, &h, sizeof(h), &own.base);
	race->read_after_init = value;
	return NULL;
}

Test(root, set_racing_initialize_is_one_or_the_other)
{
	serve_file("microsoft.yaml");
	struct mshv_emu_create_partition_v2 args = crate_v2();
	unsigned refused = 0, landed = 0;
	for (uint64_t i = 1; i <= 2000; i++) {
		int fd = create_partition_v2(&args);
		atomic_uint start = 0;
		struct init_race race = {.partition = object_of(fd), .start = &start, .value = i};
		pthread_t setter, initializer;
		cr_assert_eq(pthread_create(&setter, NULL, race_set, &race), 0);
		cr_assert_eq(pthread_create(&initializer, NULL, race_initialize, &race), 0);
		pthread_join(setter, NULL);
		pthread_join(initializer, NULL);
		struct mshv_root_hvcall h;
		struct guarded out;
		cr_assert_eq(get_property(race.partition,
					  MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, &out, &h),
			     0);
		uint64_t now = u64_at(out.data);
		cr_assert_eq(now, race.read_after_init,
			     "round %llu: the property changed after INITIALIZE returned "
			     "(read %llu then, %llu now)",
			     (unsigned long long)i, (unsigned long long)race.read_after_init,
			     (unsigned long long)now);
		if (race.set_status == 0) {
			cr_assert_eq(now, i, "a SET that succeeded is what GET reads");
			landed++;
		} else {
			cr_assert_eq(race.set_status, MSHV_EMU_HV_STATUS_INVALID_PARTITION_STATE);
			cr_assert_eq(now, 0);
			refused++;
		}
		core_release(&core, race.partition, NULL);
		transport.fds[fd - FD_BASE] = NULL;
	}
	cr_log_info("2000 races: SET landed first %u times, was refused %u times", landed, refused);
	finish();
}

/* CUSE's unrestricted ioctls in process: a transport that holds none of the
 * caller's memory until the call comes back for it. */
struct retry_transport {
	struct emu_transport base;
	bool have; /* the kernel copied the regions: the call is continued */
	unsigned asked;
};

static int r_prepare(struct emu_transport *base, const struct emu_region *regions, unsigned count)
{
	struct retry_transport *t = (struct retry_transport *)base;
	t->asked++;
	return t->have ? 0 : -EMU_RETRY_WITH_MEMORY;
}

static int r_read(struct emu_transport *base, uint64_t addr, void *buf, size_t len)
{
	if (!((struct retry_transport *)base)->have)
		return -EMU_RETRY_WITH_MEMORY;
	memcpy(buf, (const void *)(uintptr_t)addr, len);
	return 0;
}

static int r_write(struct emu_transport *base, uint64_t addr, const void *buf, size_t len)
{
	if (!((struct retry_transport *)base)->have)
		return -EMU_RETRY_WITH_MEMORY;
	memcpy((void *)(uintptr_t)addr, buf, len);
	return 0;
}

static int hvcall_through(struct retry_transport *t, struct mshv_root_hvcall *h, bool continued)
{
	unsigned char out[sizeof(*h)];
	struct emu_call call = {.cmd = MSHV_ROOT_HVCALL,
				.arg = (uintptr_t)h,
				.in = h,
				.in_size = sizeof(*h),
				.out = out,
				.out_size = sizeof(out),
				.transport = &t->base,
				.continued = continued};
	int result = core_ioctl(&core, &device, &call);
	if (call.out_len)
		memcpy(h, out, call.out_len);
	return result;
}

Test(root, a_retry_for_memory_is_not_an_answer)
{
	/* A rule that fires on its third evaluation: the refused header is the
	 * first, the retry the second; the continued call must not be the third. */
	serve("profile: microsoft\nfaults:\n  rules:\n"
	      "    - {name: third, match: {ioctl: ROOT_HVCALL}, when: {every: 3},\n"
	      "       action: {errno: EIO}}\n");
	struct retry_transport t = {
		.base = {.read = r_read, .write = r_write, .prepare = r_prepare}};
	struct mshv_emu_hv_get_property_in in = {
		.property_code = MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH};
	uint64_t value = 0;
	struct mshv_root_hvcall h = {.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
				     .in_sz = sizeof(in),
				     .out_sz = sizeof(value),
				     .in_ptr = (uintptr_t)&in,
				     .out_ptr = (uintptr_t)&value};
	struct mshv_root_hvcall bad = h;
	bad.rsvd[0] = 1;
	cr_expect_eq(hvcall_through(&t, &bad, false), -EINVAL);
	cr_expect_eq(t.asked, 0, "a header the driver refuses asks for no memory");

	cr_expect_eq(hvcall_through(&t, &h, false), -EMU_RETRY_WITH_MEMORY);
	cr_expect_eq(t.asked, 1);
	cr_expect_eq(h.status, 0, "nothing written back before the retry");
	struct core_stats stats;
	core_stats(&core, 1, &stats);
	cr_expect_eq(stats.calls, 1, "the retry is not counted (only the EINVAL is)");

	t.have = true;
	cr_expect_eq(hvcall_through(&t, &h, true), 0, "continued: the faults were decided");
	cr_expect_eq(value, 46);
	core_stats(&core, 1, &stats);
	cr_expect_eq(stats.calls, 2);

	value = 0;
	cr_expect_eq(hvcall_through(&t, &h, false), -EIO, "the rule's third evaluation");
	finish();
}

/* A rule that names an ioctl matches that ioctl on the kinds of fd that
 * have it, not its number elsewhere (docs/faults.md): 0xC010B801 is the
 * device's GET_HOST_PARTITION_PROPERTY and a VP's GET_VP_STATE, and
 * CREATE_PARTITION's number means nothing on a partition fd.  A rule that
 * gives a number matches it on every kind of fd, also where it means
 * nothing. */
Test(root, a_named_fault_rule_matches_its_ioctl_and_a_number_every_fd)
{
	serve("profile: microsoft\n"
	      "faults:\n"
	      "  rules:\n"
	      "    - {name: create, match: {ioctl: CREATE_PARTITION}, action: {errno: EIO}}\n"
	      "    - {name: vp-state, match: {ioctl: GET_VP_STATE}, action: {errno: EXDEV}}\n"
	      "    - {name: number, enabled: false, match: {ioctl: 0xC010B801},\n"
	      "       action: {errno: ENOLINK}}\n");
	struct mshv_create_partition args = {0};
	cr_expect_eq(create_partition(0, 0, &transport.base), -EIO, "the device's own number");
	core_fault_enable(&core, "create", false);
	struct emu_session *partition = object_of(create_partition(0, 0, &transport.base));
	core_fault_enable(&core, "create", true);
	cr_expect_eq(
		ioctl_on(partition, MSHV_CREATE_PARTITION, &args, sizeof(args), &transport.base),
		-ENOTTY, "CREATE_PARTITION's number on a partition fd is not CREATE_PARTITION");
	uint8_t state[16] = {0};
	cr_expect_eq(ioctl_on(partition, 0xC010B801, state, sizeof(state), &transport.base),
		     -ENOTTY, "0xC010B801 on a partition fd is not GET_VP_STATE");
	struct mshv_emu_partition_property prop = {
		.property_code = MSHV_EMU_HV_PROPERTY_PHYSICAL_ADDRESS_WIDTH};
	cr_expect_eq(ioctl_on(&device, MSHV_GET_HOST_PARTITION_PROPERTY, &prop, sizeof(prop),
			      &transport.base),
		     0, "the device's 0xC010B801 is not GET_VP_STATE");
	uint32_t index = 0;
	struct emu_session *vp = object_of(
		ioctl_on(partition, MSHV_CREATE_VP, &index, sizeof(index), &transport.base));
	cr_expect_eq(ioctl_on(vp, MSHV_GET_VP_STATE, state, sizeof(state), &transport.base), -EXDEV,
		     "GET_VP_STATE on a VP fd");
	cr_expect_eq(ioctl_on(vp, MSHV_CREATE_PARTITION, &args, sizeof(args), &transport.base),
		     -ENOTTY, "CREATE_PARTITION's number on a VP fd");

	core_fault_enable(&core, "vp-state", false);
	core_fault_enable(&core, "number", true);
	cr_expect_eq(ioctl_on(&device, MSHV_GET_HOST_PARTITION_PROPERTY, &prop, sizeof(prop),
			      &transport.base),
		     -ENOLINK, "a number: on the device");
	cr_expect_eq(ioctl_on(partition, 0xC010B801, state, sizeof(state), &transport.base),
		     -ENOLINK, "a number: on a partition fd, where it is no ioctl");
	cr_expect_eq(ioctl_on(vp, MSHV_GET_VP_STATE, state, sizeof(state), &transport.base),
		     -ENOLINK, "a number: on a VP fd");
	finish();
}
