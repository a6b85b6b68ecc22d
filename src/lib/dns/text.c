/* Presentation form of names, types and RDATA, through libknot's printers. */
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
