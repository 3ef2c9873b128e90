/*
 * mshvctl - control a running mshv-emu over its Unix socket.
 *
 * It sends its arguments, one per line and an empty line, and prints the
 * daemon's answer: the daemon renders tables and JSON (control.c), so this
 * client knows no command.  Exit status: 0 when the daemon said ok, 1 when it
 * said error or could not be reached, 2 for a usage error.
 *
 * The FILE of `reload FILE` and `trace start FILE` is sent as an absolute
 * path: the daemon runs in a directory of its own, not the caller's.
 *
 * It trusts only a server that runs as root or as its own user
 * (SO_PEERCRED of the connected socket), and tells it nothing otherwise:
 * another user who replaced the socket must not be the one that answers.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/mshv-emu.sock"

static const char usage_text[] =
	"usage: mshvctl [--socket PATH] [--json] COMMAND [ARGS]\n"
	"       mshvctl --help | --version\n"
	"commands:\n"
	"  status                     front, node, policy, generation, sessions, uptime\n"
	"  stats                      calls per ioctl, refusals per errno, firings per fault rule\n"
	"  reload [FILE]              reload the policy (or switch to FILE)\n"
	"  fault enable|disable RULE  switch a fault rule on or off\n"
	"  inject RULE                arm a fault rule given as YAML (once, unless it says when)\n"
	"  release                    let every hung call complete\n"
	"  trace start FILE | stop    start or stop the JSON Lines transcript\n"
	"The socket is mshv-emu's --control (default " DEFAULT_SOCKET ").  A relative FILE\n"
	"is sent as an absolute path, from the current directory.  mshvctl talks only\n"
	"to a server that runs as root or as you, and says so otherwise.\n";

/* FILE from the current directory, without a leading "./"; malloc'd, or
 * NULL with errno set. */
static char *absolute(const char *file)
{
	if (file[0] == '/')
		return strdup(file);
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	while (file[0] == '.' && file[1] == '/')
		for (file += 2; *file == '/'; file++)
			;
	char *path;
	if (asprintf(&path, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", file) < 0)
		path = NULL;
	free(cwd);
	return path;
}

/* The index of the FILE argument of ARGV's command (reload FILE, trace
 * start FILE), or 0 when it takes none. */
static int file_argument(int argc, char **argv, int first)
{
	int cmd = first < argc && !strcmp(argv[first], "--json") ? first + 1 : first;
	int count = argc - cmd;
	if (count == 2 && !strcmp(argv[cmd], "reload"))
		return cmd + 1;
	if (count == 3 && !strcmp(argv[cmd], "trace") && !strcmp(argv[cmd + 1], "start"))
		return cmd + 2;
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = DEFAULT_SOCKET;
	int first = 1;
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--version")) {
		printf("mshvctl %s\n", MSHV_EMU_VERSION);
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "--socket")) {
		path = argv[2];
		first = 3;
	}
	if (first >= argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	for (int i = first; i < argc; i++) {
		if (strchr(argv[i], '\n') || !*argv[i]) {
			fprintf(stderr, "mshvctl: argument %d is empty or holds a newline\n", i);
			return 2;
		}
	}
	int file = file_argument(argc, argv, first);
	if (file && !(argv[file] = absolute(argv[file]))) {
		fprintf(stderr,
			"mshvctl: cannot tell the current directory (%s); give FILE as an "
			"absolute path\n",
			strerror(errno));
		return 1;
	}
	/* A daemon may answer (and close) before reading everything: keep going
	 * and read its answer rather than die on SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "mshvctl: %s: path too long for a Unix socket\n", path);
		return 2;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		fprintf(stderr,
			"mshvctl: connect %s: %s (is mshv-emu running with --control %s?)\n", path,
			strerror(errno), path);
		return 1;
	}
	/* Who listens: root, or the user we are.  Anyone else took the socket's
	 * place (its directory let them): neither send nor believe anything. */
	struct ucred server;
	socklen_t len = sizeof(server);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &server, &len) != 0) {
		fprintf(stderr, "mshvctl: %s: cannot tell who is listening: %s\n", path,
			strerror(errno));
		return 1;
	}
	if (server.uid != 0 && server.uid != geteuid()) {
		fprintf(stderr,
			"mshvctl: %s: its server runs as uid %u (pid %d), neither root nor you "
			"(uid %u): not trusting it; someone may have replaced the socket, so "
			"check its directory, then restart mshv-emu\n",
			path, (unsigned)server.uid, (int)server.pid, (unsigned)geteuid());
		return 1;
	}
	FILE *conn = fdopen(fd, "r+");
	if (!conn)
		return 1;
	for (int i = first; i < argc; i++)
		fprintf(conn, "%s\n", argv[i]);
	fputc('\n', conn);
	fflush(conn);
	shutdown(fd, SHUT_WR);

	char status[16] = "";
	if (!fgets(status, sizeof(status), conn)) {
		fprintf(stderr, "mshvctl: %s closed without answering\n", path);
		return 1;
	}
	bool ok = !strcmp(status, "ok\n");
	FILE *out = ok ? stdout : stderr;
	char buf[4096];
	size_t got;
	if (!ok)
		fputs("mshvctl: ", stderr);
	while ((got = fread(buf, 1, sizeof(buf), conn)) > 0)
		fwrite(buf, 1, got, out);
	fclose(conn);
	return ok ? 0 : 1;
}
