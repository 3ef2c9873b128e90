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
 * run_server_start - serve CORE to processes of UID (and root).  Fills
 * SOCKET_NAME (the listening socket's abstract name, without its leading
 * NUL) and ID (the prefix of session names) for CMD's environment.
 * Returns the server, or NULL after saying why on stderr.
 */
struct run_server *run_server_start(struct emu_core *core, uid_t uid, char *socket_name,
				    size_t socket_size, char *id, size_t id_size);

/* run_server_release_hung - let every call a hang fault holds complete;
 * returns how many were held.  run_server_held - how many are held now. */
unsigned run_server_release_hung(struct run_server *server);
unsigned run_server_held(struct run_server *server);

/* run_server_stop - stop accepting, end every channel, release every
 * session.  Calls still held are answered ENODEV. */
void run_server_stop(struct run_server *server);

#endif
