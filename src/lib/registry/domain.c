/* The stored text forms of a delegation: names, name server lists, glue, and which delegation holds a name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regsign/dns.h"

int registry_name(const char *in, char out[256], uint8_t *wire)
{
	uint8_t w[RS_NAME_MAX];
	if (rs_dname_from_str(in, w) < 0 || rs_dname_to_str(w, out, 256) < 0) /* from_str lowercases */
		return RS_ESYNTAX;
	if (wire != NULL)
		memcpy(wire, w, rs_dname_len(w, RS_NAME_MAX));
	return RS_EOK;
}

bool registry_names_include(const char *list, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = strstr(list, name); p != NULL; p = strstr(p + 1, name))
		if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
			return true;
	return false;
}

bool rs_name_text_under(const char *name, const char *parent)
{
	size_t n = strlen(name), p = strlen(parent);
	if (strcmp(parent, ".") == 0 || strcmp(name, parent) == 0)
		return true;
	return n > p && strcmp(name + n - p, parent) == 0 && name[n - p - 1] == '.';
}

bool rs_glue_next(const char *glue, const char *host, const char **pos, char addr[64])
{
	size_t hl = strlen(host);
	for (const char *g = strstr(*pos != NULL ? *pos : glue, host); g != NULL; g = strstr(g + 1, host)) {
		if ((g != glue && g[-1] != ' ') || g[hl] != '/')
			continue;
		size_t al = strcspn(g + hl + 1, " ");
		if (al >= 64)
			continue;
		snprintf(addr, 64, "%.*s", (int)al, g + hl + 1);
		*pos = g + hl + 1 + al;
		return true;
	}
	return false;
}

int rs_registry_holder(rs_store_t *store, const char *name, rs_domain_rec_t *out)
{
	for (const char *p = name; *p != '\0' && strcmp(p, ".") != 0;) {
		if (rs_store_domain_get(store, p, out) == RS_EOK)
			return RS_EOK;
		const char *dot = strchr(p, '.');
		p = dot != NULL ? dot + 1 : "";
	}
	return RS_ENOENT;
}
