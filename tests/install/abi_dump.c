/*
 * abi_dump.c - print every number and layout mshv_emu.h takes from Linux's
 * <linux/mshv.h>.  tests/install/headers.sh builds it twice, once on the
 * header's own copies (MSHV_EMU_NO_KERNEL_HEADER) and once on the kernel's
 * header, and the two outputs must be the same.
 */
#include <stddef.h>
#include <stdio.h>

#include <mshv-emu/mshv_emu.h>

#define NUMBER(name) printf("%s 0x%llx\n", #name, (unsigned long long)(name))
#define SIZE(type)   printf("sizeof(%s) %zu\n", #type, sizeof(type))
#define FIELD(type, field) \
	printf("%s.%s %zu+%zu\n", #type, #field, offsetof(type, field), sizeof(((type *)0)->field))

int main(void)
{
	NUMBER(MSHV_IOCTL);
	NUMBER(MSHV_PT_BIT_LAPIC);
	NUMBER(MSHV_PT_BIT_X2APIC);
	NUMBER(MSHV_PT_BIT_GPA_SUPER_PAGES);
	NUMBER(MSHV_PT_ISOLATION_NONE);
	NUMBER(MSHV_PT_ISOLATION_COUNT);
	NUMBER(MSHV_CREATE_PARTITION);
	NUMBER(MSHV_INITIALIZE_PARTITION);
	NUMBER(MSHV_CREATE_VP);
	NUMBER(MSHV_SET_GUEST_MEMORY);
	NUMBER(MSHV_IRQFD);
	NUMBER(MSHV_IOEVENTFD);
	NUMBER(MSHV_SET_MSI_ROUTING);
	NUMBER(MSHV_GET_GPAP_ACCESS_BITMAP);
	NUMBER(MSHV_ROOT_HVCALL);
	NUMBER(MSHV_RUN_VP_BUF_SZ);
	NUMBER(MSHV_RUN_VP);
	NUMBER(MSHV_GET_VP_STATE);
	NUMBER(MSHV_SET_VP_STATE);
	NUMBER(MSHV_CHECK_EXTENSION);
	NUMBER(MSHV_CREATE_VTL);
	NUMBER(MSHV_CAP_CORE_API_STABLE);
	NUMBER(MSHV_CAP_REGISTER_PAGE);
	NUMBER(MSHV_CAP_VTL_RETURN_ACTION);
	NUMBER(MSHV_CAP_DR6_SHARED);
	FIELD(struct mshv_create_partition, pt_flags);
	FIELD(struct mshv_create_partition, pt_isolation);
	FIELD(struct mshv_create_vp, vp_index);
	FIELD(struct mshv_user_mem_region, size);
	FIELD(struct mshv_user_mem_region, guest_pfn);
	FIELD(struct mshv_user_mem_region, userspace_addr);
	FIELD(struct mshv_user_mem_region, flags);
	FIELD(struct mshv_user_irqfd, fd);
	FIELD(struct mshv_user_irqfd, resamplefd);
	FIELD(struct mshv_user_irqfd, gsi);
	FIELD(struct mshv_user_irqfd, flags);
	FIELD(struct mshv_user_ioeventfd, datamatch);
	FIELD(struct mshv_user_ioeventfd, addr);
	FIELD(struct mshv_user_ioeventfd, len);
	FIELD(struct mshv_user_ioeventfd, fd);
	FIELD(struct mshv_user_ioeventfd, flags);
	FIELD(struct mshv_user_irq_entry, gsi);
	FIELD(struct mshv_user_irq_entry, address_lo);
	FIELD(struct mshv_user_irq_entry, address_hi);
	FIELD(struct mshv_user_irq_entry, data);
	FIELD(struct mshv_user_irq_table, nr);
	SIZE(struct mshv_user_irq_table);
	FIELD(struct mshv_gpap_access_bitmap, access_type);
	FIELD(struct mshv_gpap_access_bitmap, access_op);
	FIELD(struct mshv_gpap_access_bitmap, page_count);
	FIELD(struct mshv_gpap_access_bitmap, gpap_base);
	FIELD(struct mshv_gpap_access_bitmap, bitmap_ptr);
	FIELD(struct mshv_root_hvcall, code);
	FIELD(struct mshv_root_hvcall, reps);
	FIELD(struct mshv_root_hvcall, in_sz);
	FIELD(struct mshv_root_hvcall, out_sz);
	FIELD(struct mshv_root_hvcall, status);
	FIELD(struct mshv_root_hvcall, in_ptr);
	FIELD(struct mshv_root_hvcall, out_ptr);
	SIZE(struct mshv_run_vp);
	FIELD(struct mshv_get_set_vp_state, type);
	FIELD(struct mshv_get_set_vp_state, buf_sz);
	FIELD(struct mshv_get_set_vp_state, buf_ptr);
	SIZE(struct mshv_get_set_vp_state);
	return 0;
}
