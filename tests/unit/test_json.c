/*
 * test_json.c - the JSON strings the daemon writes (core/json.c): escaped,
 * and valid UTF-8 whatever bytes they are made from.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "json.h"

static char rendered[4096];

static const char *render(const char *text, size_t max)
{
	FILE *out = fmemopen(rendered, sizeof(rendered), "w");
	cr_assert_not_null(out);
	json_string(out, text, max);
	fclose(out);
	return rendered;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, surrogates or code points
 * past U+10FFFF; written out here, not shared with json.c. */
static bool utf8_strict(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint32_t c = s[i];
		size_t n = c < 0x80	    ? 1
			   : (c >> 5) == 6  ? 2
			   : (c >> 4) == 14 ? 3
			   : (c >> 3) == 30 ? 4
					    : 0;
		if (!n || i + n > len)
			return false;
		if (n > 1)
			c &= 0x7f >> n;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			c = c << 6 | (s[i + k] & 0x3f);
		}
		static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
		if (c < least[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

Test(json, null_and_escapes)
{
	cr_expect_str_eq(render(NULL, SIZE_MAX), "null");
	cr_expect_str_eq(render("", SIZE_MAX), "\"\"");
	cr_expect_str_eq(render("a\"b\\c/d", SIZE_MAX), "\"a\\\"b\\\\c/d\"");
	cr_expect_str_eq(render("\n\t\x01\x1f \x7f", SIZE_MAX),
			 "\"\\u000a\\u0009\\u0001\\u001f \x7f\"");
}

Test(json, well_formed_utf8_is_kept)
{
	const char *text =
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf";
	char want[128];
	snprintf(want, sizeof(want), "\"%s\"", text);
	cr_expect_str_eq(render(text, SIZE_MAX), want);
}

/* Each byte that is not part of well-formed UTF-8 becomes U+FFFD. */
Test(json, other_bytes_become_the_replacement_character)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"p\xff.yaml", "\"p\\ufffd.yaml\""},
		{"\xc3", "\"\\ufffd\""},				  /* cut short at the end */
		{"\xc3(", "\"\\ufffd(\""},				  /* not a continuation */
		{"\xe2\x82", "\"\\ufffd\\ufffd\""},			  /* cut short */
		{"\xc0\xaf", "\"\\ufffd\\ufffd\""},			  /* overlong '/' */
		{"\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\""},		  /* overlong */
		{"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},		  /* a surrogate */
		{"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* past U+10FFFF */
		{"\x80\xbf", "\"\\ufffd\\ufffd\""},			  /* lone continuations */
		{"\xf8\x88\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_str_eq(render(cases[i].in, SIZE_MAX), cases[i].out, "case %zu", i);
	/* MAX cuts a character: what is left of it is not UTF-8. */
	cr_expect_str_eq(render("a\xc3\xa9", 2), "\"a\\ufffd\"");
}

/* Whatever the bytes, the string is valid UTF-8 with no control character. */
Test(json, any_bytes_give_valid_utf8)
{
	unsigned seed = 12345;
	for (int round = 0; round < 20000; round++) {
		unsigned char text[24];
		size_t len = (size_t)(rand_r(&seed) % (int)(sizeof(text) - 1));
		for (size_t i = 0; i < len; i++) {
			text[i] = (unsigned char)(rand_r(&seed) % 255 + 1);
			/* Often a lead or continuation byte: the hard cases. */
			if (rand_r(&seed) % 2)
				text[i] |= 0x80;
		}
		text[len] = '\0';
		const char *json = render((const char *)text, SIZE_MAX);
		size_t n = strlen(json);
		cr_assert(utf8_strict((const unsigned char *)json, n), "round %d: %s", round, json);
		for (size_t i = 0; i < n; i++)
			cr_assert_geq((unsigned char)json[i], 0x20, "round %d: a control byte",
				      round);
	}
}
