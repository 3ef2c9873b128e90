/*
 * client.c - run-client: a VMM-like program the run suite starts under
 * mshv-emu-run.  One scenario per invocation; it exits 0 when every check
 * held, 1 after printing each that did not.  uapi/ and libc only, like any
 * client of /dev/mshv.
 *
 *   run-client crate FEATURES0 CAPS   mshv-ioctls 0.7's sequence to a VP
 *   run-client fds                    dup, F_DUPFD, fork and exec share a session
 *   run-client inherited FD CLOEXEC_FD  (exec'd by fds)
 *   run-client threads N              N threads race REQUEST_VERSION on one fd
 *   run-client node MODE              stat family, access, read/write/mmap
 *   run-client hidden-kvm             /dev/kvm is absent
 *   run-client pointers               bad argument, in_ptr and out_ptr
 *   run-client killed-mid-call        a child killed inside a held call; the run serves on
 *   run-client device-dies            the run's device is killed: calls fail, nothing hangs
 *   run-client await-cap ID VALUE     CHECK_EXTENSION(ID) answers VALUE within 10 s
 *   run-client rough                  what a program may do around the library
 *   run-client version V              REQUEST_VERSION(V) on a fresh fd, then exit
 *   run-client raw FEATURES0 CAPS     crate, every open and ioctl a raw syscall()
 *   run-client own-filter FEATURES0 CAPS  crate under a seccomp filter of its own; then
 *                                     one that refuses ioctl wins over the run's
 */
#include <dirent.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mshv-emu/mshv_emu.h>

static int failures;

/* Under the seccomp transport, an fd of the device is the socket the run
 * installed: calls the filter does not send to the run (read, write, an
 * ioctl of another type) are the socket's (docs/transports.md). */
static bool over_seccomp(void)
{
	return getenv("MSHV_EMU_RUN_SECCOMP") != NULL;
}

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void check(bool ok, const char *fmt, ...)
{
	if (ok)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "run-client: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	failures++;
}

/* raw: every open and ioctl of the device a syscall(), as Go and hand-made
 * VMMs make them, past any library. */
static bool raw_calls;

/* The ioctl's result, or -errno. */
static int call(int fd, unsigned long cmd, void *arg)
{
	long r = raw_calls ? syscall(SYS_ioctl, fd, cmd, arg) : ioctl(fd, cmd, arg);
	return r < 0 ? -errno : (int)r;
}

static int open_device(int flags)
{
	int fd = raw_calls ? (int)syscall(SYS_openat, AT_FDCWD, "/dev/mshv", flags)
			   : open("/dev/mshv", flags);
	if (fd < 0) {
		fprintf(stderr, "run-client: open /dev/mshv: %s\n", strerror(errno));
		exit(1);
	}
	return fd;
}

static int request_version(int fd, uint32_t version)
{
	return call(fd, MSHV_REQUEST_VERSION, &version);
}

/* ---- crate: mshv-ioctls 0.7's create_vm, then a VP ---- */

struct hv_answer {
	int result;
	struct mshv_root_hvcall hdr;
	uint8_t out[MSHV_EMU_HV_PROPERTY_EX_OUT_SIZE];
};

static struct hv_answer get_property(int fd, uint16_t code, uint32_t property, bool ex)
{
	struct hv_answer a = {0};
	struct mshv_emu_hv_get_property_ex_in in = {.partition_id = MSHV_EMU_HV_PARTITION_ID_SELF,
						    .property_code = property};
	a.hdr = (struct mshv_root_hvcall){
		.code = code,
		.in_sz = ex ? sizeof(in) : sizeof(struct mshv_emu_hv_get_property_in),
		.out_sz = ex ? MSHV_EMU_HV_PROPERTY_EX_OUT_SIZE : 8,
		.in_ptr = (uintptr_t)&in,
		.out_ptr = (uintptr_t)a.out,
	};
	a.result = call(fd, MSHV_ROOT_HVCALL, &a.hdr);
	return a;
}

