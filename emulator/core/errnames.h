/*
 * errnames.h - errno names as a policy writes them and a log prints them.
 *
 * libc's names (strerrorname_np) plus the kernel-internal errnos of
 * uapi's MSHV_EMU_KERNEL_ERRNOS, such as ENOTSUPP (524), which libc does not
 * know but which the RFC drivers returned.  Cold path only: nothing here is
 * called per ioctl.
 */
#ifndef MSHV_EMU_ERRNAMES_H
#define MSHV_EMU_ERRNAMES_H

/*
 * errname_parse - read an errno given by name ("EPERM", "ENOTSUPP") or by
 * number (1..4095).  Returns the positive errno, or 0 if TEXT is neither.
 */
int errname_parse(const char *text);

/* errname_of - the name of a positive errno, or NULL if it has none. */
const char *errname_of(int err);

#endif
