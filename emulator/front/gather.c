/*
 * gather.c - the caller's memory for CUSE's unrestricted ioctls, copied by
 * the kernel on a retry (front.h explains the exchange).
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
 * Only what the op reached for is named, and only after the op's own
 * checks passed, so a bad in_ptr behind a bad header is EINVAL, not the
 * kernel's EFAULT, as in the driver.  The kernel answers a region it
 * cannot copy with EFAULT itself; the daemon then never sees the call.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include "front.h"

static bool same_region(const struct emu_region *a, const struct emu_region *b)
{
	return a->addr == b->addr && a->len == b->len && a->write == b->write;
}

/* Index of REGION in the gather, found in the copied bytes or newly
 * assigned to the next offset there; -1 when it must be asked for. */
static int region_find(struct front_gather *g, const struct emu_region *region)
{
	for (unsigned i = 0; i < g->count; i++)
		if (same_region(&g->regions[i], region))
			return g->offset[i] == SIZE_MAX ? -1 : (int)i;
	if (g->count == FRONT_GATHER_MAX) {
		g->too_many = true;
		return -1;
	}
	unsigned i = g->count++;
	g->regions[i] = *region;
	g->written[i] = 0;
	size_t *used = region->write ? &g->out_used : &g->in_used;
	size_t have = region->write ? g->out_len : g->in_len;
	/* The kernel copied a direction's regions in the order the retry named
	 * them: once one of them is missing, so is every later one. */
	bool missing = false;
	for (unsigned j = 0; j < i; j++)
		missing |= g->regions[j].write == region->write && g->offset[j] == SIZE_MAX;
	if (!missing && region->len <= have - *used) {
		g->offset[i] = *used;
		*used += region->len;
		return (int)i;
	}
	g->offset[i] = SIZE_MAX;
	return -1;
}

static int gather_prepare(struct emu_transport *base, const struct emu_region *regions,
			  unsigned count)
{
	struct front_gather *g = &((struct front_transport *)base)->gather;
	bool retry = false;
	for (unsigned i = 0; i < count; i++)
		if (regions[i].len && region_find(g, &regions[i]) < 0)
			retry = true;
	return retry ? -EMU_RETRY_WITH_MEMORY : 0;
}

static int gather_read(struct emu_transport *base, uint64_t addr, void *buf, size_t len)
{
	struct front_gather *g = &((struct front_transport *)base)->gather;
	struct emu_region region = {.addr = addr, .len = len};
	int i = region_find(g, &region);
	if (i < 0)
		return -EMU_RETRY_WITH_MEMORY;
	memcpy(buf, g->in + g->offset[i], len);
	return 0;
}

static int gather_write(struct emu_transport *base, uint64_t addr, const void *buf, size_t len)
{
	struct front_gather *g = &((struct front_transport *)base)->gather;
	struct emu_region region = {.addr = addr, .len = len, .write = true};
	int i = region_find(g, &region);
	if (i < 0)
		return -EMU_RETRY_WITH_MEMORY;
	memcpy(g->out + g->offset[i], buf, len);
	g->written[i] = len;
	return 0;
}

int front_gather_begin(struct front_transport *transport, struct emu_call *call, const void *in_buf,
		       size_t in_bufsz, size_t out_bufsz, uint8_t *out, size_t out_cap)
{
	struct front_gather *g = &transport->gather;
	size_t size = _IOC_SIZE(call->cmd);
	unsigned dir = _IOC_DIR(call->cmd);
	*g = (struct front_gather){
		.active = true,
		.base_in = dir & _IOC_WRITE ? size : 0,
		.base_out = dir & _IOC_READ ? size : 0,
	};
	transport->base.read = gather_read;
	transport->base.write = gather_write;
	transport->base.prepare = gather_prepare;
	if ((g->base_in || g->base_out) && !in_bufsz && !out_bufsz)
		return 1;
	if (in_bufsz < g->base_in || out_bufsz < g->base_out || out_bufsz > out_cap ||
	    in_bufsz - g->base_in > FRONT_GATHER_BYTES)
		return -EIO; /* not what any retry of ours asked for */
	g->in = in_bufsz > g->base_in ? (const uint8_t *)in_buf + g->base_in : NULL;
	g->in_len = in_bufsz - g->base_in;
	g->out = out + g->base_out;
	g->out_len = out_bufsz - g->base_out;
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
static void reply_retry(fuse_req_t req, const struct emu_call *call, const struct front_gather *g)
{
	struct iovec in[FRONT_GATHER_MAX + 1], out[FRONT_GATHER_MAX + 1];
	size_t in_count = 0, out_count = 0;
	if (g->base_in)
		in[in_count++] = (struct iovec){(void *)(uintptr_t)call->arg, g->base_in};
	if (g->base_out)
		out[out_count++] = (struct iovec){(void *)(uintptr_t)call->arg, g->base_out};
	size_t in_total = 0, out_total = 0;
	for (unsigned i = 0; i < g->count; i++) {
		const struct emu_region *r = &g->regions[i];
		struct iovec iov = {(void *)(uintptr_t)r->addr, r->len};
		if (r->write) {
			out[out_count++] = iov;
			out_total += r->len;
		} else {
			in[in_count++] = iov;
			in_total += r->len;
		}
	}
	if (g->too_many || in_total > FRONT_GATHER_BYTES || out_total > FRONT_GATHER_BYTES) {
		emu_log("ioctl 0x%08x: an op reached for more memory than a CUSE retry carries "
			"here; answered EIO",
			call->cmd);
		fuse_reply_err(req, EIO);
		return;
	}
	fuse_reply_ioctl_retry(req, in, in_count, out, out_count);
}

void front_reply_ioctl(fuse_req_t req, const struct emu_call *call, int result,
		       struct front_transport *transport)
{
	const struct front_gather *g = transport ? &transport->gather : NULL;
	if (result == -EMU_RETRY_WITH_MEMORY) {
		if (g && g->active) {
			reply_retry(req, call, g);
		} else { /* only a gathering transport answers it; never leak it */
			emu_log("ioctl 0x%08x: asked for a retry outside CUSE's unrestricted "
				"ioctls; answered EIO",
				call->cmd);
			fuse_reply_ioctl(req, -EIO, NULL, 0);
		}
		return;
	}
	size_t len = call->out_len;
	if (g && g->active) {
		/* Regions go back after the whole argument, in order: up to the
		 * last one written, each before it written whole. */
		size_t end = 0;
		for (unsigned i = 0; i < g->count; i++) {
			if (!g->regions[i].write || !g->written[i])
				continue;
			end = g->offset[i] + g->written[i];
		}
		for (unsigned i = 0; end && i < g->count; i++) {
			const struct emu_region *r = &g->regions[i];
			if (r->write && g->offset[i] + r->len <= end && g->written[i] != r->len) {
				emu_log("ioctl 0x%08x: a region before the last written one was "
					"not written whole; answered EIO",
					call->cmd);
				fuse_reply_ioctl(req, -EIO, NULL, 0);
				return;
			}
		}
		if (end)
			len = g->base_out + end;
	}
	fuse_reply_ioctl(req, result, len ? call->out : NULL, len);
}