static uint64_t u64_at(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static int set_property(int fd, uint32_t property, uint64_t value, uint16_t *status)
{
	struct mshv_emu_hv_set_property_in in = {.property_code = property,
						 .property_value = value};
	struct mshv_root_hvcall hdr = {.code = MSHV_EMU_HVCALL_SET_PARTITION_PROPERTY,
				       .in_sz = sizeof(in),
				       .in_ptr = (uintptr_t)&in};
	int r = call(fd, MSHV_ROOT_HVCALL, &hdr);
	*status = hdr.status;
	return r;
}

static bool is_real_fd(int fd, bool cloexec)
{
	struct stat st = {0};
	int flags = fcntl(fd, F_GETFD);
	return fd > 2 && fstat(fd, &st) == 0 && flags >= 0 && !!(flags & FD_CLOEXEC) == cloexec;
}

static void crate(uint64_t want_features0, uint64_t want_caps)
{
	int fd = open_device(O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct hv_answer caps = get_property(fd, MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY_EX,
					     MSHV_EMU_HV_PROPERTY_VMM_CAPABILITIES, true);
	check(caps.result == 0 && u64_at(caps.out + 8) == want_caps,
	      "get_vmm_caps: result %d, bank 0 0x%llx, want 0x%llx", caps.result,
	      (unsigned long long)u64_at(caps.out + 8), (unsigned long long)want_caps);
	struct hv_answer f0 = get_property(fd, MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
					   MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0, false);
	struct hv_answer f1 = get_property(fd, MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
					   MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES1, false);
	check(f0.result == 0 && u64_at(f0.out) == want_features0,
	      "PROCESSOR_FEATURES0: result %d, 0x%llx, want 0x%llx", f0.result,
	      (unsigned long long)u64_at(f0.out), (unsigned long long)want_features0);
	check(f1.result == 0, "PROCESSOR_FEATURES1: result %d", f1.result);
	struct mshv_emu_create_partition_v2 args = {
		.pt_flags = 0xF,
		.pt_num_cpu_fbanks = MSHV_EMU_NUM_CPU_FEATURES_BANKS,
		.pt_cpu_fbanks = {~u64_at(f0.out) | 1ull << 63, ~u64_at(f1.out)},
	};
	int partition = call(fd, MSHV_CREATE_PARTITION, &args);
	check(partition >= 0 && is_real_fd(partition, true),
	      "CREATE_PARTITION: %d (%s), want a real fd with FD_CLOEXEC", partition,
	      partition < 0 ? strerror(-partition) : "fd");
	if (partition < 0)
		return;
	struct hv_answer synth =
		get_property(fd, MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY_EX,
			     MSHV_EMU_HV_PROPERTY_ASSIGNABLE_SYNTHETIC_PROC_FEATURES, true);
	uint64_t mask = u64_at(synth.out + 8);
	uint16_t status = 0;
	check(set_property(partition, MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, mask,
			   &status) == 0 &&
		      status == 0,
	      "SET_PARTITION_PROPERTY on the partition fd: status 0x%x", status);
	struct hv_answer back = get_property(partition, MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
					     MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, false);
	check(back.result == 0 && u64_at(back.out) == mask, "GET after SET: 0x%llx, want 0x%llx",
	      (unsigned long long)u64_at(back.out), (unsigned long long)mask);
	check(call(partition, MSHV_INITIALIZE_PARTITION, NULL) == 0, "INITIALIZE_PARTITION");
	int r = set_property(partition, MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, 0, &status);
	check(r == -EIO && status == MSHV_EMU_HV_STATUS_INVALID_PARTITION_STATE,
	      "SET after INITIALIZE: %d, status 0x%x", r, status);
	struct mshv_create_vp vp_args = {.vp_index = 0};
	int vp = call(partition, MSHV_CREATE_VP, &vp_args);
	check(vp >= 0 && is_real_fd(vp, true), "CREATE_VP: %d", vp);
	check(call(partition, MSHV_CREATE_VP, &vp_args) == -EEXIST, "CREATE_VP twice: EEXIST");
	struct hv_answer from_vp =
		get_property(vp, MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
			     MSHV_EMU_HV_PROPERTY_SYNTHETIC_PROC_FEATURES, false);
	check(from_vp.result == 0 && u64_at(from_vp.out) == mask, "a VP reads its partition");
	close(vp);
	close(partition);
	close(fd);
}

/* ---- fds: one session however the fd is copied ---- */

static void fds(const char *self)
{
	int fd = open_device(O_RDWR);
	int cloexec = open_device(O_RDWR | O_CLOEXEC);
	check(request_version(fd, 2) == 0, "REQUEST_VERSION(2)");
	int copy = dup(fd);
	check(request_version(copy, 1) == -EBADFD, "a dup is the same session (locked)");
	int high = fcntl(fd, F_DUPFD_CLOEXEC, 100);
	check(high >= 100 && request_version(high, 1) == -EBADFD, "F_DUPFD_CLOEXEC: %d", high);
	pid_t child = fork();
	if (child == 0)
		_exit(request_version(fd, 1) == -EBADFD ? 0 : 1);
	int status;
	waitpid(child, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a forked child shares the session");
	close(copy);
	close(high);
	/* A fresh open is a fresh session. */
	int other = open_device(O_RDWR);
	check(request_version(other, 1) == 0, "a new open is a new session");
	close(other);
	char fd_text[16], cloexec_text[16];
	snprintf(fd_text, sizeof(fd_text), "%d", fd);
	snprintf(cloexec_text, sizeof(cloexec_text), "%d", cloexec);
	fflush(stderr);
	if (failures)
		exit(1);
	execl(self, self, "inherited", fd_text, cloexec_text, (char *)NULL);
	fprintf(stderr, "run-client: exec %s: %s\n", self, strerror(errno));
	exit(1);
}

static void inherited(int fd, int cloexec)
{
	check(request_version(fd, 1) == -EBADFD, "after exec: the same session (locked)");
	uint32_t cap = 1;
	check(call(fd, MSHV_NEGOTIATED_CHECK_EXTENSION, &cap) >= 0, "after exec: CHECK_EXTENSION");
	check(fcntl(cloexec, F_GETFD) < 0 && errno == EBADF, "O_CLOEXEC closed it at exec");
	struct stat st = {0}, node = {0};
	check(fstat(fd, &st) == 0 && stat("/dev/mshv", &node) == 0 && st.st_ino == node.st_ino &&
		      st.st_dev == node.st_dev,
	      "after exec: still the device's file");
}

/* ---- threads: one fd, one version, whoever asks first ---- */

struct racer {
	int fd;
	pthread_barrier_t *start;
	int result;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	pthread_barrier_wait(r->start);
	r->result = request_version(r->fd, 1);
	return NULL;
}

static void threads(int n)
{
	int fd = open_device(O_RDWR);
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, (unsigned)n);
	struct racer racers[64];
	pthread_t ids[64];
	for (int i = 0; i < n; i++) {
		racers[i] = (struct racer){.fd = fd, .start = &start};
		pthread_create(&ids[i], NULL, race, &racers[i]);
	}
	int won = 0, locked = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(ids[i], NULL);
		won += racers[i].result == 0;
		locked += racers[i].result == -EBADFD;
	}
	check(won == 1 && locked == n - 1, "%d threads: %d locked a version, %d got EBADFD", n, won,
	      locked);
	pthread_barrier_destroy(&start);
}

/* ---- node: what stat, access, read, write and mmap see ---- */

static void node(unsigned mode)
{
	struct stat st = {0}, lst = {0};
	int r = stat("/dev/mshv", &st);
	check(r == 0 && S_ISCHR(st.st_mode) && (st.st_mode & 07777) == mode &&
		      major(st.st_rdev) == 10,
	      "stat: mode 0%o, rdev %u:%u", st.st_mode, major(st.st_rdev), minor(st.st_rdev));
	check(lstat("/dev/mshv", &lst) == 0 && S_ISCHR(lst.st_mode), "lstat");
	struct statx stx;
	check(statx(AT_FDCWD, "/dev/mshv", 0, STATX_BASIC_STATS, &stx) == 0 &&
		      S_ISCHR(stx.stx_mode),
	      "statx");
	check(access("/dev/mshv", R_OK | W_OK) == 0, "access R_OK|W_OK");
	int fd = open_device(O_RDWR | O_CLOEXEC);
	check(fstat(fd, &st) == 0 && S_ISCHR(st.st_mode), "fstat of the fd");
	check(fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 && S_ISCHR(st.st_mode),
	      "fstatat AT_EMPTY_PATH");
	char byte;
	if (over_seccomp()) {
		check(read(fd, &byte, 1) == 0, "read: end of file, as the installed socket");
	} else {
		check(read(fd, &byte, 1) < 0 && errno == EINVAL, "read: EINVAL, as the driver");
		check(write(fd, &byte, 1) < 0 && errno == EINVAL, "write: EINVAL, as the driver");
	}
	check(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == ENODEV,
	      "mmap: ENODEV, as the driver");
	struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLOUT};
	int polled = poll(&pfd, 1, 10000);
	check(polled == 1 && pfd.revents == (POLLIN | POLLOUT),
	      "poll: ready at once, readable and writable, as a file without poll: %d, 0x%x",
	      polled, pfd.revents);
	close(fd);
	/* Others' fds and paths are untouched. */
	int pipes[2];
	check(pipe(pipes) == 0 && write(pipes[1], "x", 1) == 1 && read(pipes[0], &byte, 1) == 1,
	      "a pipe still reads and writes");
	check(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1,
	      "/dev/null is itself");
}

