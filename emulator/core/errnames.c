/*
 * errnames.c - errno <-> name, for policies and logs.
 *
 * libc already names its errnos (strerrorname_np); this file adds only what
 * libc cannot know: the kernel-internal errnos from uapi and the aliases libc
 * defines as macros (ENOTSUP is EOPNOTSUPP, 95 -- not ENOTSUPP, 524).
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include <mshv-emu/mshv_emu.h>

#include "errnames.h"

#define MAX_ERRNO 4095

struct errname {
	const char *name;
	int number;
};

static const struct errname kernel_errnos[] = {
#define X(name, number) {#name, number},
	MSHV_EMU_KERNEL_ERRNOS(X)
#undef X
};

/* Aliases libc defines as a second macro for the same number. */
static const struct errname aliases[] = {
	{"ENOTSUP", EOPNOTSUPP},
	{"EWOULDBLOCK", EAGAIN},
	{"EDEADLOCK", EDEADLK},
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

const char *errname_of(int err)
{
	if (err <= 0 || err > MAX_ERRNO)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(kernel_errnos); i++)
		if (kernel_errnos[i].number == err)
			return kernel_errnos[i].name;
	return strerrorname_np(err);
}

int errname_parse(const char *text)
{
	if (!text || !*text)
		return 0;
	if (text[0] >= '0' && text[0] <= '9') {
		char *end;
		errno = 0;
		unsigned long number = strtoul(text, &end, 0);
		if (errno || *end || number == 0 || number > MAX_ERRNO)
			return 0;
		return (int)number;
	}
	for (size_t i = 0; i < ARRAY_SIZE(aliases); i++)
		if (!strcmp(aliases[i].name, text))
			return aliases[i].number;
	for (int err = 1; err <= MAX_ERRNO; err++) {
		const char *name = errname_of(err);
		if (name && !strcmp(name, text))
			return err;
	}
	return 0;
}
