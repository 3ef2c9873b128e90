/*
 * fuzz_dispatch.c - the ioctl path: a sequence of opens, closes, ioctls,
 * writes to the caller's memory and reloads, through the core in process,
 * on any shipped policy (every profile, the root generations included).
 *
 * The input's first byte picks the policy; then each record is one step:
 *
 *   op 0xFF      reload: publish another shipped policy (once per input:
 *                a load costs a hundred ioctls)
 *   op % 15  0, 1  open the device
 *            2, 3  close an open fd (the device, a partition or a VP)
 *            4..8  an ioctl, as the kernel hands a restricted ioctl to a
 *                  daemon (the argument copied in and out), through a
 *                  transport picked by the record: none (FUSE without the
 *                  side channel), caller memory, caller memory and new fds
 *                  (the in-process transport), or one whose fds run out
 *            9, 10 an ioctl as CUSE's unrestricted ioctls go: the argument,
 *                  then the regions the op names, copied by the "kernel" on
 *                  a retry (core/gather.c, as front/cuse_ioctl.c drives it)
 *           11..14 write bytes into the caller's memory
 *
 * An ioctl record gives the fd, the number (one the policy or the uapi
 * header defines, a size or direction variant of one, or any), the
 * argument's bytes and where they lie, and which of its u64 fields point
 * into the caller's memory (the hypercall's in_ptr and out_ptr).
 *
 * Every answer is checked against what docs/abi.md, docs/policy.md and
 * docs/faults.md say that ioctl answers on that fd in that state: the
 * errno or value, what is written back (the hypercall header, the output
 * never beyond out_sz), the fd's version, the partition's property store
 * and VP indices; which fault rule fires, counted as docs/faults.md says,
 * and what it answers.  The oracle reads the policy's data (versions,
 * capabilities, properties, refusal errnos, the status-to-errno mapping,
 * allow-lists), never the core's code.  An answer the documents do not give
 * for that call aborts.  At the end every fd is closed, nothing the core
 * made may be left, and `mshvctl stats`'s counters must add up.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "gather.h"

#define MAX_FDS		16
#define FD_BASE		100
#define MEM_SIZE	(3 * 4096)
#define ARG_MAX		(1u << _IOC_SIZEBITS)
#define MAX_PASSES	4    /* a CUSE call: the argument, then at most this many retries */
#define FAULT_RULES_MAX 1024 /* docs/faults.md: rules in a policy */

