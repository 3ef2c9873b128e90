/*
 * inproc.c - libmshv-emu-inproc.so: the core inside the calling process,
 * for `mshv-emu-run --in-process` (the speed mode).  The preload library
 * loads it on the process's first open of /dev/mshv and calls it instead
 * of the run's device: no socket, no other thread, no system call but the
 * fds it makes.
 *
 * Each process has its own device, made from MSHV_EMU_RUN_POLICY (or the
 * embedded default) at that first open: counters, faults and sessions are
 * the process's, a forked child starts with a copy, and a device fd does
 * not survive exec (it is an eventfd, the session a slot here).  The
 * caller's pointers are used as they are: a bad one is a SIGSEGV, as in any
 * library, not EFAULT (the preload transport gives EFAULT).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "diag.h"
#include "policy.h"
#include "wire.h"

#define EXPORT __attribute__((visibility("default")))

#define MAX_SLOTS 4096 /* sessions open at once in one process */

struct slot {
	struct emu_session *_Atomic session; /* read without the lock on a call */
	unsigned refs;			     /* the fds (dup'd included) bound to it */
	bool device; /* an open of the device: the session is ours to free */
};

static struct {
	pthread_once_t once;
	bool ready;
	struct emu_core core;
	pthread_mutex_t lock; /* slot changes */
	struct slot slots[MAX_SLOTS];
	pid_t pid; /* the caller, for fault rules: once per process */
	uid_t uid;
} device = {.once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER};

static void forget_pid(void)
{
	device.pid = 0;
}

static void device_init(void)
{
	const char *path = getenv(WIRE_ENV_POLICY);
	struct diag_list diags = {0};
	struct policy_snapshot *snap =
		path && *path ? policy_load_file(path, &diags) : policy_load_default(&diags);
	diag_print(&diags, stderr);
	diag_free(&diags);
	if (!snap) {
		fprintf(stderr, "mshv-emu-run: --in-process: %s: no device in this process\n",
			path && *path ? path : "<embedded default>");
		return;
	}
	core_init(&device.core, snap);
	pthread_atfork(NULL, NULL, forget_pid);
	device.ready = true;
}

static struct emu_caller caller_now(void)
{
	if (!device.pid) {
		device.pid = getpid();
		device.uid = getuid();
	}
	return (struct emu_caller){.pid = device.pid, .uid = device.uid};
}

/* A slot for SESSION; its number + 1, or 0. */
static unsigned slot_add(struct emu_session *session, bool is_device)
{
	pthread_mutex_lock(&device.lock);
	size_t n = 0;
	while (n < MAX_SLOTS && atomic_load(&device.slots[n].session))
		n++;
	if (n < MAX_SLOTS) {
		device.slots[n].refs = 1;
		device.slots[n].device = is_device;
		atomic_store(&device.slots[n].session, session);
	}
	pthread_mutex_unlock(&device.lock);
	return n < MAX_SLOTS ? (unsigned)n + 1 : 0;
}

/* A call on SLOT while another thread closes its last fd is the program's
 * race, as with any fd. */
static struct emu_session *slot_session(unsigned slot)
{
	return slot && slot <= MAX_SLOTS
		       ? atomic_load_explicit(&device.slots[slot - 1].session, memory_order_acquire)
		       : NULL;
}

/* The fd an open or a new object is bound to: an eventfd, a real fd the
 * program's own numbers never collide with. */
static int new_fd(bool cloexec)
{
	return eventfd(0, cloexec ? EFD_CLOEXEC : 0);
}

struct call_transport {
	struct emu_transport base;
	int fd;
	unsigned slot;
};

static int local_read(struct emu_transport *base, uint64_t addr, void *buf, size_t len)
{
	memcpy(buf, (const void *)(uintptr_t)addr, len);
	return 0;
}

static int local_write(struct emu_transport *base, uint64_t addr, const void *buf, size_t len)
{
	memcpy((void *)(uintptr_t)addr, buf, len);
	return 0;
}

