/*
 * cli.c - the command line the tools share (see cli.h).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"

#ifndef MSHV_EMU_VERSION
#error "MSHV_EMU_VERSION: the build defines it (CMakeLists.txt)"
#endif

void cli_init(struct cli *cli, const char *prog, const char *usage, int argc, char **argv)
{
	*cli = (struct cli){.prog = prog, .usage = usage};
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--json"))
			cli->json = true;
}

void cli_json_error(const char *message)
{
	fputs("{\"error\":", stdout);
	json_string(stdout, message, SIZE_MAX);
	fputs("}\n", stdout);
	fflush(stdout);
}

__attribute__((format(printf, 2, 0))) static void say(struct cli *cli, const char *fmt, va_list ap)
{
	char *message = NULL;
	if (vasprintf(&message, fmt, ap) < 0)
		message = NULL;
	const char *text = message ? message : "out of memory";
	fprintf(stderr, "%s: %s\n", cli->prog, text);
	if (cli->json)
		cli_json_error(text);
	free(message);
}

int cli_usage_error(struct cli *cli, const char *fmt, ...)
{
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		say(cli, fmt, ap);
		va_end(ap);
	}
	fputs(cli->usage, stderr);
	return 2;
}

int cli_fail(struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(cli, fmt, ap);
	va_end(ap);
	return 1;
}

int cli_version(const struct cli *cli)
{
	printf("%s %s\n", cli->prog, MSHV_EMU_VERSION);
	return 0;
}

__attribute__((format(printf, 2, 3))) static void usage_say(struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(cli, fmt, ap);
	va_end(ap);
}

/* The long option named NAME (LEN bytes, not NUL-terminated), or NULL. */
static const struct option *long_named(const struct option *longopts, const char *name, size_t len)
{
	for (const struct option *o = longopts; o->name; o++)
		if (strlen(o->name) == len && !strncmp(o->name, name, len))
			return o;
	return NULL;
}

int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	/* ':' first (after any '+'): a missing argument returns ':', not '?'. */
	char opts[64];
	bool stop = shortopts[0] == '+';
	snprintf(opts, sizeof(opts), "%s:%s", stop ? "+" : "", shortopts + stop);
	opterr = 0;
	int index = -1;
	int opt = getopt_long(argc, argv, opts, longopts, &index);
	if (opt == -1)
		return -1;
	/* What was typed: the option's own element, before a separate
	 * argument if it took one (getopt_long has already stepped past both,
	 * and permutes only before it scans the next). */
	const char *typed = argv[optind - 1];
	if (index >= 0 && longopts[index].has_arg == required_argument && optarg &&
	    optarg == argv[optind - 1] && optind >= 2)
		typed = argv[optind - 2];
	if (opt == ':') {
		usage_say(cli, "%s needs a value (%s VALUE or %s=VALUE)", typed, typed, typed);
		return '?';
	}
	if (opt == '?') {
		const char *eq = strchr(typed, '=');
		const struct option *o = NULL;
		if (!strncmp(typed, "--", 2))
			o = long_named(longopts, typed + 2,
				       eq ? (size_t)(eq - typed - 2) : strlen(typed + 2));
		if (o && eq && o->has_arg == no_argument)
			usage_say(cli, "--%s takes no value: drop `%s`", o->name, eq);
		else if (optopt && strncmp(typed, "--", 2))
			usage_say(cli, "unknown option `-%c`", optopt);
		else
			usage_say(cli, "unknown option `%s`; `%s --help` lists the options", typed,
				  cli->prog);
		return '?';
	}
	if (index >= 0) {
		/* getopt_long took a unique prefix: only the whole name is. */
		const char *name = typed + 2;
		size_t len = strcspn(name, "=");
		if (strncmp(typed, "--", 2) || len != strlen(longopts[index].name)) {
			usage_say(cli, "unknown option `%.*s`; did you mean `--%s`?",
				  (int)(len + 2), typed, longopts[index].name);
			return '?';
		}
	}
	return opt;
}
