/*
 * policy_values.c - a policy's scalars: numbers, errno names, booleans,
 * fixed answers and names, each checked against its range with an error
 * that says what was expected.
 */
#include <ctype.h>
#include <errno.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "errnames.h"
#include "policy.h"
#include "policy_load_impl.h"

/* ---- scalar conversions ---- */

/* Decimal or 0x-hex, optionally negative.  Leading zeros are decimal (YAML 1.2).
 * A negative zero (`-0`, `-0x0`) is not a number: a sign says it is below 0. */
bool parse_int(const char *text, int64_t *out)
{
	if (!text)
		return false;
	bool negative = *text == '-';
	const char *digits = text + negative;
	int base = 10;
	if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
		base = 16;
		digits += 2;
	}
	if (!(base == 16 ? isxdigit((unsigned char)*digits) : isdigit((unsigned char)*digits)))
		return false;
	char *end;
	errno = 0;
	unsigned long long magnitude = strtoull(digits, &end, base);
	if (*end || errno || magnitude > INT64_MAX || (negative && !magnitude))
		return false;
	*out = negative ? -(int64_t)magnitude : (int64_t)magnitude;
	return true;
}

/* A number in [MIN, MAX] at PATH, or an error naming WHAT it should be. */
bool get_number(struct loader *ld, const char *path, const char *text, int64_t min, int64_t max,
		const char *what, int64_t *out)
{
	int64_t number;
	if (!parse_int(text, &number)) {
		if (text && *text == '-' && parse_int(text + 1, &number) && !number)
			load_error(ld, path, "`%s` is a signed zero; write 0", text);
		else
			load_error(ld, path, "`%s` is not a number; expected %s", text ? text : "",
				   what);
		return false;
	}
	if (number < min || number > max) {
		load_error(ld, path, "%s is out of range; expected %s", text, what);
		return false;
	}
	*out = number;
	return true;
}

bool get_u64(struct loader *ld, const char *path, const char *text, const char *what, uint64_t *out)
{
	const char *digits = text ? text : "";
	int base = 10;
	if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
		base = 16;
		digits += 2;
	}
	char *end;
	errno = 0;
	unsigned long long value = strtoull(digits, &end, base);
	if (!(base == 16 ? isxdigit((unsigned char)*digits) : isdigit((unsigned char)*digits)) ||
	    *end || errno) {
		load_error(ld, path, "`%s` is not %s", text ? text : "", what);
		return false;
	}
	*out = value;
	return true;
}

bool get_errno(struct loader *ld, const char *path, const char *text, int *out)
{
	*out = errname_parse(text);
	if (!*out) {
		load_error(ld, path,
			   "unknown errno `%s`; use a name such as EPERM or ENOTSUPP, or a number "
			   "from 1 to 4095",
			   text ? text : "");
		return false;
	}
	return true;
}

/* `{value: N}` or `{errno: NAME}` at PATH: exactly one of them. */
bool get_answer(struct loader *ld, const char *path, const char *value, const char *errno_name,
		policy_answer_t *out)
{
	char sub[256];
	if (value && errno_name) {
		load_error(ld, path, "give either `value` or `errno`, not both");
		return false;
	}
	if (!value && !errno_name) {
		load_error(ld, path, "needs an answer: `value: N` or `errno: NAME`");
		return false;
	}
	if (value) {
		int64_t v;
		snprintf(sub, sizeof(sub), "%s.value", path);
		if (!get_number(ld, sub, value, 0, INT32_MAX, "0 to 2147483647", &v))
			return false;
		*out = (policy_answer_t)v;
		return true;
	}
	int err;
	snprintf(sub, sizeof(sub), "%s.errno", path);
	if (!get_errno(ld, sub, errno_name, &err))
		return false;
	*out = -err;
	return true;
}

bool valid_name(const char *name, const char *extra)
{
	if (!*name || strlen(name) >= POLICY_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || (extra && strchr(extra, *p))))
			return false;
	return true;
}

bool policy_device_name_ok(const char *name)
{
	return valid_name(name, "-.") && strcmp(name, ".") && strcmp(name, "..");
}

bool get_bool(struct loader *ld, const char *path, const char *text, bool *out)
{
	if (!strcmp(text, "true") || !strcmp(text, "yes") || !strcmp(text, "on")) {
		*out = true;
		return true;
	}
	if (!strcmp(text, "false") || !strcmp(text, "no") || !strcmp(text, "off")) {
		*out = false;
		return true;
	}
	load_error(ld, path, "`%s` is not true or false", text);
	return false;
}
