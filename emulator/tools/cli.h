/*
 * cli.h - the command line the tools share (mshvctl, mshv-probe,
 * mshv-emu-run): getopt_long with exact long option names only, and the
 * exits a script can rely on.
 *
 *   - A long option is taken only by its whole name: getopt_long would take
 *     any unique prefix (`--version` for `--versions`), which turns a typo or
 *     a later option into another one.  `--opt=value` and `--opt value` both
 *     work; `--` ends the options.
 *   - A usage error exits 2, says what is wrong and shows the usage on
 *     stderr, before anything else is done.
 *   - With --json anywhere before `--`, every error is also one JSON object
 *     on stdout, {"error": "..."}, so a script that reads stdout always gets
 *     one object.
 */
#ifndef MSHV_EMU_CLI_H
#define MSHV_EMU_CLI_H

#include <getopt.h>
#include <stdbool.h>

struct cli {
	const char *prog;  /* "mshvctl" */
	const char *usage; /* the short usage, printed after a usage error */
	bool json;	   /* --json: errors as {"error": ...} on stdout too */
};

/* cli_init - CLI for PROG with USAGE; notes whether --json is among ARGV's
 * options (before `--`), so that even an error found before it is parsed is
 * reported as JSON. */
void cli_init(struct cli *cli, const char *prog, const char *usage, int argc, char **argv);

/*
 * cli_getopt - getopt_long(ARGC, ARGV, SHORTOPTS, LONGOPTS), but a long
 * option given by a prefix of its name, an unknown option, a missing
 * argument or an argument to an option that takes none is a usage error:
 * it is said on stderr (without the usage) and '?' is returned.  SHORTOPTS
 * need not start with ':'; a leading '+' (stop at the first non-option) is
 * kept.  opterr is set to 0.
 */
int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);

/* cli_usage_error - say "PROG: MESSAGE" and the usage on stderr, and the
 * message as {"error": ...} on stdout under --json; returns 2, the exit
 * status of a usage error.  A NULL FMT says nothing more than the usage
 * (cli_getopt said what was wrong already). */
__attribute__((format(printf, 2, 3))) int cli_usage_error(struct cli *cli, const char *fmt, ...);

/* cli_fail - say "PROG: MESSAGE" on stderr, and the message as
 * {"error": ...} on stdout under --json; returns 1, the exit status of a
 * failure. */
__attribute__((format(printf, 2, 3))) int cli_fail(struct cli *cli, const char *fmt, ...);

/* cli_json_error - {"error": MESSAGE} and a newline on stdout. */
void cli_json_error(const char *message);

/* cli_version - "PROG VERSION" on stdout; returns 0. */
int cli_version(const struct cli *cli);

#endif
