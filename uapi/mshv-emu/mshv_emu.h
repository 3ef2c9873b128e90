/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * mshv_emu.h - the ABI that /dev/mshv has spoken, generation by generation.
 * Installed as <mshv-emu/mshv_emu.h> (pkg-config mshv-emu).
 *
 * Every ioctl number, capability id and profile name the emulator and its
 * clients use is defined here and nowhere else.  Each value cites the kernel
 * source it comes from.  This header deliberately defines no structures
 * beyond the ones a generation put on the wire, and includes nothing but
 * <linux/ioctl.h>, <linux/types.h> and, where the system has it, the
 * kernel's <linux/mshv.h>, so a client (mshv-probe, a VMM's test) can
 * depend on it alone.
 *
 * Names the kernel's <linux/mshv.h> also defines (its structures, enums and
 * ioctl numbers) are the kernel's: when the compiler finds <linux/mshv.h>
 * this header includes it and defines none of them again, so the two can
 * be included together, in either order.  Without it (Linux headers before
 * 6.15, such as Debian 12's) this header carries Linux 6.15's definitions,
 * with the same names and values.  What other generations defined keeps
 * their names (MSHV_REQUEST_VERSION, MSHV_CAP_*); the rest is prefixed
 * MSHV_EMU_ or mshv_emu_.  MSHV_EMU_NO_KERNEL_HEADER makes it use its own
 * copies even where <linux/mshv.h> exists (then do not include that too):
 * tests/install/headers.sh compares the two.
 */
#ifndef _MSHV_EMU_MSHV_EMU_H
#define _MSHV_EMU_MSHV_EMU_H

#include <linux/ioctl.h>
#include <linux/types.h>

#if defined(__has_include) && !defined(MSHV_EMU_NO_KERNEL_HEADER)
#if __has_include(<linux/mshv.h>)
#include <linux/mshv.h>
#endif
#endif

/* The mshv ioctl magic, every generation. */
#ifndef MSHV_IOCTL
#define MSHV_IOCTL 0xB8
#endif

/*
 * RFC, Nov 2020, "[RFC PATCH 04/18] virt/mshv: request version ioctl"
 * (virt/mshv/mshv_main.c): the fd starts unversioned; a supported version
 * locks it; an unsupported one is -ENOTSUPP (524) and the fd stays
 * unversioned; a second request, and any other ioctl before a version, is
 * -EBADFD.  = 0x4004B800
 */
#define MSHV_REQUEST_VERSION _IOW(MSHV_IOCTL, 0x00, __u32)

/*
 * 2021 series v1-v3, "drivers/hv: check extension ioctl", and today's
 * mshv_vtl driver (drivers/hv/mshv_vtl_main.c): the argument points to a
 * __u32 capability id; 0 = known but unsupported, > 0 = supported.
 * Unknown id: -ENOTSUPP (524) in v1, -EOPNOTSUPP from v2 and in mshv_vtl.
 * = 0x4004B800, the same number as MSHV_REQUEST_VERSION.
 */
#ifndef MSHV_CHECK_EXTENSION
#define MSHV_CHECK_EXTENSION _IOW(MSHV_IOCTL, 0x00, __u32)
#endif

/*
 * The combination proposed in the 2021 review: REQUEST_VERSION keeps
 * 0x4004B800 and CHECK_EXTENSION moves to the next number.  No kernel
 * shipped it; it is the emulator's default profile.  = 0x4004B801
 */
#define MSHV_NEGOTIATED_CHECK_EXTENSION _IOW(MSHV_IOCTL, 0x01, __u32)

/*
 * mshv_vtl driver (drivers/hv/mshv_vtl_main.c): creates a VTL and returns
 * its fd.  The emulator answers it from the policy.  = 0x8001B81D
 */
#ifndef MSHV_CREATE_VTL
#define MSHV_CREATE_VTL _IOR(MSHV_IOCTL, 0x1D, char)
#endif

/*
 * ---- The root driver (drivers/hv/mshv_root_main.c) ----
 *
 * Upstream Linux 6.15 include/uapi/linux/mshv.h, as it is: the device fd
 * takes MSHV_CREATE_PARTITION only; everything else, 0x4004B800 included,
 * is -ENOTTY.  The names below are upstream's, with upstream's values, and
 * defined here only when the kernel's header is not there (above): its
 * include guard is _LINUX_MSHV_H as installed, _UAPI_LINUX_MSHV_H in a
 * kernel tree.  Later kernels add flag bits to MSHV_PT_FLAGS_MASK, so the
 * emulator uses MSHV_EMU_PT_FLAGS_MASK_6_15 (below) for 6.15's.
 */
#if !defined(_LINUX_MSHV_H) && !defined(_UAPI_LINUX_MSHV_H)

enum {
	MSHV_PT_BIT_LAPIC,
	MSHV_PT_BIT_X2APIC,
	MSHV_PT_BIT_GPA_SUPER_PAGES,
	MSHV_PT_BIT_COUNT,
};

#define MSHV_PT_FLAGS_MASK ((1 << MSHV_PT_BIT_COUNT) - 1)

enum {
	MSHV_PT_ISOLATION_NONE,
	MSHV_PT_ISOLATION_COUNT,
};

struct mshv_create_partition {
	__u64 pt_flags;
	__u64 pt_isolation;
};

/* /dev/mshv.  = 0x4010B800 */
#define MSHV_CREATE_PARTITION _IOW(MSHV_IOCTL, 0x00, struct mshv_create_partition)

struct mshv_create_vp {
	__u32 vp_index;
};

struct mshv_user_mem_region {
	__u64 size;
	__u64 guest_pfn;
	__u64 userspace_addr;
	__u8 flags;
	__u8 rsvd[7];
};

struct mshv_user_irqfd {
	__s32 fd;
	__s32 resamplefd;
	__u32 gsi;
	__u32 flags;
};

struct mshv_user_ioeventfd {
	__u64 datamatch;
	__u64 addr;
	__u32 len;
	__s32 fd;
	__u32 flags;
	__u8 rsvd[4];
};

struct mshv_user_irq_entry {
	__u32 gsi;
	__u32 address_lo;
	__u32 address_hi;
	__u32 data;
};

struct mshv_user_irq_table {
	__u32 nr;
	__u32 rsvd;
	struct mshv_user_irq_entry entries[];
};

struct mshv_gpap_access_bitmap {
	__u8 access_type;
	__u8 access_op;
	__u8 rsvd[6];
	__u64 page_count;
	__u64 gpap_base;
	__u64 bitmap_ptr;
};

/*
 * MSHV_ROOT_HVCALL: a hypercall passed through.  The driver checks the
 * header (status and rsvd zero, in_ptr set, 8 <= in_sz <= 4096, out_sz 1 to
 * 4096 when out_ptr is set, the code on its allow-list: each -EINVAL),
 * copies in_sz bytes from in_ptr, overwrites their first u64 with the
 * partition id, makes the call, writes this header back with status and
 * reps whatever the result, and returns the status mapped to an errno.
 */
struct mshv_root_hvcall {
	__u16 code;
	__u16 reps;
	__u16 in_sz;
	__u16 out_sz;
	__u16 status;
	__u8 rsvd[6];
	__u64 in_ptr;
	__u64 out_ptr;
};

/* Partition fds (returned by MSHV_CREATE_PARTITION) */
#define MSHV_INITIALIZE_PARTITION _IO(MSHV_IOCTL, 0x00)				/* 0x0000B800 */
#define MSHV_CREATE_VP		  _IOW(MSHV_IOCTL, 0x01, struct mshv_create_vp) /* 0x4004B801 */
#define MSHV_SET_GUEST_MEMORY	  _IOW(MSHV_IOCTL, 0x02, struct mshv_user_mem_region) /* 0x4020B802 */
#define MSHV_IRQFD		  _IOW(MSHV_IOCTL, 0x03, struct mshv_user_irqfd) /* 0x4010B803 */
#define MSHV_IOEVENTFD		  _IOW(MSHV_IOCTL, 0x04, struct mshv_user_ioeventfd) /* 0x4020B804 */
#define MSHV_SET_MSI_ROUTING	  _IOW(MSHV_IOCTL, 0x05, struct mshv_user_irq_table) /* 0x4008B805 */
#define MSHV_GET_GPAP_ACCESS_BITMAP \
	_IOWR(MSHV_IOCTL, 0x06, struct mshv_gpap_access_bitmap)		  /* 0xC020B806 */
#define MSHV_ROOT_HVCALL _IOWR(MSHV_IOCTL, 0x07, struct mshv_root_hvcall) /* 0xC020B807 */

#define MSHV_RUN_VP_BUF_SZ 256

struct mshv_run_vp {
	__u8 msg_buf[MSHV_RUN_VP_BUF_SZ];
};

struct mshv_get_set_vp_state {
	__u8 type;
	__u8 rsvd[3];
	__u32 buf_sz;
	__u64 buf_ptr;
};

/* VP fds (returned by MSHV_CREATE_VP); MSHV_ROOT_HVCALL is taken here too. */
#define MSHV_RUN_VP	  _IOR(MSHV_IOCTL, 0x00, struct mshv_run_vp)		/* 0x8100B800 */
#define MSHV_GET_VP_STATE _IOWR(MSHV_IOCTL, 0x01, struct mshv_get_set_vp_state) /* 0xC010B801 */
#define MSHV_SET_VP_STATE _IOWR(MSHV_IOCTL, 0x02, struct mshv_get_set_vp_state) /* 0xC010B802 */

#endif /* no <linux/mshv.h> */

/* The CREATE_PARTITION flags Linux 6.15 accepts (0x7), whatever later
 * kernels' MSHV_PT_FLAGS_MASK says. */
#define MSHV_EMU_PT_FLAGS_MASK_6_15 ((1 << (MSHV_PT_BIT_GPA_SUPER_PAGES + 1)) - 1)

/*
 * CREATE_PARTITION flag bits beyond 6.15's LAPIC, X2APIC, GPA_SUPER_PAGES
 * (mask 0x7).  Bit 3: the "mshv: add CPU and xsave feature banks" series
 * (Nov 2025): the argument is then struct mshv_create_partition_v2, read in
 * full although the ioctl number still encodes 16 bytes (mask 0xF).  Bits 4
 * and 5: Microsoft's kernel (rust-vmm/mshv v0.7.0 bindings).
 */
#define MSHV_EMU_PT_BIT_CPU_AND_XSAVE_FEATURES 3
#define MSHV_EMU_PT_BIT_NESTED_VIRTUALIZATION  4
#define MSHV_EMU_PT_BIT_SMT_ENABLED_GUEST      5
/* pt_isolation: Microsoft's kernel adds SNP. */
#define MSHV_EMU_PT_ISOLATION_SNP 1

#define MSHV_EMU_NUM_CPU_FEATURES_BANKS 2

/* 64 bytes, packed; read in full only when pt_flags has bit 3. */
struct mshv_emu_create_partition_v2 {
	__u64 pt_flags;
	__u64 pt_isolation;
	__u16 pt_num_cpu_fbanks;
	__u8 pt_rsvd[6];
	__u64 pt_cpu_fbanks[MSHV_EMU_NUM_CPU_FEATURES_BANKS];
	__u64 pt_rsvd1[2];
	__u64 pt_disabled_xsave;
} __attribute__((packed));

/*
 * Microsoft's kernel only (deprecated; rust-vmm/mshv stopped calling it in
 * Nov 2025): read one host partition property.  = 0xC010B801
 */
struct mshv_emu_partition_property {
	__u64 property_code;
	__u64 property_value;
};
#ifndef MSHV_GET_HOST_PARTITION_PROPERTY
#define MSHV_GET_HOST_PARTITION_PROPERTY _IOWR(MSHV_IOCTL, 0x01, struct mshv_emu_partition_property)
#endif

/*
 * CREATE_PARTITION of the earlier series, whose structures carried
 * hypervisor-defined unions this header does not reproduce: only the size
 * the number encodes.  RFC 2020: 32 bytes, = 0x4020B801.  2021 series:
 * 40 bytes, = 0x4028B801.
 */
#define MSHV_EMU_CREATE_PARTITION_2020_SIZE 32
#define MSHV_EMU_CREATE_PARTITION_2021_SIZE 40
#define MSHV_CREATE_PARTITION_2020 \
	_IOC(_IOC_WRITE, MSHV_IOCTL, 0x01, MSHV_EMU_CREATE_PARTITION_2020_SIZE)
#define MSHV_CREATE_PARTITION_2021 \
	_IOC(_IOC_WRITE, MSHV_IOCTL, 0x01, MSHV_EMU_CREATE_PARTITION_2021_SIZE)

/*
 * ---- The hypervisor's side (Hyper-V TLFS; hvgdk_mini.h and hvhdk_mini.h
 * as shipped in rust-vmm/mshv v0.7.0 hv-headers) ----
 */

/* On the device fd the driver targets the host partition itself. */
#define MSHV_EMU_HV_PARTITION_ID_SELF ((__u64)-1)
/* Largest in_sz / out_sz of MSHV_ROOT_HVCALL: one hypervisor page. */
#define MSHV_EMU_HV_PAGE_SIZE 4096

/* Hypercall codes the root driver's allow-lists name.  X(name, code) */
#define MSHV_EMU_HVCALLS(X)                    \
	X(GET_PARTITION_PROPERTY, 0x0044)      \
	X(SET_PARTITION_PROPERTY, 0x0045)      \
	X(INSTALL_INTERCEPT, 0x004d)           \
	X(GET_VP_REGISTERS, 0x0050)            \
	X(SET_VP_REGISTERS, 0x0051)            \
	X(TRANSLATE_VIRTUAL_ADDRESS, 0x0052)   \
	X(CLEAR_VIRTUAL_INTERRUPT, 0x0056)     \
	X(REGISTER_INTERCEPT_RESULT, 0x0091)   \
	X(ASSERT_VIRTUAL_INTERRUPT, 0x0094)    \
	X(SIGNAL_EVENT_DIRECT, 0x00c0)         \
	X(POST_MESSAGE_DIRECT, 0x00c1)         \
	X(GET_GPA_PAGES_ACCESS_STATES, 0x00c9) \
	X(GET_VP_CPUID_VALUES, 0x00f4)         \
	X(GET_PARTITION_PROPERTY_EX, 0x0101)

enum {
#define X(name, code) MSHV_EMU_HVCALL_##name = code,
	MSHV_EMU_HVCALLS(X)
#undef X
};

/* Hypervisor status codes (HV_STATUS_*).  X(name, code) */
#define MSHV_EMU_HV_STATUSES(X)                  \
	X(SUCCESS, 0x0)                          \
	X(INVALID_HYPERCALL_CODE, 0x2)           \
	X(INVALID_HYPERCALL_INPUT, 0x3)          \
	X(INVALID_ALIGNMENT, 0x4)                \
	X(INVALID_PARAMETER, 0x5)                \
	X(ACCESS_DENIED, 0x6)                    \
	X(INVALID_PARTITION_STATE, 0x7)          \
	X(OPERATION_DENIED, 0x8)                 \
	X(UNKNOWN_PROPERTY, 0x9)                 \
	X(PROPERTY_VALUE_OUT_OF_RANGE, 0xA)      \
	X(INSUFFICIENT_MEMORY, 0xB)              \
	X(INVALID_PARTITION_ID, 0xD)             \
	X(INVALID_VP_INDEX, 0xE)                 \
	X(NOT_FOUND, 0x10)                       \
	X(NO_RESOURCES, 0x1D)                    \
	X(FEATURE_UNAVAILABLE, 0x1E)             \
	X(PROCESSOR_FEATURE_NOT_SUPPORTED, 0x20) \
	X(OPERATION_FAILED, 0x71)                \
	X(TIME_OUT, 0x78)                        \
	X(CALL_PENDING, 0x79)

enum {
#define X(name, code) MSHV_EMU_HV_STATUS_##name = code,
	MSHV_EMU_HV_STATUSES(X)
#undef X
};

/*
 * Partition property codes current clients read or write (hvhdk_mini.h).
 * X(name, code)
 */
#define MSHV_EMU_HV_PROPERTIES(X)               \
	X(SYNTHETIC_PROC_FEATURES, 0x00010001)  \
	X(UNIMPLEMENTED_MSR_ACTION, 0x00050017) \
	X(PROCESSOR_XSAVE_FEATURES, 0x00060002) \
	X(PHYSICAL_ADDRESS_WIDTH, 0x00060006)   \
	X(PROCESSOR_FEATURES0, 0x0006000A)      \
	X(PROCESSOR_FEATURES1, 0x0006000B)      \
	X(VMM_CAPABILITIES, 0x00090007)         \
	X(ASSIGNABLE_SYNTHETIC_PROC_FEATURES, 0x00090009)

enum {
#define X(name, code) MSHV_EMU_HV_PROPERTY_##name = code,
	MSHV_EMU_HV_PROPERTIES(X)
#undef X
};

/* Hypercall inputs and outputs of the property calls. */
struct mshv_emu_hv_get_property_in { /* GET_PARTITION_PROPERTY, 16 bytes */
	__u64 partition_id;
	__u32 property_code;
	__u32 padding;
};

struct mshv_emu_hv_set_property_in { /* SET_PARTITION_PROPERTY, 24 bytes */
	__u64 partition_id;
	__u32 property_code;
	__u32 padding;
	__u64 property_value;
};

struct mshv_emu_hv_get_property_ex_in { /* GET_PARTITION_PROPERTY_EX, 24 bytes */
	__u64 partition_id;
	__u32 property_code;
	__u32 padding;
	__u64 arg;
};

/* GET_PARTITION_PROPERTY_EX output: 4072 bytes; a banked property is
 * {u16 bank_count; u16 reserved[3]; u64 bank[bank_count]}. */
#define MSHV_EMU_HV_PROPERTY_EX_OUT_SIZE 4072
#define MSHV_EMU_HV_MAX_BANKS		 ((MSHV_EMU_HV_PROPERTY_EX_OUT_SIZE - 8) / 8)

/* VMM capability bits, bank 0 of VMM_CAPABILITIES.  X(name, bit) */
#define MSHV_EMU_VMM_CAPS(X)                        \
	X(map_gpa_preserve_adjustable, 0)           \
	X(vmm_can_provide_overlay_gpfn, 1)          \
	X(vp_affinity_property, 2)                  \
	X(vmm_can_provide_gic_overlay_locations, 3) \
	X(assignable_synthetic_proc_features, 4)

/*
 * Capability ids for CHECK_EXTENSION (drivers/hv/mshv_vtl_main.c;
 * LOWER_VTL_TIMER_VIRT from Microsoft's OHCL kernel tree).
 */
#ifndef MSHV_CAP_CORE_API_STABLE
#define MSHV_CAP_CORE_API_STABLE 0x0
#endif
#ifndef MSHV_CAP_REGISTER_PAGE
#define MSHV_CAP_REGISTER_PAGE 0x1
#endif
#ifndef MSHV_CAP_VTL_RETURN_ACTION
#define MSHV_CAP_VTL_RETURN_ACTION 0x2
#endif
#ifndef MSHV_CAP_DR6_SHARED
#define MSHV_CAP_DR6_SHARED 0x3
#endif
#ifndef MSHV_CAP_LOWER_VTL_TIMER_VIRT
#define MSHV_CAP_LOWER_VTL_TIMER_VIRT 0x4
#endif

/* X(name, id): the capability list, for tools that print names. */
#define MSHV_EMU_CAPABILITIES(X)                         \
	X(CORE_API_STABLE, MSHV_CAP_CORE_API_STABLE)     \
	X(REGISTER_PAGE, MSHV_CAP_REGISTER_PAGE)         \
	X(VTL_RETURN_ACTION, MSHV_CAP_VTL_RETURN_ACTION) \
	X(DR6_SHARED, MSHV_CAP_DR6_SHARED)               \
	X(LOWER_VTL_TIMER_VIRT, MSHV_CAP_LOWER_VTL_TIMER_VIRT)

/* The RFC driver stored this in an fd that has no version yet. */
#define MSHV_VERSION_UNSET 0xFFFFFFFFu

/*
 * Kernel-internal errnos (include/linux/errno.h).  They never appear in
 * libc's <errno.h>, yet an ioctl returning them reaches userspace as that
 * number: the RFC and 2021 v1 drivers returned -ENOTSUPP, so a client sees
 * errno 524.  X(name, number)
 */
#define MSHV_EMU_KERNEL_ERRNOS(X)     \
	X(ERESTARTSYS, 512)           \
	X(ERESTARTNOINTR, 513)        \
	X(ERESTARTNOHAND, 514)        \
	X(ENOIOCTLCMD, 515)           \
	X(ERESTART_RESTARTBLOCK, 516) \
	X(EPROBE_DEFER, 517)          \
	X(EOPENSTALE, 518)            \
	X(ENOPARAM, 519)              \
	X(EBADHANDLE, 521)            \
	X(ENOTSYNC, 522)              \
	X(EBADCOOKIE, 523)            \
	X(ENOTSUPP, 524)              \
	X(ETOOSMALL, 525)             \
	X(ESERVERFAULT, 526)          \
	X(EBADTYPE, 527)              \
	X(EJUKEBOX, 528)              \
	X(EIOCBQUEUED, 529)           \
	X(ERECALLCONFLICT, 530)

#define MSHV_ENOTSUPP 524

/*
 * Profile names: which generation's ioctl set a device speaks.
 *   rfc-2020    REQUEST_VERSION only
 *   rfc-2021    CHECK_EXTENSION at 0x4004B800, no ordering
 *   vtl         CHECK_EXTENSION + CREATE_VTL (mshv_vtl)
 *   root-6.15   CREATE_PARTITION only
 *   root-6.19   + ROOT_HVCALL on the device fd (self-targeted property calls)
 *               and the v2 CREATE_PARTITION with feature banks
 *   microsoft   Microsoft's kernel: + GET_HOST_PARTITION_PROPERTY, NESTED,
 *               SMT, SNP isolation
 *   negotiated  REQUEST_VERSION at 0x4004B800, CHECK_EXTENSION at 0x4004B801
 *   none        no built-in ioctl: only what a policy declares
 */
#define MSHV_EMU_PROFILES(X)        \
	X(RFC_2020, "rfc-2020")     \
	X(RFC_2021, "rfc-2021")     \
	X(VTL, "vtl")               \
	X(ROOT_6_15, "root-6.15")   \
	X(ROOT_6_19, "root-6.19")   \
	X(MICROSOFT, "microsoft")   \
	X(NEGOTIATED, "negotiated") \
	X(NONE, "none")

#endif /* _MSHV_EMU_MSHV_EMU_H */