/* ---- own-filter: a VMM that installs its own seccomp filter ---- */

/* A filter of the program's own: NR answers ERR (an errno), the rest is
 * allowed, as a VMM's allow list that names the device's calls. */
static int own_filter(unsigned nr, int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(*f), .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0 ? 0 : -errno;
}

static void crate(uint64_t want_features0, uint64_t want_caps);

static void own_filters(uint64_t want_features0, uint64_t want_caps)
{
	check(own_filter(SYS_getppid, EPERM) == 0, "install a filter of its own");
	check(syscall(SYS_getppid) < 0 && errno == EPERM, "its own filter is in force");
	crate(want_features0, want_caps);
	/* A filter that refuses ioctl outright: its ERRNO takes precedence
	 * over the run's user notification, as the kernel orders actions. */
	pid_t child = fork();
	if (child == 0) {
		int fd = open_device(O_RDWR);
		if (own_filter(SYS_ioctl, EACCES) != 0)
			_exit(2);
		uint32_t version = 1;
		_exit(call(fd, MSHV_REQUEST_VERSION, &version) == -EACCES ? 0 : 1);
	}
	int status;
	waitpid(child, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "an ioctl its own filter refuses: that filter's errno (child status 0x%x)", status);
}

static void hidden_kvm(void)
{
	struct stat st = {0};
	check(open("/dev/kvm", O_RDWR) < 0 && errno == ENOENT, "open /dev/kvm: ENOENT");
	check(stat("/dev/kvm", &st) < 0 && errno == ENOENT, "stat /dev/kvm: ENOENT");
	check(access("/dev/kvm", F_OK) < 0 && errno == ENOENT, "access /dev/kvm: ENOENT");
}

