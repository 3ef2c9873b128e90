/*
 * wire.h - what the preload shim and mshv-emu-run's device server say to
 * each other.  One run has one device: the server, in mshv-emu-run, owns
 * the core; the shim, in every process of CMD, forwards calls to it.  The
 * seccomp transport, answering in the server's own process, hands it the
 * same requests with run_server_call (server.h) and reads the same
 * replies, without a channel.
 *
 * Channels.  Each thread of CMD that calls the device connects once to the
 * server's listening socket (SOCK_SEQPACKET, an abstract Unix name, so it
 * leaves nothing on disk and the server checks the peer's uid) and keeps
 * that connection for its calls: a call is one request and one reply, and
 * no two threads share a channel.  A forked child starts without one.
 *
 * Sessions.  An open of /dev/mshv, a partition and a VP are each one end of
 * a socketpair the server makes and passes to the caller (SCM_RIGHTS): a
 * real kernel fd, so dup, fork, exec, O_CLOEXEC, close_range and the last
 * close behave as the kernel's file does.  The server keeps the other end,
 * bound to "\0RUN/sN" (RUN from MSHV_EMU_RUN_ID, N the session), and
 * releases the session when the caller's end is gone (EPOLLHUP).  The shim
 * knows its fds by getpeername, so nothing is lost across exec.
 *
 * A call.  The request carries the argument's own bytes (_IOC_SIZE, when
 * _IOC_WRITE and readable; none when the pointer is bad, so the core
 * answers EFAULT after its own checks, as the driver does).  The server
 * dispatches through a gathering transport (core/gather.h); an op that
 * follows pointers gets WIRE_FETCH back with its regions, and the shim
 * sends the call again (continued) with their bytes.  The answer carries
 * the argument's bytes to copy back, the write regions' bytes, and the
 * result; for a new object, its fd with SCM_RIGHTS.  A call a delay or hang
 * fault holds gets WIRE_HELD first, then its answer.
 */
#ifndef MSHV_EMU_WIRE_H
#define MSHV_EMU_WIRE_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WIRE_MAGIC	0x4d455731u /* "MEW1" */
#define WIRE_MAX_DATA	(16384 + 2 * 4096 + 256)
#define WIRE_MAX_REGION 8

/* Environment of CMD's processes. */
#define WIRE_ENV_SOCKET	    "MSHV_EMU_RUN_SOCKET"     /* the listening socket's abstract name */
#define WIRE_ENV_ID	    "MSHV_EMU_RUN_ID"	      /* the prefix of session names */
#define WIRE_ENV_HIDE_KVM   "MSHV_EMU_RUN_HIDE_KVM"   /* "1": /dev/kvm is absent */
#define WIRE_ENV_MODE	    "MSHV_EMU_RUN_MODE"	      /* the node's permission bits, octal */
#define WIRE_ENV_DEVICE_PID "MSHV_EMU_RUN_DEVICE_PID" /* the device's process: kill -HUP reloads */
#define WIRE_ENV_INPROC	    "MSHV_EMU_RUN_INPROC"     /* --in-process: libmshv-emu-inproc.so */
#define WIRE_ENV_POLICY	    "MSHV_EMU_RUN_POLICY"     /* --in-process: the policy ("": default) */
#define WIRE_DEVICE	    "/dev/mshv"

enum wire_op {
	WIRE_OPEN = 1, /* flags: the open's flags */
	WIRE_IOCTL = 2,
};

struct wire_request {
	uint32_t magic;
	uint32_t op;
	uint32_t session; /* WIRE_IOCTL: N of the fd's "\0RUN/sN" */
	uint32_t cmd;
	uint64_t arg;
	uint32_t flags;	  /* WIRE_OPEN: open flags */
	uint32_t in_len;  /* bytes of data: the argument's, then the read regions' */
	uint32_t out_len; /* bytes of write regions the shim takes back (continued) */
	uint32_t continued;
	int32_t pid, tid;
	uint32_t uid;
	char comm[16];
	/* data follows */
};

enum wire_kind {
	WIRE_ANSWER = 1, /* result; argument bytes; write regions' bytes */
	WIRE_FETCH = 2,	 /* send the call again with these regions */
	WIRE_NEW_FD = 3, /* WIRE_ANSWER with an fd passed; result: its session's number */
	WIRE_HELD = 4,	 /* a fault holds the call: the answer follows.  A caller a
			  * signal interrupts now closes its channel and fails
			  * with EINTR, and the device lets the call go. */
};

struct wire_region {
	uint64_t addr;
	uint32_t len;
	uint32_t write;
};

struct wire_reply {
	uint32_t magic;
	uint32_t kind;
	int32_t result;
	uint32_t arg_len;      /* ANSWER: argument bytes to copy back, first in data */
	uint32_t written_len;  /* ANSWER: write regions' bytes, in order, after them */
	uint32_t region_count; /* FETCH: struct wire_region in data */
			       /* data follows */
};

/*
 * --in-process: libmshv-emu-inproc.so's entry points, which the shim looks
 * up with dlsym.  Slots are the library's sessions, + 1 (0: none); results
 * are -errno on failure.
 */
int mshv_emu_inproc_open(int flags, unsigned *slot);
int mshv_emu_inproc_ioctl(unsigned slot, unsigned long cmd, void *arg, unsigned *new_slot);
void mshv_emu_inproc_ref(unsigned slot);
void mshv_emu_inproc_unref(unsigned slot);

/*
 * Waiting for the other side.  A call is two wake-ups, the server's thread
 * and then the caller; on a VM each wake-up of a halted (idle) vCPU goes
 * through the hypervisor and costs tens of microseconds, more than the
 * call itself (docs/benchmarks.md).  So each side first polls for the
 * other's message for up to WIRE_SPIN_NS, keeping its vCPU running, and
 * only then blocks.  Not with one CPU, where spinning only delays the other.
 */
#define WIRE_SPIN_NS 50000

static inline bool wire_spin_allowed(void)
{
	static _Atomic int allowed; /* 0: not known yet; 1: yes; 2: no */
	int known = atomic_load_explicit(&allowed, memory_order_relaxed);
	if (!known) {
		known = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 1 : 2;
		atomic_store_explicit(&allowed, known, memory_order_relaxed);
	}
	return known == 1;
}

static inline uint64_t wire_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* wire_spin_recv - RECEIVE(ARG) with MSG_DONTWAIT in FLAGS until it gets
 * something or WIRE_SPIN_NS pass: its result, or -1 with errno EAGAIN when
 * nothing came (or spinning is not allowed): then block. */
static inline ssize_t wire_spin_recv(ssize_t (*receive)(void *arg, int flags), void *arg)
{
	if (!wire_spin_allowed()) {
		errno = EAGAIN;
		return -1;
	}
	uint64_t deadline = wire_now_ns() + WIRE_SPIN_NS;
	ssize_t got;
	do
		got = receive(arg, MSG_DONTWAIT);
	while (got < 0 && errno == EAGAIN && wire_now_ns() < deadline);
	return got;
}

#endif
