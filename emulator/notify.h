/*
 * notify.h - the sd_notify protocol (sd_notify(3)), without libsystemd: a
 * service manager that sets NOTIFY_SOCKET (systemd for Type=notify) is told
 * READY=1 once the node serves, RELOADING=1 and READY=1 around a reload,
 * STOPPING=1 at the stop, and a STATUS= line for each.
 */
#ifndef MSHV_EMU_NOTIFY_H
#define MSHV_EMU_NOTIFY_H

#include <stdbool.h>

/*
 * notify_open - connect to NOTIFY_SOCKET (a path, or @NAME in the abstract
 * namespace) if it is set, and unset it, so that no child of ours speaks
 * for us.  Call it before any thread exists, and before --user's switch
 * (the socket is reached as root).  A socket that cannot be reached is
 * logged and then ignored: the service manager will say the start timed out.
 */
void notify_open(void);

/* notify_active - NOTIFY_SOCKET was set and reached. */
bool notify_active(void);

/* notify_send - one datagram of "KEY=VALUE" lines (a printf format),
 * if notify_open connected; nothing otherwise.  Thread-safe. */
__attribute__((format(printf, 1, 2))) void notify_send(const char *fmt, ...);

void notify_close(void);

#endif