/* ---- pointers: what the driver's copies meet ---- */

static void *unmapped(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(p, 4096);
	return p;
}

static void pointers(void)
{
	int fd = open_device(O_RDWR);
	check(call(fd, MSHV_ROOT_HVCALL, unmapped()) == -EFAULT, "unreadable header: EFAULT");
	/* An unknown number is ENOTTY before any copy, as in the driver. */
	check(call(fd, _IOW(0xB8, 0x7F, uint64_t), unmapped()) == -ENOTTY,
	      "unknown ioctl with a bad pointer: ENOTTY");
	struct mshv_emu_hv_get_property_in in = {.property_code =
							 MSHV_EMU_HV_PROPERTY_PROCESSOR_FEATURES0};
	uint64_t value = 0;
	struct mshv_root_hvcall hdr = {.code = MSHV_EMU_HVCALL_GET_PARTITION_PROPERTY,
				       .in_sz = sizeof(in),
				       .out_sz = 8,
				       .in_ptr = (uintptr_t)unmapped(),
				       .out_ptr = (uintptr_t)&value};
	check(call(fd, MSHV_ROOT_HVCALL, &hdr) == -EFAULT && hdr.status == 0,
	      "unreadable in_ptr: EFAULT, header untouched");
	hdr.in_ptr = (uintptr_t)&in;
	hdr.out_ptr = (uintptr_t)unmapped();
	check(call(fd, MSHV_ROOT_HVCALL, &hdr) == -EFAULT, "unwritable out_ptr: EFAULT");
	check(hdr.status == MSHV_EMU_HV_STATUS_SUCCESS, "the header was written back first");
	hdr.status = 0;
	hdr.rsvd[0] = 1;
	hdr.in_ptr = (uintptr_t)unmapped();
	check(call(fd, MSHV_ROOT_HVCALL, &hdr) == -EINVAL,
	      "a refused header is EINVAL before in_ptr is read");
	close(fd);
}

