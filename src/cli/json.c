/* The JSON writer of --json: RFC 8259 text, escaped, one document per command. */
#include <assert.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "json.h"

void cli_json_begin(cli_json_t *j, FILE *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
}

int cli_json_end(cli_json_t *j)
{
	fputc('\n', j->out);
	return fflush(j->out) == 0 && !ferror(j->out) ? RS_EOK : CLI_EINTERNAL;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t c;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	c = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	bool overlong = (n == 3 && c < 0x800) || (n == 4 && c < 0x10000);
	if (overlong || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

static void put_string(FILE *f, const char *text)
{
	fputc('"', f);
	for (const unsigned char *s = (const unsigned char *)text; *s != '\0'; s++) {
		size_t n;
		switch (*s) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				fprintf(f, "\\u%04x", *s);
			} else if (*s < 0x80) {
				fputc(*s, f);
			} else if ((n = utf8_len(s)) > 0) {
				fwrite(s, 1, n, f);
				s += n - 1;
			} else {
				/* Not UTF-8 (a file name's bytes): the octet as the code point of its value. */
				fprintf(f, "\\u%04x", *s);
			}
		}
	}
	fputc('"', f);
}

/* Separator, indentation and key before a value. */
static void start_value(cli_json_t *j, const char *key)
{
	if (j->depth > 0) {
		fputs(j->items[j->depth] ? ",\n" : "\n", j->out);
		j->items[j->depth] = true;
		fprintf(j->out, "%*s", 2 * j->depth, "");
	}
	if (key != NULL) {
		put_string(j->out, key);
		fputs(": ", j->out);
	}
}

static void open_container(cli_json_t *j, const char *key, char open, char close)
{
	/* Deeper nesting is a programming error: no command's document is that deep. */
	assert(j->depth + 1 < CLI_JSON_DEPTH);
	start_value(j, key);
	fputc(open, j->out);
	j->depth++;
	j->items[j->depth] = false;
	j->close[j->depth] = close;
}

void cli_json_object(cli_json_t *j, const char *key)
{
	open_container(j, key, '{', '}');
}

void cli_json_array(cli_json_t *j, const char *key)
{
	open_container(j, key, '[', ']');
}

void cli_json_close(cli_json_t *j)
{
	char close = j->close[j->depth];
	if (j->items[j->depth--])
		fprintf(j->out, "\n%*s", 2 * j->depth, "");
	fputc(close, j->out);
}

void cli_json_str(cli_json_t *j, const char *key, const char *value)
{
	start_value(j, key);
	if (value != NULL)
		put_string(j->out, value);
	else
		fputs("null", j->out);
}

void cli_json_str_or_null(cli_json_t *j, const char *key, const char *value)
{
	cli_json_str(j, key, value != NULL && value[0] != '\0' ? value : NULL);
}

void cli_json_int(cli_json_t *j, const char *key, int64_t value)
{
	start_value(j, key);
	fprintf(j->out, "%lld", (long long)value);
}

void cli_json_bool(cli_json_t *j, const char *key, bool value)
{
	start_value(j, key);
	fputs(value ? "true" : "false", j->out);
}

void cli_json_null(cli_json_t *j, const char *key)
{
	start_value(j, key);
	fputs("null", j->out);
}

void cli_iso_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, 32, "%lld", (long long)t);
		return;
	}
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cli_json_time(cli_json_t *j, const char *key, int64_t t)
{
	char name[96], text[32];
	snprintf(name, sizeof(name), "%s_text", key);
	if (t == 0 || t == INT64_MAX) {
		cli_json_null(j, key);
		cli_json_null(j, name);
		return;
	}
	cli_iso_time(t, text);
	cli_json_int(j, key, t);
	cli_json_str(j, name, text);
}
