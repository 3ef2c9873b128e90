/*
 * hold.h - held replies, for front.c.  hold.c builds on front.h (sessions,
 * the caller's memory, helper threads) and nothing in front.c.
 */
#ifndef MSHV_EMU_HOLD_H
#define MSHV_EMU_HOLD_H

#include "front.h"

/*
 * Held replies (hold.c): calls a delay or hang fault holds back.
 * front_hold takes REQ and answers it later; FI is the open's reply for a
 * held open (NULL for an ioctl).  release lets every hung call go and
 * returns how many; count is how many are held now.
 */
int front_hold_start(const struct front_options *options);
void front_hold_stop(void);
void front_hold(fuse_req_t req, struct emu_session *session, const struct emu_call *call,
		const struct fuse_file_info *fi);
unsigned front_hold_release(void);
unsigned front_hold_count(void);

#endif