/* The syscall PID is blocked in, from /proc: -1 if it is running or gone. */
static long blocked_in(pid_t pid)
{
	char path[64], text[64] = "";
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	bool got = fgets(text, sizeof(text), f) != NULL;
	fclose(f);
	return got && text[0] >= '0' && text[0] <= '9' ? strtol(text, NULL, 10) : -1;
}

/* A child held inside CHECK_EXTENSION (the policy hangs its first one) is
 * killed there; the device goes on serving everyone else. */
static void killed_mid_call(void)
{
	int ready[2];
	check(pipe(ready) == 0, "pipe");
	pid_t child = fork();
	if (child == 0) {
		int fd = open_device(O_RDWR);
		uint32_t cap = 1;
		request_version(fd, 1);
		if (write(ready[1], "x", 1) != 1) /* from here on, its only wait is the call */
			_exit(4);
		call(fd, MSHV_NEGOTIATED_CHECK_EXTENSION, &cap); /* held until killed */
		_exit(3);
	}
	close(ready[1]);
	char byte;
	check(read(ready[0], &byte, 1) == 1, "the child did not reach its call");
	close(ready[0]);
	/* Held: waiting for the device's reply, in recvmsg (x86-64: 47) for
	 * the preload library, in the ioctl itself (16) for seccomp.
	 * Seen there twice in a row, 10 ms apart: the preload library's first
	 * recvmsg can end when the device says the call is held, and it waits
	 * again; and what was seen is what is judged, never read a third time
	 * (between two reads the child may be between two waits). */
	long held_in = over_seccomp() ? 16 : 47;
	int seen = 0;
	for (int waited_ms = 0; seen < 2 && waited_ms < 10000; waited_ms += 10) {
		seen = blocked_in(child) == held_in ? seen + 1 : 0;
		if (seen < 2)
			usleep(10000);
	}
	check(seen == 2, "the child was not held inside its call within 10 s");
	kill(child, SIGKILL);
	int status;
	waitpid(child, &status, 0);
	check(WIFSIGNALED(status), "the child was killed");
	int fd = open_device(O_RDWR);
	uint32_t cap = 1;
	check(request_version(fd, 1) == 0, "REQUEST_VERSION after the kill");
	check(call(fd, MSHV_NEGOTIATED_CHECK_EXTENSION, &cap) >= 0,
	      "CHECK_EXTENSION after the kill");
	close(fd);
}

