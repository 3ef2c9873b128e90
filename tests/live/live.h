/*
 * live.h - what the live suites share: start mshv-emu on the front end named
 * by MSHV_EMU_FRONT, wait for its readiness line with a deadline, talk to its
 * node like a VMM, stop it by its pid, and clean up.  uapi/ and libc only.
 */
#ifndef MSHV_EMU_TEST_LIVE_H
#define MSHV_EMU_TEST_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "abi_table.h"

#define READY_DEADLINE_MS 10000
#define STOP_DEADLINE_MS  10000

struct daemon {
	pid_t pid;
	char dir[64];	/* per-test scratch: mountpoint and log */
	char node[512]; /* from the ready line */
	char log[96];
	char name[64];
	bool drop_ptrace;	   /* start it without CAP_SYS_PTRACE */
	const char *control_group; /* mshv-emu --control-group, or NULL */
	/* --user: this one, else $MSHV_EMU_USER (the whole suite as a user),
	 * else none.  Its scratch directory is then the user's. */
	const char *user;
	/* More mshv-emu arguments, NULL-terminated, or NULL. */
	const char *const *args;
};

/* The daemon a test starts; daemon_teardown (a suite's .fini) stops it. */
extern struct daemon daemon_under_test;

const char *env_or(const char *name, const char *fallback);
bool front_is_cuse(void);
bool front_is_run(void);
bool front_is_seccomp(void);
/* The user D runs as (--user), or NULL; and that user's uid (geteuid() when
 * NULL).  A uid other than both root and the daemon's, for refusals. */
const char *daemon_user(const struct daemon *d);
uid_t daemon_uid(const struct daemon *d);
uid_t stranger_uid(const struct daemon *d);
/* Is PATH (absolute, as /proc/self/mountinfo spells it) a mount point? */
bool is_mounted(const char *path);
long now_ms(void);
void print_log(const struct daemon *d);
bool log_wait_for(const struct daemon *d, const char *text, int deadline_ms);
void mountpoint_of(const struct daemon *d, char *out, size_t size);
void control_of(const struct daemon *d, pid_t pid, char *out, size_t size);
void policy_path(const char *file, char *out, size_t size);
pid_t daemon_spawn(const struct daemon *d, const char *policy, int ready_fd);
void daemon_start(struct daemon *d, const char *policy);
int daemon_stop(struct daemon *d);
void daemon_cleanup(struct daemon *d);
void teardown(void);
int do_ioctl(int fd, uint32_t cmd, enum abi_arg arg, uint32_t value);
int open_node(const struct daemon *d);
/* Run ARGV, capture its stdout and stderr into OUTPUT; its exit status, or -1. */
int run_command(const char *const argv[], char *output, size_t size);
/* The end of a command run into a pipe: read FD (its read end) to EOF into
 * OUTPUT (SIZE bytes, NUL-terminated), close it and reap PID.  Its exit
 * status, or -1 when a signal ended it. */
int command_finish(int fd, pid_t pid, char *output, size_t size);
/* mshvctl --socket (D's control socket) ARGS...: its exit status, its output
 * in OUT. */
int ctl(const struct daemon *d, char *out, size_t size, const char *const args[]);

#endif
