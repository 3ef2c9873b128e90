/*
 * mshvctl - control a running mshv-emu over its Unix socket.
 *
 * It sends its arguments, one per line and an empty line, and prints the
 * daemon's answer: the daemon renders tables and JSON (control.c).  This
 * client knows the commands' syntax only, to refuse a malformed one before
 * it connects.  Options go anywhere (cli.h: whole names only, --opt=value,
 * `--` ends them).  Exit status: 0 when the daemon said ok, 1 when it said
 * error or could not be reached, 2 for a usage error.  With --json, stdout
 * gets one JSON object whatever happens: the daemon's, or {"error": ...}.
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
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"

#define DEFAULT_SOCKET	"/run/mshv-emu.sock"
#define DEFAULT_TIMEOUT 30 /* seconds */

static const char usage_text[] =
	"usage: mshvctl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS]\n"
	"       mshvctl --help | --version\n"
	"commands:\n"
	"  status                     front, node, policy, generation, sessions, uptime\n"
	"  stats                      calls per ioctl, refusals per errno, firings per fault rule\n"
	"  reload [FILE]              reload the policy (or switch to FILE)\n"
	"  fault enable|disable RULE  switch a fault rule on or off\n"
	"  inject RULE                arm a fault rule given as YAML (once, unless it says when)\n"
	"  release                    let every hung call complete\n"
	"  trace start FILE | stop    start or stop the JSON Lines transcript\n";

static const char help_text[] =
	"options (anywhere; --opt=value or --opt value; -- ends them):\n"
	"  --socket PATH              mshv-emu's --control (default " DEFAULT_SOCKET ")\n"
	"  --json                     one JSON object on stdout, {\"error\": ...} on failure\n"
	"  --timeout SECONDS          give up on a daemon that has not answered in time\n"
	"                             (default 30)\n"
	"  -h, --help                 this help\n"
	"  --version                  the version\n"
	"A relative FILE is sent as an absolute path, from the current directory.\n"
	"mshvctl talks only to a server that runs as root or as you, and says so\n"
	"otherwise.  Exit status: 0 ok, 1 error (the daemon's, or none answered),\n"
	"2 usage error (nothing is sent).\n";

/* The commands, and the arguments each takes. */
static const struct command {
	const char *name;
	int min, max;	    /* arguments after the name */
	const char *syntax; /* for a usage error */
} commands[] = {
	{"status", 0, 0, "status"},
	{"stats", 0, 0, "stats"},
	{"reload", 0, 1, "reload [FILE]"},
	{"fault", 2, 2, "fault enable|disable RULE"},
	{"inject", 1, 1, "inject RULE"},
	{"release", 0, 0, "release"},
	{"trace", 1, 2, "trace start FILE | trace stop"},
};

/* 0 when ARGS (COUNT of them, the command first) is a command mshv-emu
 * takes, or 2 having said why. */
static int command_check(struct cli *cli, char **args, int count)
{
	if (count == 0)
		return cli_usage_error(cli, "no COMMAND given");
	const struct command *c = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (!strcmp(args[0], commands[i].name))
			c = &commands[i];
	if (!c)
		return cli_usage_error(cli, "unknown command `%s`; the commands are below",
				       args[0]);
	int n = count - 1;
	bool ok = n >= c->min && n <= c->max;
	if (ok && !strcmp(c->name, "fault"))
		ok = !strcmp(args[1], "enable") || !strcmp(args[1], "disable");
	if (ok && !strcmp(c->name, "trace"))
		ok = (n == 2 && !strcmp(args[1], "start")) || (n == 1 && !strcmp(args[1], "stop"));
	if (!ok && n > c->max)
		return cli_usage_error(cli, "`%s`: unexpected argument `%s` (expected `%s`)",
				       c->name, args[c->max + 1], c->syntax);
	if (!ok)
		return cli_usage_error(cli, "`%s`: expected `%s`", c->name, c->syntax);
	for (int i = 0; i < count; i++)
		if (strchr(args[i], '\n') || !*args[i])
			return cli_usage_error(cli, "%s: argument %d is empty or holds a newline",
					       c->name, i);
	return 0;
}

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

/* The index in ARGS of the FILE of reload FILE and trace start FILE, or -1. */
static int file_argument(char **args, int count)
{
	if (count == 2 && !strcmp(args[0], "reload"))
		return 1;
	if (count == 3 && !strcmp(args[0], "trace"))
		return 2;
	return -1;
}

