/*
 * gather.c - the caller's memory, sent with the call (gather.h).
 *
 * Only what an op reached for is recorded, and only after the op's own
 * checks passed, so a bad in_ptr behind a bad header is EINVAL, as in the
 * driver, and never a failed fetch.
 */
#include <string.h>
#include <sys/ioctl.h>

#include "gather.h"

static bool same_region(const struct emu_region *a, const struct emu_region *b)
{
	return a->addr == b->addr && a->len == b->len && a->write == b->write;
}

/* Index of REGION, found in the bytes supplied or newly given the next
 * offset there; -1 when it must be fetched. */
static int region_find(struct emu_gather *g, const struct emu_region *region)
{
	for (unsigned i = 0; i < g->count; i++)
		if (same_region(&g->regions[i], region))
			return g->offset[i] == SIZE_MAX ? -1 : (int)i;
	if (g->count == EMU_GATHER_MAX) {
		g->too_many = true;
		return -1;
	}
	unsigned i = g->count++;
	g->regions[i] = *region;
	g->written[i] = 0;
	size_t *used = region->write ? &g->out_used : &g->in_used;
	size_t have = region->write ? g->out_len : g->in_len;
	/* A direction's regions were fetched in the order recorded: once one
	 * of them is missing, so is every later one. */
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
	struct emu_gather *g = (struct emu_gather *)base;
	bool fetch = false;
	for (unsigned i = 0; i < count; i++)
		if (regions[i].len && region_find(g, &regions[i]) < 0)
			fetch = true;
	return fetch ? -EMU_RETRY_WITH_MEMORY : 0;
}

static int gather_read(struct emu_transport *base, uint64_t addr, void *buf, size_t len)
{
	struct emu_gather *g = (struct emu_gather *)base;
	struct emu_region region = {.addr = addr, .len = len};
	int i = region_find(g, &region);
	if (i < 0)
		return -EMU_RETRY_WITH_MEMORY;
	memcpy(buf, g->in + g->offset[i], len);
	return 0;
}

static int gather_write(struct emu_transport *base, uint64_t addr, const void *buf, size_t len)
{
	struct emu_gather *g = (struct emu_gather *)base;
	struct emu_region region = {.addr = addr, .len = len, .write = true};
	int i = region_find(g, &region);
	if (i < 0)
		return -EMU_RETRY_WITH_MEMORY;
	memcpy(g->out + g->offset[i], buf, len);
	g->written[i] = len;
	return 0;
}

void emu_gather_init(struct emu_gather *g, uint32_t cmd)
{
	size_t size = _IOC_SIZE(cmd);
	unsigned dir = _IOC_DIR(cmd);
	*g = (struct emu_gather){
		.base = {.read = gather_read, .write = gather_write, .prepare = gather_prepare},
		.base_in = dir & _IOC_WRITE ? size : 0,
		.base_out = dir & _IOC_READ ? size : 0,
	};
}

void emu_gather_supply(struct emu_gather *g, const uint8_t *in, size_t in_len, uint8_t *out,
		       size_t out_len)
{
	g->in = in_len ? in : NULL;
	g->in_len = in_len;
	g->out = out;
	g->out_len = out_len;
	g->in_used = g->out_used = 0;
	g->count = 0;
	g->too_many = false;
}

bool emu_gather_fits(const struct emu_gather *g)
{
	size_t in = 0, out = 0;
	for (unsigned i = 0; i < g->count; i++)
		*(g->regions[i].write ? &out : &in) += g->regions[i].len;
	return !g->too_many && in <= EMU_GATHER_BYTES && out <= EMU_GATHER_BYTES;
}

ssize_t emu_gather_written(const struct emu_gather *g)
{
	size_t end = 0;
	for (unsigned i = 0; i < g->count; i++)
		if (g->regions[i].write && g->written[i])
			end = g->offset[i] + g->written[i];
	for (unsigned i = 0; end && i < g->count; i++) {
		const struct emu_region *r = &g->regions[i];
		if (r->write && g->offset[i] != SIZE_MAX && g->offset[i] + r->len <= end &&
		    g->written[i] != r->len)
			return -1;
	}
	return (ssize_t)end;
}
