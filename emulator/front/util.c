/*
 * util.c - what every part of the daemon shares: its helper threads and its
 * log line.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

#include "front.h"

int front_thread_create(pthread_t *thread, void *(*start)(void *), void *arg)
{
	sigset_t all, previous;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &previous);
	int err = pthread_create(thread, NULL, start, arg);
	pthread_sigmask(SIG_SETMASK, &previous, NULL);
	return err;
}

const char *emu_log_name = "mshv-emu";

void emu_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", emu_log_name, line);
}