/* Connected to PATH and trusted, or -1 having said why. */
static int connect_trusted(struct cli *cli, const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		cli_fail(cli, "connect %s: %s (is mshv-emu running with --control %s?)", path,
			 strerror(errno), path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* Who listens: root, or the user we are.  Anyone else took the socket's
	 * place (its directory let them): neither send nor believe anything. */
	struct ucred server;
	socklen_t len = sizeof(server);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &server, &len) != 0) {
		cli_fail(cli, "%s: cannot tell who is listening: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (server.uid != 0 && server.uid != geteuid()) {
		cli_fail(cli,
			 "%s: its server runs as uid %u (pid %d), neither root nor you "
			 "(uid %u): not trusting it; someone may have replaced the socket, so "
			 "check its directory, then restart mshv-emu",
			 path, (unsigned)server.uid, (int)server.pid, (unsigned)geteuid());
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},  {"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},	   {NULL, 0, NULL, 0},
	};
	struct cli cli;
	cli_init(&cli, "mshvctl", usage_text, argc, argv);
	const char *path = DEFAULT_SOCKET;
	long timeout = DEFAULT_TIMEOUT;
	char *end;
	int opt;
	while ((opt = cli_getopt(&cli, argc, argv, "h", longopts)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			break; /* cli_init saw it */
		case 't':
			errno = 0;
			timeout = strtol(optarg, &end, 10);
			if (errno || *end || !*optarg || timeout < 1 || timeout > 86400)
				return cli_usage_error(&cli,
						       "--timeout `%s`: expected whole seconds, 1 "
						       "to 86400",
						       optarg);
			break;
		case 'h':
			printf("%s%s", usage_text, help_text);
			return 0;
		case 'V':
			return cli_version(&cli);
		default:
			return cli_usage_error(&cli, NULL);
		}
	}
	char **args = argv + optind;
	int count = argc - optind;
	int status = command_check(&cli, args, count);
	if (status)
		return status;
	struct sockaddr_un addr;
	if (!*path || strlen(path) >= sizeof(addr.sun_path))
		return cli_usage_error(&cli, "--socket `%s`: %s", path,
				       *path ? "too long for a Unix socket (at most 107 bytes)"
					     : "empty");
	int file = file_argument(args, count);
	if (file >= 0 && !(args[file] = absolute(args[file])))
		return cli_fail(&cli,
				"cannot tell the current directory (%s); give FILE as an "
				"absolute path",
				strerror(errno));
	/* A daemon may answer (and close) before reading everything: keep going
	 * and read its answer rather than die on SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	int fd = connect_trusted(&cli, path);
	if (fd < 0)
		return 1;
	/* A daemon that stopped answering (wedged, or not mshv-emu) must not
	 * hang a script, nor a service manager's ExecReload. */
	struct timeval limit = {.tv_sec = timeout};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
	FILE *conn = fdopen(fd, "r+");
	if (!conn) {
		close(fd);
		return cli_fail(&cli, "%s: %s", path, strerror(errno));
	}
	if (cli.json)
		fputs("--json\n", conn);
	for (int i = 0; i < count; i++)
		fprintf(conn, "%s\n", args[i]);
	fputc('\n', conn);
	fflush(conn);
	shutdown(fd, SHUT_WR);

	char line[16] = "";
	errno = 0;
	if (!fgets(line, sizeof(line), conn)) {
		bool late = errno == EAGAIN || errno == EWOULDBLOCK;
		fclose(conn);
		if (late)
			return cli_fail(&cli,
					"%s: no answer within %ld s; see mshv-emu's log (is it "
					"stuck?), or give it longer with --timeout",
					path, timeout);
		return cli_fail(&cli, "%s closed without answering; see mshv-emu's log", path);
	}
	bool ok = !strcmp(line, "ok\n");
	char *reply = NULL;
	size_t size = 0;
	FILE *text = open_memstream(&reply, &size);
	char buf[4096];
	size_t got;
	while (text && (got = fread(buf, 1, sizeof(buf), conn)) > 0)
		fwrite(buf, 1, got, text);
	/* A refusal may be followed by a reset (the daemon closed with the
	 * request unread): what arrived is the answer.  A stall is not. */
	bool stalled = ferror(conn) && (errno == EAGAIN || errno == EWOULDBLOCK);
	fclose(conn);
	if (stalled) {
		if (text)
			fclose(text);
		free(reply);
		return cli_fail(
			&cli,
			"%s: the answer stopped coming for %ld s; see mshv-emu's log (is it "
			"stuck?), or give it longer with --timeout",
			path, timeout);
	}
	if (!text)
		return cli_fail(&cli, "out of memory");
	fclose(text);
	if (ok) {
		fwrite(reply, 1, size, stdout);
	} else if (cli.json && reply[0] == '{') {
		fwrite(reply, 1, size, stdout); /* the daemon's {"error": ...} */
	} else {
		/* Text: the daemon's, or a refusal before it read the request. */
		while (size && reply[size - 1] == '\n')
			reply[--size] = '\0';
		cli_fail(&cli, "%s", reply);
	}
	free(reply);
	if (fflush(stdout) == EOF)
		return 1;
	return ok ? 0 : 1;
}
