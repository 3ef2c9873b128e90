/*
 * json.h - a string in the JSON the daemon writes (the transcript, mshvctl
 * --json): always valid UTF-8, whatever bytes it was given.
 */
#ifndef MSHV_EMU_JSON_H
#define MSHV_EMU_JSON_H

#include <stddef.h>
#include <stdio.h>

/*
 * json_string - TEXT (at most MAX bytes of it) as a quoted JSON string, or
 * null when TEXT is NULL.  '"' and '\\' are escaped with a backslash, control
 * characters (below 0x20) as \u00XX; well-formed UTF-8 (RFC 3629) is copied
 * as it is, and each byte that is not part of it becomes \ufffd (U+FFFD, the
 * replacement character).
 */
void json_string(FILE *out, const char *text, size_t max);

#endif
