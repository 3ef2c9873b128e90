/*
 * hold.c - replies held back by a delay or hang fault.
 *
 * A held request is not a blocked worker: it waits in a list, and one timer
 * thread answers it when its delay ends, when `mshvctl release` lets hung
 * calls go, or when the caller is interrupted by a signal (the kernel sends
 * FUSE_INTERRUPT; we answer EINTR, as the kernel does for an interrupted
 * wait).  Every other caller keeps being served by the loop's workers.
 *
 * Locking.  libfuse calls the interrupt callback holding the request's lock
 * and possibly after we have replied (it read the callback pointer before
 * our reply cleared it).  So the callback only marks a held call that is
 * still in our list, under HOLDS.lock; the timer thread unlinks a call under
 * the same lock before replying and freeing it.  A call is linked before its
 * interrupt callback is registered but marked `registering`, so the timer
 * does not answer (and free) it while fuse_req_interrupt_func still runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hold.h"

struct held {
	struct held *next;
	fuse_req_t req;
	bool is_open;
	struct emu_session *session;
	struct emu_call call;
	struct emu_caller caller;
	struct front_transport transport; /* a held ROOT_HVCALL still reads the caller */
	unsigned char *in;		  /* the whole argument: a held call is answered from it */
	struct fuse_file_info fi;	  /* open: what to reply with */
	uint64_t due_ns;		  /* CLOCK_MONOTONIC; 0: hung until released */
	bool registering;
	bool interrupted;
	bool released;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct held *list;
	pthread_t thread;
	bool running;
	bool stopping;
	const struct front_options *options;
	unsigned count;
} holds = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_interrupt(fuse_req_t req, void *data)
{
	pthread_mutex_lock(&holds.lock);
	/* The pointer alone could be a new call reusing a freed one's memory;
	 * libfuse keeps REQ alive while this runs, so it tells them apart. */
	for (struct held *h = holds.list; h; h = h->next) {
		if (h == data && h->req == req) {
			h->interrupted = true;
			pthread_cond_signal(&holds.wake);
			break;
		}
	}
	pthread_mutex_unlock(&holds.lock);
}

static bool is_ready(const struct held *h, uint64_t now)
{
	return !h->registering &&
	       (h->interrupted || h->released || holds.stopping || (h->due_ns && h->due_ns <= now));
}

static void answer(struct held *h)
{
	struct emu_core *core = holds.options->core;
	if (h->is_open) {
		int result = core_open_complete(core, h->session, &h->call, h->interrupted);
		if (result == 0) {
			fuse_reply_open(h->req, &h->fi);
		} else {
			front_session_free(h->session);
			fuse_reply_err(h->req, open_errno(result));
		}
		return;
	}
	unsigned char out[256];
	h->call.out = out;
	h->call.out_size = h->call.out_size < sizeof(out) ? h->call.out_size : sizeof(out);
	int result = core_ioctl_complete(core, h->session, &h->call, h->interrupted);
	front_reply_ioctl(h->req, &h->call, result, &h->transport);
}

static void *hold_thread(void *arg)
{
	pthread_mutex_lock(&holds.lock);
	for (;;) {
		uint64_t now = now_ns(), next = 0;
		struct held **link = &holds.list, *ready = NULL;
		while (*link) {
			struct held *h = *link;
			if (is_ready(h, now)) {
				*link = h->next;
				ready = h;
				break;
			}
			if (h->due_ns && !h->registering && (!next || h->due_ns < next))
				next = h->due_ns;
			link = &h->next;
		}
		if (ready) {
			holds.count--;
			pthread_mutex_unlock(&holds.lock);
			answer(ready);
			free(ready->in);
			free(ready);
			pthread_mutex_lock(&holds.lock);
			continue;
		}
		if (holds.stopping && !holds.list)
			break;
		if (next) {
			struct timespec until = {(time_t)(next / 1000000000u),
						 (long)(next % 1000000000u)};
			pthread_cond_clockwait(&holds.wake, &holds.lock, CLOCK_MONOTONIC, &until);
		} else {
			pthread_cond_wait(&holds.wake, &holds.lock);
		}
	}
	pthread_mutex_unlock(&holds.lock);
	return NULL;
}

int front_hold_start(const struct front_options *options)
{
	/* holds.wake stays as it was statically made: the control thread may
	 * already signal it (mshvctl release), so it is never made again here;
	 * the wait names its clock instead (pthread_cond_clockwait). */
	holds.options = options;
	holds.stopping = false;
	if (front_thread_create(&holds.thread, hold_thread, NULL) != 0)
		return -1;
	holds.running = true;
	return 0;
}

void front_hold_stop(void)
{
	if (!holds.running)
		return;
	pthread_mutex_lock(&holds.lock);
	holds.stopping = true; /* answer everything still held, then exit */
	pthread_cond_signal(&holds.wake);
	pthread_mutex_unlock(&holds.lock);
	pthread_join(holds.thread, NULL);
	holds.running = false;
}

unsigned front_hold_release(void)
{
	unsigned released = 0;
	pthread_mutex_lock(&holds.lock);
	for (struct held *h = holds.list; h; h = h->next) {
		if (!h->due_ns && !h->released) {
			h->released = true;
			released++;
		}
	}
	pthread_cond_signal(&holds.wake);
	pthread_mutex_unlock(&holds.lock);
	return released;
}

unsigned front_hold_count(void)
{
	pthread_mutex_lock(&holds.lock);
	unsigned count = holds.count;
	pthread_mutex_unlock(&holds.lock);
	return count;
}

void front_hold(fuse_req_t req, struct emu_session *session, const struct emu_call *call,
		const struct fuse_file_info *fi)
{
	struct held *h = calloc(1, sizeof(*h));
	if (!h) {
		if (fi)
			front_session_free(session);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->req = req;
	h->is_open = fi != NULL;
	if (fi)
		h->fi = *fi;
	h->session = session;
	h->call = *call;
	if (call->caller) {
		h->caller = *call->caller;
		h->call.caller = &h->caller;
	}
	if (call->transport) {
		h->transport = *front_transport_of(call->transport);
		h->call.transport = &h->transport.base;
		/* A gathering call is held before it reached for memory (a later
		 * pass skips the faults): nothing copied stays valid after this
		 * request, and what it reaches for is asked for when it answers. */
		if (h->transport.gathering) {
			emu_gather_supply(&h->transport.gather, NULL, 0, NULL, 0);
			h->call.transport = &h->transport.gather.base;
		}
	}
	if (call->in && call->in_size) {
		h->in = malloc(call->in_size);
		if (!h->in) {
			if (fi)
				front_session_free(session);
			free(h);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		memcpy(h->in, call->in, call->in_size);
		h->call.in = h->in;
	}
	h->call.out = NULL;
	h->due_ns = call->hang ? 0 : now_ns() + call->hold_ns;
	h->registering = true;

	pthread_mutex_lock(&holds.lock);
	h->next = holds.list;
	holds.list = h;
	holds.count++;
	pthread_mutex_unlock(&holds.lock);

	/* May call on_interrupt at once if the caller was already interrupted. */
	fuse_req_interrupt_func(req, on_interrupt, h);

	pthread_mutex_lock(&holds.lock);
	h->registering = false;
	if (fuse_req_interrupted(req))
		h->interrupted = true;
	pthread_cond_signal(&holds.wake);
	pthread_mutex_unlock(&holds.lock);
}
