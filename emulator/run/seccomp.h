/*
 * seccomp.h - mshv-emu-run's seccomp transport: the kernel's seccomp user
 * notification hands the run's supervisor the calls of CMD's processes
 * that may touch /dev/mshv, whatever the program (static, Go, raw
 * syscalls), and the supervisor answers them from the run's device.
 *
 * A process joins a run by installing the filter (with a new listener) and
 * passing the listener to the supervisor over the run's join socket (an
 * abstract Unix name, in MSHV_EMU_RUN_SECCOMP).  CMD joins before it
 * execs; its descendants inherit the filter.
 */
#ifndef MSHV_EMU_RUN_SECCOMP_H
#define MSHV_EMU_RUN_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SECCOMP_ENV_JOIN "MSHV_EMU_RUN_SECCOMP" /* the join socket's abstract name */

/*
 * seccomp_join - install the run's filter in this process and hand its
 * listener to the supervisor at JOIN_NAME (without the leading NUL); the
 * supervisor has it when this returns, and this process keeps no copy: a
 * process that outlives the run is answered by the run's passthrough
 * (seccomp_serve_end).  Returns 0, or -errno after setting *WHAT to the
 * step that failed.  Safe between fork and exec.
 */
int seccomp_join(const char *join_name, const char **what);

/*
 * seccomp_probe - whether this kernel and this process's own seccomp
 * policy allow a filter with a user-notification listener: 0, or -errno
 * with *WHAT the step that failed.  It forks; nothing in this process
 * changes.
 */
int seccomp_probe(const char **what);

/*
 * seccomp_passthrough - once a run has ended, answer the calls of the
 * processes still under its filter, on LISTENERS (COUNT of them, closed
 * here): a device ioctl is ENODEV (the device is gone), anything else goes
 * on in the kernel.  A detached process does it, until no process is left
 * under any of them.  0 or -errno.  Call it only from a process under none
 * of those filters: the passthrough would be under it too, and wait for
 * itself forever.
 */
#define SECCOMP_PASSTHROUGH_MAX 64
int seccomp_passthrough(const int *listeners, int count);

/*
 * seccomp_serve_end - the run is over: stop taking notifications, let the
 * calls being answered finish, and hand what listeners still have
 * processes under them to seccomp_passthrough.
 */
struct seccomp_served;
void seccomp_serve_end(struct seccomp_served *served);

struct run_server;
struct seccomp_config {
	struct run_server *server; /* the run's device, in this process */
	const char *run_id;	   /* the prefix of its session names */
	unsigned mode;		   /* the node's permission bits */
	bool hide_kvm;		   /* /dev/kvm is absent */
	uid_t uid;		   /* the run's user: it, and root, may join */
};

/*
 * seccomp_serve_start - the supervisor's side: a join socket (its name
 * into JOIN_NAME) and the threads that answer every listener handed to it,
 * by the run's processes (the run's uid, or root).  NULL after saying why.
 */
struct seccomp_served *seccomp_serve_start(const struct seccomp_config *config, char *join_name,
					   size_t join_size);

#endif
