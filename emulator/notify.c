/*
 * notify.c - the sd_notify protocol over an AF_UNIX datagram socket
 * (notify.h).  libsystemd's sd_notify does the same; this is all of it the
 * daemon needs, and it keeps libsystemd out of the dependencies.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

static int notify_fd = -1;

void notify_open(void)
{
	const char *name = getenv("NOTIFY_SOCKET");
	if (!name || !*name)
		return;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	size_t len = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || len >= sizeof(addr.sun_path)) {
		emu_warn("NOTIFY_SOCKET=%s: not a socket path or an @abstract name; the service "
			 "manager is not told when mshv-emu is ready",
			 name);
		unsetenv("NOTIFY_SOCKET");
		return;
	}
	memcpy(addr.sun_path, name, len);
	if (name[0] == '@')
		addr.sun_path[0] = '\0'; /* abstract: the name has no terminating NUL */
	socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
				     (name[0] == '@' ? 0 : 1));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, size) != 0) {
		emu_warn("NOTIFY_SOCKET=%s: %s; the service manager is not told when mshv-emu is "
			 "ready",
			 name, strerror(errno));
		if (fd >= 0)
			close(fd);
	} else {
		notify_fd = fd;
	}
	unsetenv("NOTIFY_SOCKET");
}

bool notify_active(void)
{
	return notify_fd >= 0;
}

void notify_send(const char *fmt, ...)
{
	if (notify_fd < 0)
		return;
	char message[1024];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if ((size_t)len >= sizeof(message))
		len = sizeof(message) - 1;
	while (send(notify_fd, message, (size_t)len, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

void notify_close(void)
{
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}
