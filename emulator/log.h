/*
 * log.h - the daemon's log: one line per event on stderr, written with one
 * write(2) so that threads never interleave, in one of three styles:
 *   time     2026-01-02T03:04:05.678Z mshv-emu: serving /dev/mshv (...)
 *   journal  <6>serving /dev/mshv (...)
 *   plain    mshv-emu: serving /dev/mshv (...)
 * journal is the sd-daemon(3) convention: systemd's journal takes the <N>
 * as the line's syslog priority and stamps the time itself.  Before
 * log_set_style, plain (what mshv-emu-run and the tests' daemon keep).
 */
#ifndef MSHV_EMU_LOG_H
#define MSHV_EMU_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h> /* LOG_ERR, LOG_WARNING, LOG_INFO... */

#include "diag.h"

enum log_style {
	LOG_STYLE_PLAIN,
	LOG_STYLE_TIME,
	LOG_STYLE_JOURNAL,
};

/* The program's name, after which plain and time lines start. */
extern const char *emu_log_name;

/*
 * log_style_parse - --log's TEXT: "time", "journal", "plain", or "auto":
 * journal when stderr is the journal's stream (JOURNAL_STREAM names its
 * device and inode, as systemd sets it for StandardError=journal), else
 * time.  0, or -1 for anything else.
 */
int log_style_parse(const char *text, enum log_style *style);
void log_set_style(enum log_style style);
enum log_style log_get_style(void);
const char *log_style_name(enum log_style style);

/* One line at syslog PRIORITY; emu_log is LOG_INFO, emu_warn LOG_WARNING,
 * emu_err LOG_ERR.  A trailing newline in the message is dropped. */
__attribute__((format(printf, 2, 3))) void emu_logp(int priority, const char *fmt, ...);
__attribute__((format(printf, 2, 0))) void emu_vlogp(int priority, const char *fmt, va_list ap);
__attribute__((format(printf, 1, 2))) void emu_log(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void emu_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void emu_err(const char *fmt, ...);

/* emu_log_diags - each of LIST's diagnostics (FILE:LINE:COL: error: ...)
 * as a line at PRIORITY. */
void emu_log_diags(int priority, const struct diag_list *list);

#endif