/* The device's process killed under us: an fd's calls answer ENODEV, as on
 * a removed driver, and a new open finds no node. */
static void device_dies(void)
{
	const char *pid_text = getenv("MSHV_EMU_RUN_DEVICE_PID");
	check(pid_text != NULL, "MSHV_EMU_RUN_DEVICE_PID is not set");
	if (!pid_text)
		return;
	int fd = open_device(O_RDWR);
	check(request_version(fd, 1) == 0, "REQUEST_VERSION before");
	check(kill((pid_t)atoi(pid_text), SIGKILL) == 0, "kill the device: %s", strerror(errno));
	/* Its sockets close as it dies; until then a call may still be answered. */
	uint32_t cap = 1;
	int r = 0;
	for (int waited_ms = 0; waited_ms < 10000; waited_ms += 10) {
		r = call(fd, MSHV_NEGOTIATED_CHECK_EXTENSION, &cap);
		if (r == -ENODEV)
			break;
		usleep(10000);
	}
	check(r == -ENODEV, "a call after the device died: %d (%s), want ENODEV", r, strerror(-r));
	check(open("/dev/mshv", O_RDWR) < 0 && errno == ENOENT, "open after: ENOENT");
	close(fd);
}

/* A reload reaches every fd's next call: poll until it shows. */
static void await_cap(uint32_t id, int want)
{
	int r = -1;
	for (int waited_ms = 0; waited_ms < 10000 && r != want; waited_ms += 10) {
		int fd = open_device(O_RDWR);
		uint32_t cap = id;
		if (request_version(fd, 1) == 0)
			r = call(fd, MSHV_NEGOTIATED_CHECK_EXTENSION, &cap);
		close(fd);
		if (r != want)
			usleep(10000);
	}
	check(r == want, "CHECK_EXTENSION(%u): %d, want %d within 10 s", id, r, want);
}

static void *one_call(void *arg)
{
	uint32_t version = 1;
	int fd = *(int *)arg;
	return (void *)(intptr_t)call(fd, MSHV_REQUEST_VERSION, &version);
}

static int count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	int n = 0;
	while (dir && readdir(dir))
		n++;
	if (dir)
		closedir(dir);
	return n;
}

static volatile sig_atomic_t handler_opens, handler_failures, handler_errno;

static void open_in_handler(int sig)
{
	int saved = errno;
	int fd = open("/dev/mshv", O_RDWR);
	if (fd < 0) {
		handler_failures++;
		handler_errno = errno;
	} else
		close(fd);
	handler_opens++;
	errno = saved;
}

