/*
 * log.c - the daemon's log lines (log.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

const char *emu_log_name = "mshv-emu";

static enum log_style style = LOG_STYLE_PLAIN;

/* Is stderr the stream systemd connected to the journal? */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	char end;
	struct stat st;
	if (!env || sscanf(env, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return false;
	return fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

int log_style_parse(const char *text, enum log_style *out)
{
	if (!strcmp(text, "auto"))
		*out = stderr_is_journal() ? LOG_STYLE_JOURNAL : LOG_STYLE_TIME;
	else if (!strcmp(text, "time"))
		*out = LOG_STYLE_TIME;
	else if (!strcmp(text, "journal"))
		*out = LOG_STYLE_JOURNAL;
	else if (!strcmp(text, "plain"))
		*out = LOG_STYLE_PLAIN;
	else
		return -1;
	return 0;
}

void log_set_style(enum log_style new_style)
{
	style = new_style;
}

enum log_style log_get_style(void)
{
	return style;
}

const char *log_style_name(enum log_style which)
{
	return which == LOG_STYLE_JOURNAL ? "journal" : which == LOG_STYLE_TIME ? "time" : "plain";
}

void emu_vlogp(int priority, const char *fmt, va_list ap)
{
	char line[1200];
	size_t used = 0;
	if (style == LOG_STYLE_JOURNAL) {
		used = (size_t)snprintf(line, sizeof(line), "<%d>", priority & LOG_PRIMASK);
	} else {
		if (style == LOG_STYLE_TIME) {
			struct timespec now;
			struct tm tm;
			clock_gettime(CLOCK_REALTIME, &now);
			gmtime_r(&now.tv_sec, &tm);
			used = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
			used += (size_t)snprintf(line + used, sizeof(line) - used, ".%03ldZ ",
						 now.tv_nsec / 1000000);
		}
		used += (size_t)snprintf(line + used, sizeof(line) - used, "%s: ", emu_log_name);
	}
	int n = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
	used = n < 0 ? used : used + (size_t)n < sizeof(line) ? used + (size_t)n : sizeof(line) - 1;
	while (used && line[used - 1] == '\n')
		used--;
	line[used++] = '\n';
	for (size_t done = 0; done < used;) {
		ssize_t wrote = write(STDERR_FILENO, line + done, used - done);
		if (wrote < 0 && errno == EINTR)
			continue;
		if (wrote <= 0)
			break;
		done += (size_t)wrote;
	}
}

void emu_logp(int priority, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emu_vlogp(priority, fmt, ap);
	va_end(ap);
}

#define LOG_AT(function, priority)            \
	void function(const char *fmt, ...)   \
	{                                     \
		va_list ap;                   \
		va_start(ap, fmt);            \
		emu_vlogp(priority, fmt, ap); \
		va_end(ap);                   \
	}
LOG_AT(emu_log, LOG_INFO)
LOG_AT(emu_warn, LOG_WARNING)
LOG_AT(emu_err, LOG_ERR)

void emu_log_diags(int priority, const struct diag_list *list)
{
	char line[1024];
	for (size_t i = 0; i < list->count; i++) {
		diag_format(&list->items[i], line, sizeof(line));
		emu_logp(priority, "%s", line);
	}
}
