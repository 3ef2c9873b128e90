/*
 * policy.c - read-only queries on a policy snapshot, and its release.
 * The queries run on the ioctl path inside an RCU read section: they do not
 * lock, allocate or log.
 */
#include <stdlib.h>

#include "policy.h"

const struct policy_ioctl *policy_find_ioctl(const struct policy_snapshot *snap,
					     enum emu_object object, uint32_t cmd)
{
	unsigned low = snap->object_first[object], high = snap->object_first[object + 1];
	while (low < high) {
		unsigned mid = low + (high - low) / 2;
		uint32_t at = snap->ioctls[mid].cmd;
		if (at == cmd)
			return &snap->ioctls[mid];
		if (at < cmd)
			low = mid + 1;
		else
			high = mid;
	}
	return NULL;
}

const struct policy_property *policy_find_property(const struct policy_snapshot *snap,
						   uint32_t code)
{
	unsigned low = 0, high = snap->host_property_count;
	while (low < high) {
		unsigned mid = low + (high - low) / 2;
		uint32_t at = snap->host_properties[mid].code;
		if (at == code)
			return &snap->host_properties[mid];
		if (at < code)
			low = mid + 1;
		else
			high = mid;
	}
	return NULL;
}

int policy_version_index(const struct policy_snapshot *snap, uint32_t version)
{
	for (unsigned i = 0; i < snap->version_count; i++)
		if (snap->versions[i] == version)
			return (int)i;
	return -1;
}

void policy_free(struct policy_snapshot *snap)
{
	if (!snap)
		return;
	for (uint32_t id = 0; snap->cap_names && id < snap->cap_slots; id++)
		free(snap->cap_names[id]);
	free(snap->cap_names);
	free(snap->caps);
	for (unsigned i = 0; i < snap->host_property_count; i++)
		free(snap->host_properties[i].banks);
	free(snap->host_properties);
	free(snap->partition_properties);
	for (unsigned i = 0; i < snap->ioctl_count; i++)
		if (snap->ioctls[i].op == EMU_OP_FIXED)
			free((char *)snap->ioctls[i].name);
	free(snap->ioctls);
	for (unsigned i = 0; i < snap->fault_count; i++)
		fault_rule_free(&snap->faults[i]);
	free(snap->faults);
	free(snap->fault_order);
	free(snap->fault_bucket);
	free(snap->fault_states);
	free(snap->source);
	free(snap);
}
