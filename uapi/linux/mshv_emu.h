/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * mshv_emu.h - the ABI that /dev/mshv has spoken, generation by generation.
 *
 * Every ioctl number, capability id and profile name the emulator and its
 * clients use is defined here and nowhere else.  Each value cites the kernel
 * source it comes from.  This header deliberately defines no structures
 * beyond the ones a generation put on the wire, and includes nothing but
 * <linux/ioctl.h> and <linux/types.h>, so a client (mshv-probe, a VMM's test)
 * can depend on it alone.
 */
#ifndef _UAPI_LINUX_MSHV_EMU_H
#define _UAPI_LINUX_MSHV_EMU_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* The mshv ioctl magic, every generation. */
#define MSHV_IOCTL 0xB8

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
#define MSHV_CHECK_EXTENSION _IOW(MSHV_IOCTL, 0x00, __u32)

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
#define MSHV_CREATE_VTL _IOR(MSHV_IOCTL, 0x1D, char)

/*
 * Upstream Linux 6.15 root driver (include/uapi/linux/mshv.h): the only
 * ioctl on /dev/mshv; everything else, 0x4004B800 included, is -ENOTTY.
 */
struct mshv_create_partition {
	__u64 pt_flags;
	__u64 pt_isolation;
};
#define MSHV_CREATE_PARTITION _IOW(MSHV_IOCTL, 0x00, struct mshv_create_partition) /* 0x4010B800 */

/*
 * Capability ids for CHECK_EXTENSION (drivers/hv/mshv_vtl_main.c;
 * LOWER_VTL_TIMER_VIRT from Microsoft's OHCL kernel tree).
 */
#define MSHV_CAP_CORE_API_STABLE      0x0
#define MSHV_CAP_REGISTER_PAGE	      0x1
#define MSHV_CAP_VTL_RETURN_ACTION    0x2
#define MSHV_CAP_DR6_SHARED	      0x3
#define MSHV_CAP_LOWER_VTL_TIMER_VIRT 0x4

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
 *   negotiated  REQUEST_VERSION at 0x4004B800, CHECK_EXTENSION at 0x4004B801
 *   none        no built-in ioctl: only what a policy declares
 */
#define MSHV_EMU_PROFILES(X)        \
	X(RFC_2020, "rfc-2020")     \
	X(RFC_2021, "rfc-2021")     \
	X(VTL, "vtl")               \
	X(ROOT_6_15, "root-6.15")   \
	X(NEGOTIATED, "negotiated") \
	X(NONE, "none")

#endif /* _UAPI_LINUX_MSHV_EMU_H */
