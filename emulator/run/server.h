/*
 * server.h - the device of an mshv-emu-run: one core, served to the preload
 * shim of every process of CMD over an abstract Unix socket (wire.h).
 */
#ifndef MSHV_EMU_RUN_SERVER_H
#define MSHV_EMU_RUN_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "core.h"

struct run_server;

/*
 * run_server_start - serve CORE to processes of UID (and root), and to any
 * descendant of RUN_PID (mshv-emu-run).  Fills SOCKET_NAME (the listening
 * socket's abstract name, without its leading NUL) and ID (the prefix of
 * session names) for CMD's environment.  Returns the server, or NULL after
 * saying why on stderr.
 */
struct run_server *run_server_start(struct emu_core *core, uid_t uid, pid_t run_pid,
				    char *socket_name, size_t socket_size, char *id,
				    size_t id_size);

/*
 * run_server_call - one call from this process, without a channel (the
 * seccomp transport answers in the device's process): REQUEST, LEN bytes
 * (a struct wire_request and its data, as a channel carries it), answered
 * into REPLY (sizeof(struct wire_reply) + WIRE_MAX_DATA bytes) as a
 * channel's reply would be, but that a call a fault holds gets no
 * WIRE_HELD: HOOKS->held(HOOKS->ctx) is called instead, and the hold ends
 * early (the call interrupted) once HOOKS->gone says the caller is gone,
 * asked every 50 ms.  Returns the reply's length, -ENODEV once the server
 * is stopped, or -EINVAL for a request that is not one.  *NEW_FD: the fd
 * of a WIRE_NEW_FD reply (the caller's to close), or -1.  Any number of
 * threads may call it at once.
 */
struct run_call_hooks {
	void (*held)(void *ctx);
	bool (*gone)(void *ctx);
	void *ctx;
};
ssize_t run_server_call(struct run_server *server, const void *request, size_t len, void *reply,
			int *new_fd, const struct run_call_hooks *hooks);

/* run_server_release_hung - let every call a hang fault holds complete;
 * returns how many were held.  run_server_held - how many are held now. */
unsigned run_server_release_hung(struct run_server *server);
unsigned run_server_held(struct run_server *server);

/* run_server_stop - stop accepting, end every channel, wait for every
 * call running, release every session.  Calls still held are answered
 * ENODEV, and so is any run_server_call after it.  run_server_free - free
 * it, once no thread can call it any more. */
void run_server_stop(struct run_server *server);
void run_server_free(struct run_server *server);

#endif
