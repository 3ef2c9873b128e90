/*
 * cuse_ioctl.c - the caller's memory for CUSE's unrestricted ioctls, copied
 * by the kernel on a retry (front.h explains the exchange; core/gather.c
 * finds the regions), and the ioctl reply both front ends share.
 *
 * A call takes up to three requests:
 *   1. nothing copied: retry for the argument's _IOC_SIZE bytes, in the
 *      directions _IOC_DIR names (what a restricted ioctl copies at once);
 *   2. the argument: dispatch.  An op that reaches for more memory ends
 *      with -EMU_RETRY_WITH_MEMORY, its regions recorded; the retry names
 *      the argument again, then each region, in the order asked;
 *   3. all of it: dispatch again (continued: the faults were decided in 2).
 *      Each region is found at the next offset of its direction's bytes,
 *      as the op asks for them again in the same order.
 * The kernel answers a region it cannot copy with EFAULT itself; the daemon
 * then never sees the call.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include "front.h"

int front_gather_begin(struct front_transport *transport, struct emu_call *call, const void *in_buf,
		       size_t in_bufsz, size_t out_bufsz, uint8_t *out, size_t out_cap)
{
	struct emu_gather *g = &transport->gather;
	emu_gather_init(g, call->cmd);
	transport->gathering = true;
	call->transport = &g->base;
	if ((g->base_in || g->base_out) && !in_bufsz && !out_bufsz)
		return 1;
	if (in_bufsz < g->base_in || out_bufsz < g->base_out || out_bufsz > out_cap ||
	    in_bufsz - g->base_in > EMU_GATHER_BYTES)
		return -EIO; /* not what any retry of ours asked for */
	emu_gather_supply(g, (const uint8_t *)in_buf + g->base_in, in_bufsz - g->base_in,
			  out + g->base_out, out_bufsz - g->base_out);
	/* A write region written means the whole argument goes back first:
	 * start it as the caller's own bytes, as the kernel leaves them. */
	memset(out, 0, g->base_out);
	if (g->base_in && g->base_out)
		memcpy(out, in_buf, g->base_in < g->base_out ? g->base_in : g->base_out);
	call->in = in_bufsz ? in_buf : NULL;
	call->in_size = g->base_in;
	call->out = out;
	call->out_size = g->base_out;
	call->continued = g->in_len || g->out_len;
	return 0;
}

/* The retry: the argument, then the regions, in each direction. */
static void reply_retry(fuse_req_t req, const struct emu_call *call, const struct emu_gather *g)
{
	struct iovec in[EMU_GATHER_MAX + 1], out[EMU_GATHER_MAX + 1];
	size_t in_count = 0, out_count = 0;
	if (g->base_in)
		in[in_count++] = (struct iovec){(void *)(uintptr_t)call->arg, g->base_in};
	if (g->base_out)
		out[out_count++] = (struct iovec){(void *)(uintptr_t)call->arg, g->base_out};
	if (!emu_gather_fits(g)) {
		emu_err("ioctl 0x%08x: an op reached for more memory than a CUSE retry carries "
			"here; answered EIO",
			call->cmd);
		fuse_reply_err(req, EIO);
		return;
	}
	for (unsigned i = 0; i < g->count; i++) {
		const struct emu_region *r = &g->regions[i];
		struct iovec iov = {(void *)(uintptr_t)r->addr, r->len};
		if (r->write)
			out[out_count++] = iov;
		else
			in[in_count++] = iov;
	}
	fuse_reply_ioctl_retry(req, in, in_count, out, out_count);
}

void front_reply_ioctl(fuse_req_t req, const struct emu_call *call, int result,
		       struct front_transport *transport)
{
	const struct emu_gather *g = transport && transport->gathering ? &transport->gather : NULL;
	if (result == -EMU_RETRY_WITH_MEMORY) {
		if (g) {
			reply_retry(req, call, g);
		} else { /* only a gathering transport answers it; never leak it */
			emu_err("ioctl 0x%08x: asked for a retry outside CUSE's unrestricted "
				"ioctls; answered EIO",
				call->cmd);
			fuse_reply_ioctl(req, -EIO, NULL, 0);
		}
		return;
	}
	size_t len = call->out_len;
	if (g) {
		/* Write regions go back after the whole argument, in order. */
		ssize_t end = emu_gather_written(g);
		if (end < 0) {
			emu_err("ioctl 0x%08x: a region before the last written one was not "
				"written whole; answered EIO",
				call->cmd);
			fuse_reply_ioctl(req, -EIO, NULL, 0);
			return;
		}
		if (end)
			len = g->base_out + (size_t)end;
	}
	fuse_reply_ioctl(req, result, len ? call->out : NULL, len);
}

struct front_transport *front_transport_of(struct emu_transport *transport)
{
	struct front_transport *t = (struct front_transport *)transport; /* base is first */
	if (transport && transport->prepare) /* the gather, inside its front_transport */
		t = (struct front_transport *)((char *)transport -
					       offsetof(struct front_transport, gather.base));
	return t;
}