/* ---- reading the input ---- */

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t u8(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

/* Little-endian; each read its own statement, so that the order is fixed. */
static uint16_t u16(struct input *in)
{
	uint16_t low = u8(in);
	return (uint16_t)(low | u8(in) << 8);
}

static uint32_t u32(struct input *in)
{
	uint32_t low = u16(in);
	return low | (uint32_t)u16(in) << 16;
}

static uint64_t u64(struct input *in)
{
	uint64_t low = u32(in);
	return low | (uint64_t)u32(in) << 32;
}

/* N bytes, zeros past the end of the input. */
static void take(struct input *in, uint8_t *out, size_t n)
{
	size_t got = n < in->left ? n : in->left;
	memcpy(out, in->p, got);
	memset(out + got, 0, n - got);
	in->p += got;
	in->left -= got;
}

/* ---- the model: what the documents say each fd and partition holds ---- */

struct model_property {
	uint32_t code;
	enum policy_settable settable;
	uint64_t value;
};

struct model_partition {
	bool used;
	const struct emu_partition *object; /* the core's, compared only */
	unsigned refs;			    /* fds: the partition's and its VPs' */
	bool initialized;
	uint64_t vps[POLICY_MAX_VPS / 64];
	unsigned count;
	struct model_property *properties;
};

struct fd {
	bool used;
	struct emu_session *session;
	uint64_t opened;  /* the Nth open of the device, or what made the object */
	bool device;	  /* the harness allocated SESSION; else the core made it */
	uint32_t version; /* negotiated, MSHV_VERSION_UNSET until then */
	int partition;	  /* index in partitions, or -1 */
};

struct answer_count {
	uint64_t calls, unknown;
	uint64_t refusals[CORE_ERRNO_SLOTS];
	uint64_t ioctl_calls[CORE_MAX_ENTRIES]; /* for the current snapshot */
};

static struct {
	/* One core per policy, kept across inputs: a core's first calls cost
	 * far more than the calls themselves (its counters' shards). */
	struct emu_core *cores, *core;
	unsigned policy;
	bool reloaded;			/* the core serves another policy now */
	struct core_stats before_stats; /* its counters when the input began */
	uint8_t mem[MEM_SIZE];		/* the caller's memory */
	uint8_t before[MEM_SIZE];	/* as it was when the call was made */
	struct fd fds[MAX_FDS];
	struct model_partition partitions[MAX_FDS];
	bool vanished; /* a vanish fault fired: ENODEV may come at any time */
	/* Fault rules as docs/faults.md counts them, until a vanish (calls
	 * inside its window are not counted, and it may end at any time). */
	bool predict;
	uint64_t opens;
	uint64_t matched[FAULT_RULES_MAX], fired[FAULT_RULES_MAX];
	struct answer_count counted;
	uint32_t cmds[POLICY_MAX_IOCTLS + 64]; /* numbers to try: the policy's, the uapi's */
	unsigned cmd_count;
	bool trace; /* FUZZ_DISPATCH_TRACE set: each step on stderr */
} s;

static struct emu_caller caller = {.pid = 4242, .uid = 0};

static const uint32_t uapi_cmds[] = {
	MSHV_REQUEST_VERSION,
	MSHV_NEGOTIATED_CHECK_EXTENSION,
	MSHV_CREATE_VTL,
	MSHV_CREATE_PARTITION,
	MSHV_CREATE_PARTITION_2020,
	MSHV_CREATE_PARTITION_2021,
	MSHV_GET_HOST_PARTITION_PROPERTY,
	MSHV_ROOT_HVCALL,
	MSHV_INITIALIZE_PARTITION,
	MSHV_CREATE_VP,
	MSHV_SET_GUEST_MEMORY,
	MSHV_IRQFD,
	MSHV_IOEVENTFD,
	MSHV_SET_MSI_ROUTING,
	MSHV_GET_GPAP_ACCESS_BITMAP,
	MSHV_RUN_VP,
	MSHV_GET_VP_STATE,
	MSHV_SET_VP_STATE,
	_IOW(0xB8, 0x00, __u64), /* a size variant */
	0x4004B8F0,		 /* an mshv-shaped number no generation defined */
	0xAE03,			 /* KVM_CHECK_EXTENSION */
};

static struct policy_snapshot *current(void)
{
	return s.core->current; /* one thread, and no publisher but this one */
}

static void collect_cmds(void)
{
	const struct policy_snapshot *snap = current();
	s.cmd_count = 0;
	for (unsigned i = 0; i < snap->ioctl_count; i++)
		s.cmds[s.cmd_count++] = snap->ioctls[i].cmd;
	for (unsigned i = 0; i < sizeof(uapi_cmds) / sizeof(uapi_cmds[0]); i++)
		s.cmds[s.cmd_count++] = uapi_cmds[i];
}

/* The policy's entry for CMD on OBJECT's fds: a plain scan of its table. */
static const struct policy_ioctl *entry_of(enum emu_object object, uint32_t cmd)
{
	const struct policy_snapshot *snap = current();
	for (unsigned i = 0; i < snap->ioctl_count; i++)
		if (snap->ioctls[i].object == object && snap->ioctls[i].cmd == cmd)
			return &snap->ioctls[i];
	return NULL;
}

static bool in_mem(uint64_t addr, size_t len)
{
	uint64_t base = (uintptr_t)s.mem;
	return addr >= base && len <= MEM_SIZE && addr - base <= MEM_SIZE - len;
}

/* ADDR in the caller's memory as it was before the call. */
static const uint8_t *before(uint64_t addr)
{
	return s.before + (addr - (uintptr_t)s.mem);
}

/* ---- transports ---- */

enum mode {
	MODE_NONE,
	MODE_MEMORY,
	MODE_FDS,
	MODE_FDS_FULL,
	MODE_CUSE
};

struct transport {
	struct emu_transport base;
	bool fds_full;
	struct emu_session *installed; /* the object bound by the last install */
	unsigned writes;
	uint64_t write_addr;
	size_t write_len;
};

static int t_read(struct emu_transport *base, uint64_t addr, void *buf, size_t len)
{
	if (!in_mem(addr, len))
		return -EFAULT;
	memcpy(buf, (const void *)(uintptr_t)addr, len);
	return 0;
}

static int t_write(struct emu_transport *base, uint64_t addr, const void *buf, size_t len)
{
	struct transport *t = (struct transport *)base;
	t->writes++;
	t->write_addr = addr;
	t->write_len = len;
	if (!in_mem(addr, len))
		return -EFAULT;
	memcpy((void *)(uintptr_t)addr, buf, len);
	return 0;
}

static int free_slot(void)
{
	for (int i = 0; i < MAX_FDS; i++)
		if (!s.fds[i].used)
			return i;
	return -1;
}

static int t_install(struct emu_transport *base, struct emu_session *object)
{
	struct transport *t = (struct transport *)base;
	int slot = free_slot();
	if (t->fds_full || slot < 0)
		return -EMFILE;
	FUZZ_CHECK(object && object->object != EMU_OBJECT_DEVICE, "install of a device session");
	FUZZ_CHECK(!t->installed, "two objects installed by one call");
	t->installed = object;
	s.fds[slot] = (struct fd){.used = true, .session = object, .partition = -1};
	return FD_BASE + slot;
}

/* ---- the documents' answers ---- */

/* The errno a hypervisor status maps to (docs/abi.md; driver.status_errno). */
static int status_errno(uint16_t status)
{
	const struct policy_snapshot *snap = current();
	if (status == MSHV_EMU_HV_STATUS_INSUFFICIENT_MEMORY && snap->insufficient_memory_errno)
		return snap->insufficient_memory_errno;
	int err = status < POLICY_STATUS_SLOTS ? snap->status_errno[status] : 0;
	return err ? err : EIO;
}

static const struct policy_property *host_property(uint32_t code)
{
	const struct policy_snapshot *snap = current();
	for (unsigned i = 0; i < snap->host_property_count; i++)
		if (snap->host_properties[i].code == code)
			return &snap->host_properties[i];
	return NULL;
}

static struct model_property *own_property(struct model_partition *p, uint32_t code)
{
	for (unsigned i = 0; p && i < p->count; i++)
		if (p->properties[i].code == code)
			return &p->properties[i];
	return NULL;
}

static bool capability_visible(const struct fd *fd, uint32_t id, int32_t *value)
{
	const struct policy_snapshot *snap = current();
	if (id >= snap->cap_slots || !snap->caps[id].version_mask)
		return false;
	*value = snap->caps[id].value;
	if (!snap->versioned)
		return true;
	for (unsigned i = 0; i < snap->version_count; i++)
		if (snap->versions[i] == fd->version)
			return snap->caps[id].version_mask >> i & 1;
	return false; /* a version the policy no longer lists sees nothing */
}

/* The u32 a REQUEST_VERSION or CHECK_EXTENSION carries. */
static uint32_t u32_arg(const struct emu_call *call)
{
	uint32_t value = 0;
	if (_IOC_DIR(call->cmd) == _IOC_NONE)
		return (uint32_t)call->arg;
	memcpy(&value, call->in, sizeof(value));
	return value;
}

/* What a call did, for the checks. */
struct outcome {
	int result;
	enum mode mode;
	struct transport *transport;
	const uint8_t *out; /* what goes back: the argument, then CUSE's regions */
	size_t out_len;
	size_t arg_len;	    /* how much of it is the argument's */
	bool kernel_efault; /* CUSE: the kernel could not copy a region in */
	bool too_big;	    /* CUSE: the regions did not fit one retry (EIO) */
	bool answered;	    /* the core answered (so counted it) ... */
	int core_result;    /* ... this */
};

/* An answer the documents do not give: say which call, then abort. */
__attribute__((noreturn, format(printf, 4, 5))) static void
wrong_answer(const struct fd *fd, const struct emu_call *call, const struct outcome *o,
	     const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	fuzz_fail("%s, ioctl 0x%08x on a %s fd: answered %d: %s", fuzz_policies[s.policy].name,
		  call->cmd, object_key(fd->session->object), o->result, why);
}

#define EXPECT(cond, ...)                                       \
	do {                                                    \
		if (!(cond))                                    \
			wrong_answer(fd, call, o, __VA_ARGS__); \
	} while (0)

static void expect_result(const struct fd *fd, const struct emu_call *call, const struct outcome *o,
			  int want, const char *why)
{
	EXPECT(o->result == want, "expected %d (%s)", want, why);
}

/* MSHV_ROOT_HVCALL (docs/abi.md, in the driver's order). */
static void expect_hvcall(struct fd *fd, const struct emu_call *call, const struct outcome *o)
{
	struct mshv_root_hvcall h;
	memcpy(&h, call->in, sizeof(h));
	static const uint8_t zero[sizeof(h.rsvd)];
	enum emu_object object = fd->session->object;
	const struct policy_snapshot *snap = current();
	bool allowed = h.code < POLICY_HVCALL_SLOTS &&
		       (snap->hvcall_allowed[object][h.code / 64] >> (h.code % 64) & 1);
	if (h.status || memcmp(h.rsvd, zero, sizeof(zero)) || !h.in_ptr || h.in_sz < 8 ||
	    h.in_sz > 4096 || (h.out_ptr && (!h.out_sz || h.out_sz > 4096)) || !allowed ||
	    (h.code == MSHV_EMU_HVCALL_SET_PARTITION_PROPERTY && object != EMU_OBJECT_PARTITION)) {
		expect_result(fd, call, o, -EINVAL, "a header the driver refuses");
		EXPECT(!o->arg_len, "wrote back a header it refused");
		return;
	}
	if (o->mode == MODE_NONE) {
		expect_result(fd, call, o, -EMU_NO_CALLER_MEMORY, "no caller memory");
		return;
	}
	size_t out_size = h.out_ptr ? h.out_sz : 0;
	if (o->too_big) {
		expect_result(fd, call, o, -EIO, "more memory than a CUSE retry carries");
		return;
	}
	if (!in_mem(h.in_ptr, h.in_sz)) {
		expect_result(fd, call, o, -EFAULT, "in_ptr unreadable");
		EXPECT(!o->arg_len, "wrote back a header with unreadable input");
		return;
	}
	/* The header goes back whatever the result. */
	EXPECT(o->arg_len == sizeof(h), "wrote back %zu bytes, not the header", o->arg_len);
	struct mshv_root_hvcall back;
	memcpy(&back, o->out, sizeof(back));
	EXPECT(back.code == h.code && back.in_sz == h.in_sz && back.out_sz == h.out_sz &&
		       back.in_ptr == h.in_ptr && back.out_ptr == h.out_ptr && !back.reps &&
		       !memcmp(back.rsvd, zero, sizeof(zero)),
	       "the header came back changed beyond status and reps");
	if (o->mode != MODE_CUSE)
		EXPECT(!o->transport->writes || (o->transport->writes == 1 &&
						 o->transport->write_addr == h.out_ptr &&
						 o->transport->write_len == out_size),
		       "output written at 0x%llx (%zu bytes), not out_ptr's %zu bytes",
		       (unsigned long long)o->transport->write_addr, o->transport->write_len,
		       out_size);

	/* What the hypervisor says (docs/policy.md). */
	uint8_t input[4096] = {0};
	memcpy(input, before(h.in_ptr), h.in_sz);
	uint32_t code;
	uint64_t arg;
	memcpy(&code, input + 8, sizeof(code));
	memcpy(&arg, input + 16, sizeof(arg));
	struct model_partition *p = fd->partition >= 0 ? &s.partitions[fd->partition] : NULL;
	uint16_t status = 0;
	uint8_t output[4096] = {0};
	size_t output_len = 0;
	bool known = true;
	if (h.reps) {
		status = MSHV_EMU_HV_STATUS_INVALID_HYPERCALL_INPUT;
	} else if (h.code == MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY ||
		   h.code == MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY_EX) {
		struct model_property *own = own_property(p, code);
		const struct policy_property *host = own ? NULL : host_property(code);
		uint64_t value = own ? own->value : host ? host->value : 0;
		status = own ? 0 : !host ? MSHV_EMU_HV_STATUS_UNKNOWN_PROPERTY : host->status;
		if (!status && h.code == MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY_EX && host &&
		    host->bank_count) {
			memcpy(output, &host->bank_count, sizeof(host->bank_count));
			memcpy(output + 8, host->banks, (size_t)host->bank_count * 8);
			output_len = 8 + (size_t)host->bank_count * 8;
		} else if (!status) {
			memcpy(output, &value, sizeof(value));
			output_len = 8;
		}
	} else if (h.code == MSHV_EMU_HVCALL_SET_PARTITION_PROPERTY) {
		struct model_property *own = own_property(p, code);
		status = !own				     ? MSHV_EMU_HV_STATUS_UNKNOWN_PROPERTY
			 : own->settable == POLICY_SET_NEVER ? MSHV_EMU_HV_STATUS_ACCESS_DENIED
			 : own->settable == POLICY_SET_BEFORE_INITIALIZE && p->initialized
				 ? MSHV_EMU_HV_STATUS_INVALID_PARTITION_STATE
				 : 0;
		if (!status)
			own->value = arg;
	} else {
		status = snap->unemulated_status;
		known = false;
	}
	EXPECT(back.status == status, "status 0x%x written back, expected 0x%x%s", back.status,
	       status, known ? "" : " (the policy's unemulated_status)");
	bool output_goes = out_size && (!status || snap->output_on_failure);
	if (output_goes && !in_mem(h.out_ptr, out_size)) {
		expect_result(fd, call, o, -EFAULT, "out_ptr unwritable");
		return;
	}
	expect_result(fd, call, o, status ? -status_errno(status) : 0, "the status's errno");
	/* The output, unless the argument went back over it. */
	if (output_goes &&
	    (h.out_ptr + out_size <= call->arg || call->arg + sizeof(h) <= h.out_ptr)) {
		const uint8_t *written = (const uint8_t *)(uintptr_t)h.out_ptr;
		EXPECT(!memcmp(written, output, out_size < output_len ? out_size : output_len),
		       "the output is not the property");
		for (size_t i = output_len; i < out_size; i++)
			EXPECT(!written[i], "output byte %zu of %zu is not zero", i, out_size);
	}
}

static void expect_create_partition(struct fd *fd, const struct emu_call *call,
				    const struct outcome *o, const struct policy_ioctl *entry)
{
	const struct policy_snapshot *snap = current();
	if (snap->create_flags_mask) {
		struct mshv_emu_create_partition_v2 v2;
		memcpy(&v2, call->in, sizeof(struct mshv_create_partition));
		if ((v2.pt_flags & ~snap->create_flags_mask) ||
		    v2.pt_isolation >= snap->create_isolation_count) {
			expect_result(fd, call, o, -EINVAL, "flags or isolation out of range");
			return;
		}
		if (snap->create_v2 &&
		    (v2.pt_flags & 1ull << MSHV_EMU_PT_BIT_CPU_AND_XSAVE_FEATURES)) {
			if (o->mode == MODE_NONE) {
				expect_result(fd, call, o, -EMU_NO_CALLER_MEMORY,
					      "the v2 structure, no caller memory");
				return;
			}
			if (!in_mem(call->arg, sizeof(v2))) {
				expect_result(fd, call, o, -EFAULT, "the v2 structure unreadable");
				return;
			}
			memcpy(&v2, before(call->arg), sizeof(v2));
			static const uint8_t zero[sizeof(v2.pt_rsvd1)];
			bool banks =
				snap->create_fbanks_at_most
					? v2.pt_num_cpu_fbanks <= MSHV_EMU_NUM_CPU_FEATURES_BANKS
					: v2.pt_num_cpu_fbanks == MSHV_EMU_NUM_CPU_FEATURES_BANKS;
			if (!banks || memcmp(v2.pt_rsvd, zero, sizeof(v2.pt_rsvd)) ||
			    memcmp(v2.pt_rsvd1, zero, sizeof(v2.pt_rsvd1))) {
				expect_result(fd, call, o, -EINVAL, "bad banks or reserved bytes");
				return;
			}
		}
	}
	if (o->mode != MODE_FDS && o->mode != MODE_FDS_FULL) {
		expect_result(fd, call, o, entry->answer, "no fd can be made: the policy's answer");
		return;
	}
	if (o->mode == MODE_FDS_FULL || (o->result < 0 && !o->transport->installed)) {
		EXPECT(o->result == -EMFILE || o->result == -ENOMEM, "expected a new fd or EMFILE");
		return;
	}
	EXPECT(o->result >= FD_BASE && o->transport->installed &&
		       o->transport->installed->object == EMU_OBJECT_PARTITION,
	       "expected a partition fd");
}

static void expect_create_vp(struct fd *fd, const struct emu_call *call, const struct outcome *o)
{
	uint32_t index;
	memcpy(&index, call->in, sizeof(index));
	struct model_partition *p = &s.partitions[fd->partition];
	if (index >= POLICY_MAX_VPS) {
		expect_result(fd, call, o, -EINVAL, "a VP index of 256 or more");
		return;
	}
	if (p->vps[index / 64] >> (index % 64) & 1) {
		expect_result(fd, call, o, -EEXIST, "a VP index already made");
		return;
	}
	if (o->mode != MODE_FDS && o->mode != MODE_FDS_FULL) {
		expect_result(fd, call, o, EMU_FIXED_DEFAULT, "no fd can be made");
		return;
	}
	if (o->result < 0) {
		EXPECT(o->result == -EMFILE || o->result == -ENOMEM, "expected a new fd or EMFILE");
		return;
	}
	EXPECT(o->transport->installed && o->transport->installed->object == EMU_OBJECT_VP &&
		       o->transport->installed->partition == fd->session->partition,
	       "expected a VP fd of this partition");
}

/* The answer with no fault: docs/abi.md for the op, the policy's data. */
static void expect_answer(struct fd *fd, const struct emu_call *call, const struct outcome *o)
{
	const struct policy_snapshot *snap = current();
	const struct policy_ioctl *entry = entry_of(fd->session->object, call->cmd);
	if (snap->versioned && (!entry || entry->op != EMU_OP_REQUEST_VERSION) &&
	    fd->version == MSHV_VERSION_UNSET) {
		expect_result(fd, call, o, -snap->refusal[EMU_REFUSAL_UNVERSIONED],
			      "errors.unversioned: no version yet");
		return;
	}
	if (!entry) {
		expect_result(fd, call, o, -snap->refusal[EMU_REFUSAL_UNKNOWN_IOCTL],
			      "errors.unknown_ioctl");
		return;
	}
	if ((_IOC_DIR(call->cmd) & _IOC_WRITE) && call->in_size < _IOC_SIZE(call->cmd)) {
		expect_result(fd, call, o, -EFAULT, "the argument could not be copied in");
		return;
	}
	int32_t value;
	switch (entry->op) {
	case EMU_OP_REQUEST_VERSION:
		if (fd->version != MSHV_VERSION_UNSET) {
			expect_result(fd, call, o, -snap->refusal[EMU_REFUSAL_VERSION_LOCKED],
				      "errors.version_locked");
		} else {
			uint32_t version = u32_arg(call);
			bool listed = false;
			for (unsigned i = 0; i < snap->version_count; i++)
				listed |= snap->versions[i] == version;
			expect_result(fd, call, o,
				      listed ? 0 : -snap->refusal[EMU_REFUSAL_UNSUPPORTED_VERSION],
				      listed ? "a listed version" : "errors.unsupported_version");
		}
		break;
	case EMU_OP_CHECK_EXTENSION:
		if (capability_visible(fd, u32_arg(call), &value))
			expect_result(fd, call, o, value, "the capability's value");
		else
			expect_result(fd, call, o, -snap->refusal[EMU_REFUSAL_UNKNOWN_CAPABILITY],
				      "errors.unknown_capability");
		break;
	case EMU_OP_CREATE_PARTITION:
		expect_create_partition(fd, call, o, entry);
		break;
	case EMU_OP_GET_HOST_PARTITION_PROPERTY: {
		struct mshv_emu_partition_property args;
		memcpy(&args, call->in, sizeof(args));
		const struct policy_property *host = host_property((uint32_t)args.property_code);
		uint16_t status = !host ? MSHV_EMU_HV_STATUS_UNKNOWN_PROPERTY : host->status;
		if (status) {
			expect_result(fd, call, o, -status_errno(status), "the status's errno");
			break;
		}
		expect_result(fd, call, o, 0, "a host property");
		EXPECT(o->arg_len == sizeof(args), "copied out %zu bytes", o->arg_len);
		memcpy(&args, o->out, sizeof(args));
		EXPECT(args.property_value == host->value, "the value is not the property's");
		break;
	}
	case EMU_OP_ROOT_HVCALL:
	case EMU_OP_PARTITION_HVCALL:
	case EMU_OP_VP_HVCALL:
		expect_hvcall(fd, call, o);
		break;
	case EMU_OP_INITIALIZE_PARTITION:
		expect_result(fd, call, o, 0, "INITIALIZE_PARTITION always succeeds");
		break;
	case EMU_OP_CREATE_VP:
		expect_create_vp(fd, call, o);
		break;
	default: /* CREATE_VTL, what mshv-emu does not model, the policy's ioctls */
		expect_result(fd, call, o, entry->answer, "the policy's fixed answer");
		break;
	}
}

/* ---- keeping the model ---- */

static int partition_model(const struct emu_partition *object)
{
	for (int i = 0; i < MAX_FDS; i++)
		if (s.partitions[i].used && s.partitions[i].object == object)
			return i;
	for (int i = 0; i < MAX_FDS; i++) {
		if (!s.partitions[i].used) {
			const struct policy_snapshot *snap = current();
			struct model_partition *p = &s.partitions[i];
			*p = (struct model_partition){.used = true, .object = object};
			p->count = snap->partition_property_count;
			p->properties = calloc(p->count + 1, sizeof(*p->properties));
			if (!p->properties)
				abort();
			for (unsigned j = 0; j < p->count; j++)
				p->properties[j] = (struct model_property){
					.code = snap->partition_properties[j].code,
					.settable = snap->partition_properties[j].settable,
					.value = snap->partition_properties[j].value,
				};
			return i;
		}
	}
	fuzz_fail("more partitions than fds");
}

static void partition_put(int index)
{
	struct model_partition *p = &s.partitions[index];
	if (--p->refs == 0) {
		free(p->properties);
		*p = (struct model_partition){0};
	}
}

/* The call's answer is in: update the model from what the documents say
 * it did (a version locked, a partition initialized, an fd made). */
static void update_model(struct fd *fd, const struct emu_call *call, const struct outcome *o,
			 bool faulted)
{
	const struct policy_ioctl *entry = entry_of(fd->session->object, call->cmd);
	if (faulted || !entry)
		return;
	if (entry->op == EMU_OP_REQUEST_VERSION && o->result == 0)
		fd->version = u32_arg(call);
	if (entry->op == EMU_OP_INITIALIZE_PARTITION && o->result == 0)
		s.partitions[fd->partition].initialized = true;
	struct emu_session *made = o->transport ? o->transport->installed : NULL;
	if (made && o->result >= FD_BASE) {
		struct fd *new_fd = &s.fds[o->result - FD_BASE];
		FUZZ_CHECK(new_fd->session == made, "fd %d is not the object made", o->result);
		new_fd->version = fd->version; /* an object shares its creator's version ... */
		new_fd->opened = fd->opened;   /* ... and open number */
		new_fd->partition = partition_model(made->partition);
		s.partitions[new_fd->partition].refs++;
		if (entry->op == EMU_OP_CREATE_VP) {
			uint32_t index;
			memcpy(&index, call->in, sizeof(index));
			s.partitions[fd->partition].vps[index / 64] |= 1ull << (index % 64);
		}
	}
}

static void count_answer(const struct emu_call *call, enum emu_object object, int result)
{
	const struct policy_ioctl *entry = entry_of(object, call->cmd);
	s.counted.calls++;
	if (entry)
		s.counted.ioctl_calls[entry - current()->ioctls]++;
	else
		s.counted.unknown++;
	if (result < 0)
		s.counted.refusals[-result < CORE_ERRNO_SLOTS ? -result : 0]++;
}

static const struct fault_rule *rule_named(const char *name)
{
	const struct policy_snapshot *snap = current();
	for (unsigned i = 0; i < snap->fault_count; i++)
		if (!strncmp(snap->faults[i].name, name, TRACE_NAME_MAX - 1))
			return &snap->faults[i];
	fuzz_fail("a fault named `%s` fired, and the policy has none", name);
}

/* docs/faults.md, "when": does match number MATCH of rule INDEX fire? */
static bool when_fires(const struct fault_rule *rule, unsigned index, uint64_t match)
{
	if (rule->nth && match != rule->nth)
		return false;
	if (rule->every && match % rule->every)
		return false;
	if (rule->after && match <= rule->after)
		return false;
	/* The draw: the documented hash of seed, rule index and match number. */
	if (rule->has_probability &&
	    fault_draw(current()->fault_seed, index, match) >= rule->probability_threshold)
		return false;
	return !rule->times || s.fired[index] < rule->times;
}

/* The policy's rule that fires for this call, or NULL: rules in order,
 * each that matches counts the call, the first whose `when` holds fires. */
static const struct fault_rule *predict_fault(enum fault_event event, uint32_t cmd,
					      enum emu_object object, bool has_arg, uint32_t arg,
					      uint64_t session, const struct emu_caller *who)
{
	const struct policy_snapshot *snap = current();
	FUZZ_CHECK(snap->fault_count <= FAULT_RULES_MAX, "%u fault rules", snap->fault_count);
	for (unsigned i = 0; i < snap->fault_count; i++) {
		const struct fault_rule *r = &snap->faults[i];
		/* A named ioctl is that ioctl on the kinds of fd that have it; a
		 * number is that number on any fd. */
		for (unsigned o = 0; o < EMU_OBJECT_COUNT; o++)
			FUZZ_CHECK(!(r->objects & 1u << o) || policy_find_ioctl(snap, o, r->cmd),
				   "rule `%s` names 0x%08X, which a %s fd does not have", r->name,
				   r->cmd, o == EMU_OBJECT_DEVICE ? "device" : "partition or VP");
		if (!r->enabled || r->event != event || (r->has_cmd && r->cmd != cmd) ||
		    (r->objects && !(r->objects & 1u << object)) ||
		    (r->has_arg && (!has_arg || r->arg != arg)) ||
		    (r->has_session && r->session != session) ||
		    ((r->has_pid || r->has_uid || r->comm_glob) &&
		     (!who || (r->has_pid && r->pid != who->pid) ||
		      (r->has_uid && r->uid != who->uid) || r->comm_glob)))
			continue; /* the caller has no command name: no glob matches */
		if (when_fires(r, i, ++s.matched[i])) {
			s.fired[i]++;
			return r;
		}
	}
	return NULL;
}

static void expect_fault(const struct fault_rule *predicted, const char *fired, const char *what)
{
	FUZZ_CHECK(!strncmp(predicted ? predicted->name : "", fired, TRACE_NAME_MAX - 1),
		   "%s: %s: rule `%s` fired, docs/faults.md says `%s`",
		   fuzz_policies[s.policy].name, what, fired, predicted ? predicted->name : "");
	if (predicted && predicted->vanish_ns)
		s.predict = false;
}

/* ---- the steps ---- */

static struct fd *pick_fd(struct input *in)
{
	unsigned open = 0, n = u8(in);
	for (int i = 0; i < MAX_FDS; i++)
		open += s.fds[i].used;
	if (!open)
		return NULL;
	n %= open;
	for (int i = 0; i < MAX_FDS; i++)
		if (s.fds[i].used && !n--)
			return &s.fds[i];
	return NULL;
}

static void step_open(struct input *in)
{
	int slot = free_slot();
	if (slot < 0)
		return;
	bool interrupted = u8(in) & 1;
	struct emu_session *session = calloc(1, sizeof(*session));
	if (!session)
		abort();
	struct emu_call call = {.caller = &caller};
	uint64_t opened = ++s.opens; /* opens are numbered as they arrive, failed ones too */
	const struct fault_rule *predicted =
		s.predict ? predict_fault(FAULT_EVENT_OPEN, 0, EMU_OBJECT_DEVICE, false, 0, opened,
					  &caller)
			  : NULL;
	int result = core_open(s.core, session, &call);
	if (s.predict)
		expect_fault(predicted, call.fault, "open");
	bool held = call.hold_ns || call.hang;
	if (held)
		result = core_open_complete(s.core, session, &call, interrupted);
	if (call.fault[0]) {
		const struct fault_rule *rule = rule_named(call.fault);
		if (rule->vanish_ns)
			s.vanished = true;
		int want = rule->vanish_ns	 ? -ENOENT
			   : held && interrupted ? -EINTR
			   : rule->has_result	 ? rule->result
						 : 0;
		FUZZ_CHECK(result == want, "%s: open answered %d; rule %s says %d",
			   fuzz_policies[s.policy].name, result, rule->name, want);
	} else {
		FUZZ_CHECK(result == 0 || (result == -ENOENT && s.vanished),
			   "%s: open answered %d with no fault", fuzz_policies[s.policy].name,
			   result);
	}
	if (s.trace)
		fprintf(stderr, "fuzz-dispatch: open: %d%s%s\n", result,
			call.fault[0] ? ", fault " : "", call.fault);
	if (result) {
		free(session);
		return;
	}
	s.fds[slot] = (struct fd){.used = true,
				  .session = session,
				  .opened = opened,
				  .device = true,
				  .version = MSHV_VERSION_UNSET,
				  .partition = -1};
}

static void close_fd(struct fd *fd)
{
	/* Release rules are about the device's opens, not what they made. */
	bool predicting = s.predict && fd->device;
	const struct fault_rule *predicted =
		predicting ? predict_fault(FAULT_EVENT_RELEASE, 0, fd->session->object, false, 0,
					   fd->opened, &caller)
			   : NULL;
	core_release(s.core, fd->session, fd->device ? &caller : NULL);
	if (predicting && !predicted)
		FUZZ_CHECK(!core_vanished(s.core),
			   "%s: a release vanished the device, no rule says so",
			   fuzz_policies[s.policy].name);
	if (predicted) { /* a release rule only vanishes (its window may be over already) */
		s.vanished = true;
		s.predict = false;
	}
	if (core_vanished(s.core))
		s.vanished = true;
	if (fd->device)
		free(fd->session);
	if (fd->partition >= 0)
		partition_put(fd->partition);
	*fd = (struct fd){0};
}

static void step_close(struct input *in)
{
	struct fd *fd = pick_fd(in);
	if (fd)
		close_fd(fd);
}

static void step_poke(struct input *in)
{
	uint16_t offset = u16(in) % MEM_SIZE;
	size_t len = u8(in);
	if (len > MEM_SIZE - offset)
		len = MEM_SIZE - offset;
	take(in, s.mem + offset, len);
}

static void step_reload(struct input *in)
{
	unsigned next = u8(in) % fuzz_policy_count;
	if (s.reloaded)
		return;
	if (s.trace)
		fprintf(stderr, "fuzz-dispatch: reload: %s\n", fuzz_policies[next].name);
	core_publish(s.core, fuzz_load(next));
	s.reloaded = true;
	memset(s.matched, 0, sizeof(s.matched)); /* the new policy's counters start at 0 */
	memset(s.fired, 0, sizeof(s.fired));
	memset(s.counted.ioctl_calls, 0, sizeof(s.counted.ioctl_calls));
	collect_cmds();
}

/* CUSE: the argument, then the regions the op named, until it answers. */
static int run_cuse(struct fd *fd, struct emu_call *call, bool interrupted, uint8_t *arg_in,
		    struct outcome *o, char *fault)
{
	static uint8_t out[ARG_MAX + EMU_GATHER_BYTES];
	static uint8_t region_in[EMU_GATHER_BYTES];
	struct emu_gather g;
	struct emu_region regions[EMU_GATHER_MAX];
	unsigned region_count = 0;
	size_t in_len = 0, out_len = 0;
	int result = 0;
	for (unsigned pass = 0;; pass++) {
		FUZZ_CHECK(pass <= MAX_PASSES,
			   "%s: ioctl 0x%08x still asks for memory after %u "
			   "retries",
			   fuzz_policies[s.policy].name, call->cmd, MAX_PASSES);
		emu_gather_init(&g, call->cmd);
		emu_gather_supply(&g, region_in, in_len, out + g.base_out, out_len);
		memset(out, 0, g.base_out);
		if (g.base_in && g.base_out)
			memcpy(out, arg_in, g.base_in < g.base_out ? g.base_in : g.base_out);
		call->in = g.base_in ? arg_in : NULL;
		call->in_size = g.base_in;
		call->out = out;
		call->out_size = g.base_out;
		call->transport = &g.base;
		call->continued = in_len || out_len;
		result = core_ioctl(s.core, fd->session, call);
		if (pass == 0)
			memcpy(fault, call->fault, TRACE_NAME_MAX);
		else
			FUZZ_CHECK(!call->fault[0], "a fault decided again on a CUSE retry");
		if (call->hold_ns || call->hang) {
			FUZZ_CHECK(pass == 0, "a CUSE retry held");
			/* front/hold.c: nothing copied stays valid while it is held. */
			emu_gather_supply(&g, NULL, 0, NULL, 0);
			static uint8_t held_out[256];
			call->out = held_out;
			call->out_size = call->out_size < 256 ? call->out_size : 256;
			result = core_ioctl_complete(s.core, fd->session, call, interrupted);
			if (result != -EMU_RETRY_WITH_MEMORY)
				memcpy(out, held_out, call->out_len);
			call->out = out;
		}
		if (result != -EMU_RETRY_WITH_MEMORY)
			break;
		if (!emu_gather_fits(&g)) {
			o->too_big = true;
			return -EIO; /* front/cuse_ioctl.c answers it, uncounted */
		}
		/* The kernel copies the read regions; the write regions it fills
		 * from the reply.  A region it cannot reach ends the call. */
		in_len = out_len = 0;
		region_count = g.count;
		memcpy(regions, g.regions, sizeof(regions[0]) * g.count);
		for (unsigned i = 0; i < g.count; i++) {
			const struct emu_region *r = &g.regions[i];
			if (!r->write && !in_mem(r->addr, r->len)) {
				o->kernel_efault = true;
				return -EFAULT;
			}
			if (r->write) {
				out_len += r->len;
			} else {
				memcpy(region_in + in_len, (const void *)(uintptr_t)r->addr,
				       r->len);
				in_len += r->len;
			}
		}
	}
	ssize_t written = emu_gather_written(&g);
	FUZZ_CHECK(written >= 0, "%s: ioctl 0x%08x wrote a region after one it left unwritten",
		   fuzz_policies[s.policy].name, call->cmd);
	o->answered = true;
	o->core_result = result;
	o->out = out;
	o->out_len = written ? g.base_out + (size_t)written : call->out_len;
	o->arg_len = o->out_len < g.base_out ? o->out_len : g.base_out;
	/* The kernel copies the reply back: the argument, then each write
	 * region named in the last retry, in order, as far as the reply goes.
	 * A region it cannot write fails the call there. */
	if (o->arg_len)
		memcpy((void *)(uintptr_t)call->arg, out, o->arg_len);
	size_t at = g.base_out;
	for (unsigned i = 0; i < region_count && at < o->out_len; i++) {
		if (!regions[i].write)
			continue;
		size_t len = regions[i].len < o->out_len - at ? regions[i].len : o->out_len - at;
		if (!in_mem(regions[i].addr, len))
			return -EFAULT;
		memcpy((void *)(uintptr_t)regions[i].addr, out + at, len);
		at += len;
	}
	return result;
}

static uint32_t pick_cmd(struct input *in)
{
	uint8_t how = u8(in);
	if (how < 0xD0)
		return s.cmds[how % s.cmd_count];
	if (how < 0xF0) { /* a variant: another size or direction */
		uint32_t cmd = s.cmds[u8(in) % s.cmd_count];
		uint8_t change = u8(in);
		if (change & 1)
			cmd = (cmd & ~((uint32_t)_IOC_SIZEMASK << _IOC_SIZESHIFT)) |
			      (uint32_t)(change >> 1) << _IOC_SIZESHIFT;
		else
			cmd = (cmd & ~((uint32_t)_IOC_DIRMASK << _IOC_DIRSHIFT)) |
			      (uint32_t)((change >> 1) & _IOC_DIRMASK) << _IOC_DIRSHIFT;
		return cmd;
	}
	return u32(in);
}

static void step_ioctl(struct input *in, bool cuse)
{
	struct fd *fd = pick_fd(in);
	if (!fd)
		return;
	uint32_t cmd = pick_cmd(in);
	uint8_t how = u8(in);
	enum mode mode = cuse ? MODE_CUSE : (enum mode)(how & 3);
	bool short_arg = !cuse && (how & 4);
	bool interrupted = how & 8;
	size_t size = _IOC_SIZE(cmd);
	unsigned dir = _IOC_DIR(cmd);

	/* The argument, where it lies in the caller's memory. */
	static uint8_t arg[ARG_MAX];
	take(in, arg, size < 64 ? size : 64);
	memset(arg + (size < 64 ? size : 64), 0, size > 64 ? size - 64 : 0);
	uint8_t pointers = u8(in);
	for (unsigned i = 0; i < 8 && 8 * (i + 1) <= size; i++) {
		if (pointers >> i & 1) {
			uint64_t addr = (uintptr_t)s.mem + u16(in) % MEM_SIZE;
			memcpy(arg + 8 * i, &addr, sizeof(addr));
		}
	}
	size_t at = size <= MEM_SIZE ? u16(in) % (MEM_SIZE - size + 1) : 0;
	uint64_t value = u64(in);
	if (size <= MEM_SIZE)
		memcpy(s.mem + at, arg, size);
	memcpy(s.before, s.mem, sizeof(s.mem));
	static uint8_t kernel_in[ARG_MAX];
	memcpy(kernel_in, arg, size);

	struct transport t = {
		.base =
			{
				.read = mode == MODE_NONE ? NULL : t_read,
				.write = mode == MODE_NONE ? NULL : t_write,
				.install = mode == MODE_FDS || mode == MODE_FDS_FULL ? t_install
										     : NULL,
			},
		.fds_full = mode == MODE_FDS_FULL,
	};
	static uint8_t out[256];
	struct emu_call call = {
		.cmd = cmd,
		.arg = dir == _IOC_NONE ? value : (uintptr_t)(s.mem + at),
		.in = dir & _IOC_WRITE ? kernel_in : NULL,
		.in_size = dir & _IOC_WRITE ? (short_arg ? value % (size + 1) : size) : 0,
		.out = out,
		.out_size = dir & _IOC_READ ? (size < 256 ? size : 256) : 0,
		.caller = &caller,
		.transport = mode == MODE_NONE ? NULL : &t.base,
	};
	/* The kernel copies a restricted ioctl's argument whole; one it cannot
	 * reach never gets to the daemon (docs/abi.md). */
	if (!short_arg && dir != _IOC_NONE && size > MEM_SIZE)
		return;
	struct outcome o = {.mode = mode, .transport = &t};
	char fault[TRACE_NAME_MAX] = "";
	bool held = false;
	/* The __u32 a rule's `arg` compares: by value, or the argument's first
	 * four bytes as copied in. */
	size_t in_size = cuse ? (dir & _IOC_WRITE ? size : 0) : call.in_size;
	uint32_t arg32 = (uint32_t)value;
	bool has_arg = dir == _IOC_NONE || ((dir & _IOC_WRITE) && in_size >= 4);
	if (dir != _IOC_NONE)
		memcpy(&arg32, kernel_in, sizeof(arg32));
	const struct fault_rule *predicted =
		s.predict ? predict_fault(FAULT_EVENT_IOCTL, cmd, fd->session->object, has_arg,
					  arg32, fd->opened, &caller)
			  : NULL;
	if (cuse) {
		o.result = run_cuse(fd, &call, interrupted, kernel_in, &o, fault);
		held = call.hold_ns || call.hang;
	} else {
		o.result = core_ioctl(s.core, fd->session, &call);
		memcpy(fault, call.fault, sizeof(fault));
		held = call.hold_ns || call.hang;
		if (held) {
			/* front/hold.c: answered later into a buffer of its own. */
			static uint8_t held_out[256];
			call.out = held_out;
			o.result = core_ioctl_complete(s.core, fd->session, &call, interrupted);
		}
		FUZZ_CHECK(o.result != -EMU_RETRY_WITH_MEMORY,
			   "asked for a retry outside CUSE's unrestricted ioctls");
		o.answered = true;
		o.core_result = o.result;
		o.out = call.out;
		o.out_len = o.arg_len = call.out_len;
		if (o.out_len && (dir & _IOC_READ))
			memcpy(s.mem + at, o.out, o.out_len);
	}
	if (s.predict)
		expect_fault(predicted, fault, "ioctl");
	FUZZ_CHECK(o.result >= -4095, "ioctl 0x%08x answered %d: not an errno", cmd, o.result);
	FUZZ_CHECK(o.out_len <= (cuse ? sizeof(arg) + EMU_GATHER_BYTES : call.out_size),
		   "ioctl 0x%08x copies %zu bytes out of %zu", cmd, o.out_len, call.out_size);
	if (o.answered)
		count_answer(&call, fd->session->object, o.core_result);

	if (s.trace)
		fprintf(stderr, "fuzz-dispatch: fd %d (%s): ioctl 0x%08x %s: %d%s%s\n",
			FD_BASE + (int)(fd - s.fds), object_key(fd->session->object), cmd,
			(const char *[]){"no memory", "memory", "memory, fds", "memory, no fd left",
					 "CUSE"}[mode],
			o.result, fault[0] ? ", fault " : "", fault);
	/* The answer: a fault's, the vanished device's, or the documents'. */
	bool faulted = fault[0] != '\0';
	if (faulted) {
		const struct fault_rule *rule = rule_named(fault);
		if (rule->vanish_ns) {
			s.vanished = true;
			FUZZ_CHECK(o.result == -ENODEV, "%s: rule %s vanished, answered %d",
				   fuzz_policies[s.policy].name, rule->name, o.result);
		} else if (held && interrupted) {
			FUZZ_CHECK(o.result == -EINTR, "%s: interrupted, answered %d",
				   fuzz_policies[s.policy].name, o.result);
		} else if (rule->has_result) {
			FUZZ_CHECK(o.result == rule->result, "%s: rule %s says %d, answered %d",
				   fuzz_policies[s.policy].name, rule->name, rule->result,
				   o.result);
		} else {
			faulted = false; /* a delay or a hang: then the policy's answer */
		}
	}
	if (!faulted && !(s.vanished && o.result == -ENODEV))
		expect_answer(fd, &call, &o);
	update_model(fd, &call, &o, faulted || o.result == -ENODEV);
}

/* ---- one input ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_load_policies();
	s.trace = getenv("FUZZ_DISPATCH_TRACE") != NULL;
	s.cores = aligned_alloc(_Alignof(struct emu_core), fuzz_policy_count * sizeof(*s.cores));
	if (!s.cores)
		abort();
	for (unsigned i = 0; i < fuzz_policy_count; i++)
		core_init(&s.cores[i], fuzz_load(i));
	return 0;
}

/* The counters `mshvctl stats` shows moved by what was answered. */
static void check_stats(void)
{
	static struct core_stats stats;
	const struct policy_snapshot *snap = current();
	core_stats(s.core, snap->generation, &stats);
	const struct core_stats *b = &s.before_stats;
	stats.calls -= b->calls;
	stats.unknown_ioctls -= b->unknown_ioctls;
	for (unsigned i = 0; i < CORE_ERRNO_SLOTS; i++)
		stats.refusals[i] -= b->refusals[i];
	if (b->generation == snap->generation) /* per ioctl: for one snapshot */
		for (unsigned i = 0; i < CORE_MAX_ENTRIES; i++)
			stats.ioctl_calls[i] -= b->ioctl_calls[i];
	FUZZ_CHECK(stats.calls == s.counted.calls && stats.unknown_ioctls == s.counted.unknown,
		   "stats: %llu calls (%llu unknown), %llu answered (%llu unknown)",
		   (unsigned long long)stats.calls, (unsigned long long)stats.unknown_ioctls,
		   (unsigned long long)s.counted.calls, (unsigned long long)s.counted.unknown);
	for (unsigned i = 0; i < CORE_ERRNO_SLOTS; i++)
		FUZZ_CHECK(stats.refusals[i] == s.counted.refusals[i],
			   "stats: %llu refusals with errno %u, %llu answered",
			   (unsigned long long)stats.refusals[i], i,
			   (unsigned long long)s.counted.refusals[i]);
	for (unsigned i = 0; i < snap->ioctl_count; i++)
		FUZZ_CHECK(stats.ioctl_calls[i] == s.counted.ioctl_calls[i],
			   "stats: %llu calls of %s, %llu answered",
			   (unsigned long long)stats.ioctl_calls[i], snap->ioctls[i].name,
			   (unsigned long long)s.counted.ioctl_calls[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	s.policy = u8(&in) % fuzz_policy_count;
	if (s.trace)
		fprintf(stderr, "fuzz-dispatch: %s\n", fuzz_policies[s.policy].name);
	/* The policy's core as a fresh daemon's: rule counters at 0, the
	 * device present, opens numbered from 1. */
	s.core = &s.cores[s.policy];
	struct policy_snapshot *snap = current();
	fault_state_init(snap->fault_states, snap->faults, snap->fault_count);
	core_vanish(s.core, 0);
	atomic_store(&s.core->sessions_opened, 0);
	core_stats(s.core, snap->generation, &s.before_stats);
	s.reloaded = false;
	memset(s.mem, 0, sizeof(s.mem));
	memset(&s.counted, 0, sizeof(s.counted));
	s.vanished = false;
	s.predict = true;
	s.opens = 0;
	memset(s.matched, 0, sizeof(s.matched[0]) * snap->fault_count);
	memset(s.fired, 0, sizeof(s.fired[0]) * snap->fault_count);
	collect_cmds();

	while (in.left) {
		uint8_t op = u8(&in);
		if (op == 0xFF)
			step_reload(&in);
		else if (op % 15 < 2)
			step_open(&in);
		else if (op % 15 < 4)
			step_close(&in);
		else if (op % 15 < 9)
			step_ioctl(&in, false);
		else if (op % 15 < 11)
			step_ioctl(&in, true);
		else
			step_poke(&in);
	}

	check_stats();
	/* Close everything, VPs before their partition or after: any order. */
	for (int i = 0; i < MAX_FDS; i++)
		if (s.fds[i].used)
			close_fd(&s.fds[i]);
	FUZZ_CHECK(atomic_load(&s.core->objects_open) == 0, "%llu partition or VP objects left",
		   (unsigned long long)atomic_load(&s.core->objects_open));
	FUZZ_CHECK(atomic_load(&s.core->sessions_open) == 0, "%llu device sessions left",
		   (unsigned long long)atomic_load(&s.core->sessions_open));
	for (int i = 0; i < MAX_FDS; i++)
		FUZZ_CHECK(!s.partitions[i].used, "the model kept a partition");
	if (s.reloaded)
		core_publish(s.core, fuzz_load(s.policy));
	return 0;
}
