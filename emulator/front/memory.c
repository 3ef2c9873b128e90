/*
 * memory.c - the caller's memory for FUSE and CUSE: process_vm_readv and
 * process_vm_writev on the thread that made the request.  A pointer the
 * caller could not follow is EFAULT, as its own copy would have been; a
 * daemon that may not reach the caller at all says so once.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "errnames.h"
#include "front.h"

/* Once per daemon: the side channel failed for a reason other than a bad
 * pointer (the daemon may not read the caller's memory). */
static atomic_bool memory_warned;

static int memory_error(const struct front_transport *transport, int err)
{
	/* A bad pointer, one partly mapped, or a caller that is gone (a held
	 * call whose thread exited): what its own copy would have met. */
	if (err == EFAULT || err == EIO || err == ESRCH)
		return -EFAULT;
	if (!atomic_exchange(&memory_warned, true))
		emu_warn("cannot reach the memory of pid %d (%s): ioctls that follow pointers "
			 "answer %s; mshv-emu needs CAP_SYS_PTRACE for that (root has it, and "
			 "--user keeps it when it is in the bounding set)",
			 (int)transport->pid, strerror(err), errname_of(EMU_NO_CALLER_MEMORY));
	return -EMU_NO_CALLER_MEMORY;
}

static int transport_read(struct emu_transport *base, uint64_t addr, void *buf, size_t len)
{
	struct front_transport *transport = (struct front_transport *)base;
	struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
	ssize_t got = process_vm_readv(transport->pid, &local, 1, &remote, 1, 0);
	if (got == (ssize_t)len)
		return 0;
	return memory_error(transport, got < 0 ? errno : EFAULT);
}

static int transport_write(struct emu_transport *base, uint64_t addr, const void *buf, size_t len)
{
	struct front_transport *transport = (struct front_transport *)base;
	struct iovec local = {(void *)buf, len}, remote = {(void *)(uintptr_t)addr, len};
	ssize_t put = process_vm_writev(transport->pid, &local, 1, &remote, 1, 0);
	if (put == (ssize_t)len)
		return 0;
	return memory_error(transport, put < 0 ? errno : EFAULT);
}

void front_transport_init(struct front_transport *transport, pid_t pid)
{
	transport->base = (struct emu_transport){
		.read = transport_read,
		.write = transport_write,
	};
	transport->pid = pid;
	transport->gathering = false; /* front_gather_begin sets the gather up */
}