static void on_alarm(int sig)
{
	static const char msg[] = "run-client: rough: a call hung\n";
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

/* What programs do that the library must survive: closing every fd (its
 * channel included), threads that call once and end, a signal handler that
 * opens the device mid-call, bad pointers to stat, other ioctls. */
static void rough(void)
{
	signal(SIGALRM, on_alarm);
	alarm(30);
	int fd = open_device(O_RDWR);
	check(request_version(fd, 2) == 0, "REQUEST_VERSION");
	closefrom(3); /* the device fd and the library's channel with it */
	int pair[2];
	check(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0, "socketpair");
	fd = open_device(O_RDWR); /* must not talk into the program's socket */
	check(request_version(fd, 2) == 0, "REQUEST_VERSION after closefrom");
	char byte = 'x';
	check(write(pair[0], &byte, 1) == 1 && read(pair[1], &byte, 1) == 1,
	      "the program's socket is its own");

	/* 300 threads that call once and end leave nothing behind. */
	const char *device_pid = getenv("MSHV_EMU_RUN_DEVICE_PID");
	int mine = count_fds(getpid());
	int device = device_pid ? count_fds((pid_t)atoi(device_pid)) : 0;
	for (int i = 0; i < 300; i++) {
		pthread_t thread;
		void *result;
		pthread_create(&thread, NULL, one_call, &fd);
		pthread_join(thread, &result);
		check((intptr_t)result == -EBADFD, "a thread's call: %d", (int)(intptr_t)result);
	}
	check(count_fds(getpid()) <= mine + 2, "fds after 300 threads: %d, before %d",
	      count_fds(getpid()), mine);
	if (device_pid)
		check(count_fds((pid_t)atoi(device_pid)) <= device + 4,
		      "the device's fds after 300 threads: %d, before %d",
		      count_fds((pid_t)atoi(device_pid)), device);

	/* A signal handler opening the device in the middle of calls. */
	struct sigaction sa = {.sa_handler = open_in_handler, .sa_flags = SA_RESTART};
	sigaction(SIGUSR1, &sa, NULL);
	pid_t self = getpid();
	pid_t pinger = fork();
	if (pinger == 0) {
		for (int i = 0; i < 300; i++) {
			kill(self, SIGUSR1);
			usleep(500);
		}
		_exit(0);
	}
	uint32_t cap = 1;
	int wrong = 0;
	for (int i = 0; i < 20000 && !wrong; i++)
		wrong = call(fd, MSHV_NEGOTIATED_CHECK_EXTENSION, &cap) != 1;
	waitpid(pinger, NULL, 0);
	check(!wrong, "a call mixed up with a signal handler's open");
	check(handler_opens > 0 && handler_failures == 0, "handler opens: %d, failed %d (%s)",
	      (int)handler_opens, (int)handler_failures, strerror(handler_errno));

	struct stat *bad = (struct stat *)unmapped();
	check(stat("/dev/mshv", bad) < 0 && errno == EFAULT, "stat into a bad pointer: EFAULT");
	int pending = 0;
	if (!over_seccomp())
		check(ioctl(fd, FIONREAD, &pending) < 0 && errno == ENOTTY,
		      "FIONREAD on the device: ENOTTY, as the driver");
	check(ioctl(fd, FIOCLEX) == 0, "FIOCLEX works on any fd");
	close(fd);
	alarm(0);
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	if (!strcmp(what, "crate") && argc == 4)
		crate(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
	else if (!strcmp(what, "fds"))
		fds(argv[0]);
	else if (!strcmp(what, "inherited") && argc == 4)
		inherited(atoi(argv[2]), atoi(argv[3]));
	else if (!strcmp(what, "threads") && argc == 3)
		threads(atoi(argv[2]) > 64 ? 64 : atoi(argv[2]));
	else if (!strcmp(what, "node") && argc == 3)
		node((unsigned)strtoul(argv[2], NULL, 8));
	else if (!strcmp(what, "raw") && argc == 4) {
		raw_calls = true;
		crate(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
	} else if (!strcmp(what, "own-filter") && argc == 4)
		own_filters(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
	else if (!strcmp(what, "hidden-kvm"))
		hidden_kvm();
	else if (!strcmp(what, "pointers"))
		pointers();
	else if (!strcmp(what, "await-cap") && argc == 4)
		await_cap((uint32_t)strtoul(argv[2], NULL, 0), atoi(argv[3]));
	else if (!strcmp(what, "rough"))
		rough();
	else if (!strcmp(what, "device-dies"))
		device_dies();
	else if (!strcmp(what, "killed-mid-call"))
		killed_mid_call();
	else if (!strcmp(what, "version") && argc == 3) {
		int fd = open_device(O_RDWR);
		int r = request_version(fd, (uint32_t)strtoul(argv[2], NULL, 0));
		check(r == 0, "REQUEST_VERSION(%s): %s", argv[2], strerror(-r));
	} else {
		fprintf(stderr, "run-client: unknown scenario `%s`\n", what);
		return 2;
	}
	return failures ? 1 : 0;
}
