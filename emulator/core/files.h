/*
 * files.h - how the daemon opens the files a user names (the policy, the
 * transcript): only regular files, without blocking on a FIFO, and never
 * through a symlink where it writes.
 */
#ifndef MSHV_EMU_FILES_H
#define MSHV_EMU_FILES_H

#include "diag.h"

/*
 * files_open_read - PATH for reading (a symlink is followed).
 * files_open_write - PATH for writing, created mode 0600 or truncated; a
 * symlink as its last component is refused, not followed; /dev/null is
 * taken too, as a sink.
 * Both return a blocking fd (O_CLOEXEC) on a regular file, or -1 with the
 * reason in DIAGS; WHAT ("policy", "transcript") names the file wanted.
 */
int files_open_read(const char *path, const char *what, struct diag_list *diags);
int files_open_write(const char *path, const char *what, struct diag_list *diags);

#endif