static int local_install(struct emu_transport *base, struct emu_session *object)
{
	struct call_transport *t = (struct call_transport *)base;
	int fd = new_fd(true); /* the driver's partition and VP fds are O_CLOEXEC */
	if (fd < 0)
		return -errno;
	t->slot = slot_add(object, false);
	if (!t->slot) {
		close(fd);
		return -ENOMEM;
	}
	t->fd = fd;
	return fd;
}

static void hold(const struct emu_call *call)
{
	if (call->hang) {
		for (;;)
			pause(); /* until a signal ends the process: nothing releases it here */
	}
	struct timespec delay = {(time_t)(call->hold_ns / 1000000000u),
				 (long)(call->hold_ns % 1000000000u)};
	while (nanosleep(&delay, &delay) != 0 && errno == EINTR)
		;
}

/* An open: the fd, or -errno.  *SLOT: its session's slot + 1. */
EXPORT int mshv_emu_inproc_open(int flags, unsigned *slot)
{
	pthread_once(&device.once, device_init);
	if (!device.ready)
		return -EIO;
	struct emu_session *session = calloc(1, sizeof(*session));
	if (!session)
		return -ENOMEM;
	struct emu_caller caller = caller_now();
	struct emu_call call = {.caller = &caller};
	int result = core_open(&device.core, session, &call);
	if (call.hold_ns || call.hang) {
		hold(&call);
		result = core_open_complete(&device.core, session, &call, false);
	}
	if (result < 0) {
		free(session);
		return result;
	}
	int fd = new_fd(flags & O_CLOEXEC);
	*slot = fd >= 0 ? slot_add(session, true) : 0;
	if (!*slot) {
		int err = fd < 0 ? -errno : -ENOMEM;
		if (fd >= 0)
			close(fd);
		core_release(&device.core, session, NULL);
		free(session);
		return err;
	}
	return fd;
}

/* An ioctl on SLOT: its result or -errno; a new object's fd is the result,
 * with its slot in *NEW_SLOT. */
EXPORT int mshv_emu_inproc_ioctl(unsigned slot, unsigned long cmd, void *arg, unsigned *new_slot)
{
	struct emu_session *session = slot_session(slot);
	if (!session)
		return -EBADF;
	size_t size = _IOC_SIZE(cmd);
	unsigned char out[256];
	struct emu_caller caller = caller_now();
	struct call_transport t = {
		.base = {.read = local_read, .write = local_write, .install = local_install},
		.fd = -1};
	struct emu_call call = {
		.cmd = (uint32_t)cmd,
		.arg = (uintptr_t)arg,
		.in = _IOC_DIR(cmd) & _IOC_WRITE ? arg : NULL,
		.in_size = _IOC_DIR(cmd) & _IOC_WRITE ? size : 0,
		.out = out,
		.out_size = size < sizeof(out) ? size : sizeof(out),
		.caller = &caller,
		.transport = &t.base,
	};
	int result = core_ioctl(&device.core, session, &call);
	if (call.hold_ns || call.hang) {
		hold(&call);
		result = core_ioctl_complete(&device.core, session, &call, false);
	}
	if (call.out_len && (_IOC_DIR(cmd) & _IOC_READ))
		memcpy(arg, out, call.out_len);
	*new_slot = t.fd >= 0 && result == t.fd ? t.slot : 0;
	return result;
}

/* One more fd bound to SLOT (dup, F_DUPFD). */
EXPORT void mshv_emu_inproc_ref(unsigned slot)
{
	pthread_mutex_lock(&device.lock);
	if (slot_session(slot))
		device.slots[slot - 1].refs++;
	pthread_mutex_unlock(&device.lock);
}

/* One fd bound to SLOT closed; the last releases the session. */
EXPORT void mshv_emu_inproc_unref(unsigned slot)
{
	pthread_mutex_lock(&device.lock);
	struct emu_session *gone = NULL;
	bool is_device = false;
	if (slot_session(slot) && --device.slots[slot - 1].refs == 0) {
		gone = atomic_load(&device.slots[slot - 1].session);
		is_device = device.slots[slot - 1].device;
		atomic_store(&device.slots[slot - 1].session, NULL);
	}
	pthread_mutex_unlock(&device.lock);
	if (gone) {
		core_release(&device.core, gone, NULL);
		if (is_device)
			free(gone);
	}
}
