/* Presentation form of names, types and RDATA, through libknot's printers. */
#include <stdbool.h>
#include <string.h>

#include <libknot/libknot.h>

#include "regsign/dns.h"

int rs_dname_from_str(const char *text, uint8_t out[RS_NAME_MAX])
{
	size_t len = strlen(text);
	char abs[1024];
	if (len == 0 || len + 2 > sizeof(abs))
		return RS_ESYNTAX;
	memcpy(abs, text, len + 1);
	if (text[len - 1] != '.' || (len >= 2 && text[len - 2] == '\\')) {
		abs[len] = '.';
		abs[len + 1] = '\0';
	}
	if (strcmp(text, ".") == 0)
		strcpy(abs, ".");
	if (knot_dname_from_str(out, abs, RS_NAME_MAX) == NULL)
		return RS_ESYNTAX;
	rs_dname_lower(out);
	return RS_EOK;
}

int rs_dname_to_str(const uint8_t *wire, char *out, size_t max)
{
	if (knot_dname_to_str(out, wire, max) == NULL)
		return RS_ELIMIT;
	return (int)strlen(out);
}

/* The octets BIND writes as themselves in file names; isalnum() would follow the locale. */
static bool filename_plain(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

int rs_dname_to_filename(const uint8_t *wire, bool final_dot, char *out, size_t max)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0, wlen = rs_dname_len(wire, RS_NAME_MAX);
	if (wlen == 0 || max == 0)
		return wlen == 0 ? RS_ESYNTAX : RS_ELIMIT;
	if (wire[0] == 0) {
		if (max < 2)
			return RS_ELIMIT;
		memcpy(out, ".", 2);
		return 1;
	}
	for (const uint8_t *p = wire; *p != 0; p += 1 + *p) {
		for (unsigned i = 1; i <= *p; i++) {
			uint8_t c = p[i];
			if (n + 4 > max)
				return RS_ELIMIT;
			if (filename_plain(c)) {
				out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
			} else {
				out[n++] = '%';
				out[n++] = hex[c >> 4];
				out[n++] = hex[c & 15];
			}
		}
		if (n + 2 > max)
			return RS_ELIMIT;
		out[n++] = '.';
	}
	if (!final_dot)
		n--;
	out[n] = '\0';
	return (int)n;
}

int rs_zone_file_stem(const uint8_t *wire, char *out, size_t max)
{
	if (wire[0] == 0) {
		if (max < 5)
			return RS_ELIMIT;
		memcpy(out, "root", 5);
		return 4;
	}
	int n = rs_dname_to_filename(wire, false, out, max);
	if (n == 4 && memcmp(out, "root", 4) == 0) {
		if (max < 7)
			return RS_ELIMIT;
		memcpy(out, "%72oot", 7);
		n = 6;
	}
	return n;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int rs_dname_from_filename(const char *text, size_t len, uint8_t out[RS_NAME_MAX])
{
	uint8_t wire[RS_NAME_MAX];
	if (len == 1 && text[0] == '.') {
		out[0] = 0;
		return RS_EOK;
	}
	if (len > 0 && text[len - 1] == '.')
		len--; /* the final dot is optional, as in BIND's omit_final_dot */
	if (len == 0)
		return RS_ESYNTAX;
	size_t w = 0, label = 0;
	wire[0] = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || text[i] == '.') {
			if (wire[label] == 0)
				return RS_ESYNTAX; /* an empty label: ".." or a leading dot */
			label = ++w;
			if (w >= RS_NAME_MAX)
				return RS_ESYNTAX;
			wire[w] = 0;
			continue;
		}
		int c = (unsigned char)text[i];
		if (c == '%') {
			int hi = i + 2 < len ? hex_value(text[i + 1]) : -1, lo = hi >= 0 ? hex_value(text[i + 2]) : -1;
			if (lo < 0)
				return RS_ESYNTAX;
			c = hi << 4 | lo;
			i += 2;
		} else if (!filename_plain((uint8_t)c)) {
			return RS_ESYNTAX; /* BIND escapes everything else: not one of its names */
		}
		if (wire[label] == 63 || w + 2 >= RS_NAME_MAX)
			return RS_ESYNTAX;
		wire[label]++;
		wire[++w] = (uint8_t)c;
	}
	memcpy(out, wire, w + 1);
	rs_dname_lower(out);
	return RS_EOK;
}

int rs_dname_str_to_filename(const char *text, bool final_dot, char *out, size_t max)
{
	uint8_t wire[RS_NAME_MAX];
	int ret = rs_dname_from_str(text, wire);
	return ret != RS_EOK ? ret : rs_dname_to_filename(wire, final_dot, out, max);
}

int rs_type_to_str(uint16_t type, char *out, size_t max)
{
	int n = knot_rrtype_to_string(type, out, max);
	return n < 0 ? RS_ELIMIT : n;
}

int rs_type_from_str(const char *text, uint16_t *out)
{
	return knot_rrtype_from_string(text, out) == 0 ? RS_EOK : RS_ESYNTAX;
}

int rs_rdata_to_str(uint16_t type, const uint8_t *rdata, size_t len, char *out, size_t max)
{
	/* libknot prints from an rdataset: wrap the single RDATA in one. */
	uint8_t buf[sizeof(uint16_t) + 65536];
	knot_rdata_t *rd = (knot_rdata_t *)buf;
	knot_rdata_init(rd, (uint16_t)len, rdata);
	knot_rrset_t rrset = {
		.owner = (knot_dname_t *)"",
		.type = type,
		.rclass = KNOT_CLASS_IN,
		.rrs = { .count = 1, .size = (uint32_t)knot_rdata_size((uint16_t)len), .rdata = rd },
	};
	knot_dump_style_t style = KNOT_DUMP_STYLE_DEFAULT;
	style.wrap = false;
	int n = knot_rrset_txt_dump_data(&rrset, 0, out, max, &style);
	return n < 0 ? RS_ELIMIT : n;
}
