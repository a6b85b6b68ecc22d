/* verify: a zone from the signer passes; each defect put into it is reported, with owner and type.
 */
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "regsign/nsec.h"
#include "regsign/signer.h"
#include "regsign/verify.h"
#include "tap/tap.h"
#include "tap/zone.h"

#define INCEPTION 1700000000
#define EXPIRATION (INCEPTION + 30 * 86400)
#define NOW (INCEPTION + 86400)

static uint8_t origin[RS_NAME_MAX];
static rs_nsec3_params_t n3p; /* the NSEC3 parameters sign_text uses */

/* Sign text: the DNSKEYs of the first npublished keys go into the zone, all nkeys sign. */
static char *sign_text(const char *text, rs_key_t *const *keys, size_t npublished, size_t nkeys,
		       bool nsec3, const rs_key_role_t *roles)
{
	rs_zone_t *z = tap_zone(origin, text, keys, npublished, false);
	rs_sign_opts_t so = {.inception = INCEPTION,
			     .expiration = EXPIRATION,
			     .threads = 2,
			     .nsec3 = nsec3,
			     .nsec3_params = n3p,
			     .roles = roles};
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	rs_diag_t d = {""};
	int ret =
	    z != NULL && f != NULL ? rs_sign_zone(z, keys, nkeys, &so, f, NULL, &d) : RS_ENOMEM;
	if (f != NULL)
		fclose(f);
	rs_zone_free(z);
	if (ret != RS_EOK) {
		printf("# sign: %s\n", d.text);
		free(out);
		return NULL;
	}
	return out;
}

static char report_text[1 << 16];

/* Problems found in the signed text at now; the report lands in report_text. -1 if it cannot run.
 */
static const uint8_t *const *only_names; /* verify only these (NULL: the whole zone) */
static size_t only_count;

static long verify(const char *text, int64_t now, bool foreign, rs_verify_result_t *res)
{
	rs_zone_t *z = tap_zone(origin, text, NULL, 0, true);
	rs_verify_opts_t vo = {.now = now, .threads = 2, .foreign_signatures = foreign,
			       .names = only_names, .nnames = only_count};
	rs_verify_result_t r = {0};
	rs_buf_t report;
	rs_diag_t d;
	rs_buf_init(&report, sizeof(report_text) - 1);
	int ret = z != NULL ? rs_verify_zone(z, &vo, &report, &r, &d) : RS_EINVAL;
	size_t n = report.len < sizeof(report_text) - 1 ? report.len : sizeof(report_text) - 1;
	memcpy(report_text, report.data ? (const char *)report.data : "", n);
	report_text[n] = '\0';
	rs_buf_clear(&report);
	rs_zone_free(z);
	if (res != NULL)
		*res = r;
	return ret == RS_EOK ? (long)r.problems : -1;
}

/* The report has a line containing want. */
static bool reported(const char *want)
{
	bool found = strstr(report_text, want) != NULL;
	if (!found)
		printf("# want '%s' in:\n# %.*s\n", want, 600, report_text);
	return found;
}

/* Copy of a, b and c joined (caller frees). */
static char *join(const char *a, size_t alen, const char *b, size_t blen, const char *c)
{
	size_t clen = strlen(c);
	char *out = malloc(alen + blen + clen + 1);
	memcpy(out, a, alen);
	memcpy(out + alen, b, blen);
	memcpy(out + alen + blen, c, clen + 1);
	return out;
}

/* The first line of text starting with prefix, or NULL. */
static const char *find_line(const char *text, const char *prefix)
{
	size_t plen = strlen(prefix);
	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, prefix, plen) == 0)
			return p;
		p = strchr(p, '\n');
		p = p != NULL ? p + 1 : NULL;
	}
	printf("# no line starts with '%s'\n", prefix);
	return NULL;
}

/* text without its first line starting with prefix (caller frees); NULL if there is none. */
static char *drop_line(const char *text, const char *prefix)
{
	const char *p = text != NULL ? find_line(text, prefix) : NULL;
	if (p == NULL)
		return NULL;
	const char *end = strchr(p, '\n');
	return join(text, (size_t)(p - text), "", 0, end != NULL ? end + 1 : "");
}

/* text with the first old replaced by new (caller frees); NULL if old is absent. */
static char *replace(const char *text, const char *old, const char *new)
{
	const char *at = text != NULL ? strstr(text, old) : NULL;
	if (at == NULL) {
		printf("# '%s' not found\n", old);
		return NULL;
	}
	return join(text, (size_t)(at - text), new, strlen(new), at + strlen(old));
}

/* text plus a copy of its first line starting with prefix, with owner as the first field. */
static char *copy_line(const char *text, const char *prefix, const char *owner)
{
	const char *p = text != NULL ? find_line(text, prefix) : NULL;
	if (p == NULL)
		return NULL;
	const char *tab = strchr(p, '\t'), *end = strchr(p, '\n');
	char *head = join(text, strlen(text), owner, strlen(owner), "");
	char *out = join(head, strlen(head), tab, (size_t)(end - tab) + 1, "");
	free(head);
	return out;
}

static const char zone_text[] =
    "$TTL 3600\n"
    "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "@ NS ns1\n"
    "@ MX 10 mail\n"
    "ns1 A 192.0.2.1\n"
    "www A 192.0.2.2\n"
    "mail A 192.0.2.3\n"
    "a.b.ent A 192.0.2.4\n"
    "sub NS ns.sub\n"
    "sub DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"
    "ns.sub A 192.0.2.6\n"
    "insecure NS ns.other.net.\n"
    "*.wild TXT \"wildcard\"\n";

/* Check that a changed copy of good is reported with want; frees the copy. */
static void defect(char *bad, const char *want, const char *what)
{
	long n = bad != NULL ? verify(bad, NOW, false, NULL) : -1;
	ok(n > 0 && reported(want), "%s: reported (%ld problems)", what, n);
	if (getenv("RS_VERIFY_SHOW") != NULL)
		printf("# %s", report_text);
	free(bad);
}

static rs_key_t *key_new(int alg, bool ksk)
{
	rs_key_t *key = NULL;
	rs_diag_t d;
	if (rs_key_generate(origin, alg, 0, ksk, &key, &d) != RS_EOK)
		printf("# keygen: %s\n", d.text);
	return key;
}

/* ---- NSEC3 at the names of a change set ---- */

/* The NSEC3 owner (text) of rel (relative to example.) with n3p. */
static const char *hashed(const char *rel, char *out)
{
	char full[256];
	uint8_t wire[RS_NAME_MAX], h[20];
	snprintf(full, sizeof(full), "%s%sexample.", rel, *rel ? "." : "");
	rs_dname_from_str(full, wire);
	rs_nsec3_hash(wire, rs_dname_len(wire, RS_NAME_MAX), n3p.salt, n3p.salt_len, n3p.iterations, h);
	size_t n = rs_base32hex_encode(h, 20, out);
	snprintf(out + n, 16, ".example.");
	return out;
}

/* The first line of text with owner (case ignored) and type, or NULL. */
static const char *line_of(const char *text, const char *owner, const char *type)
{
	size_t olen = strlen(owner);
	for (const char *p = text; p != NULL && *p != '\0';) {
		const char *t = p + olen;
		if (strncasecmp(p, owner, olen) == 0 && *t == '\t') {
			t = strchr(t + 1, '\t'); /* TTL */
			t = t != NULL ? strchr(t + 1, '\t') : NULL; /* class */
			if (t != NULL && strncmp(t + 1, type, strlen(type)) == 0 && t[1 + strlen(type)] == '\t')
				return p;
		}
		p = strchr(p, '\n');
		p = p != NULL ? p + 1 : NULL;
	}
	printf("# no %s line of %s\n", type, owner);
	return NULL;
}

static size_t line_len(const char *line)
{
	return strcspn(line, "\n") + 1;
}

/* text with its line at line replaced by repl (a whole line, or "" to drop it); caller frees. */
static char *swap_line(const char *text, const char *line, const char *repl)
{
	if (text == NULL || line == NULL)
		return NULL;
	return join(text, (size_t)(line - text), repl, strlen(repl), line + line_len(line));
}

/* text with the first old in the line at line replaced by new; caller frees. */
static char *edit_line(const char *text, const char *line, const char *old, const char *new)
{
	if (text == NULL || line == NULL)
		return NULL;
	char copy[4096];
	snprintf(copy, sizeof(copy), "%.*s", (int)line_len(line), line);
	char *edited = replace(copy, old, new);
	char *out = edited != NULL ? swap_line(text, line, edited) : NULL;
	free(edited);
	return out;
}

/* text without any line of owner (case ignored); caller frees. */
static char *drop_owner(const char *text, const char *owner)
{
	size_t olen = strlen(owner), n = 0;
	char *out = malloc(strlen(text) + 1);
	for (const char *p = text; *p != '\0'; p += line_len(p)) {
		if (!(strncasecmp(p, owner, olen) == 0 && p[olen] == '\t')) {
			memcpy(out + n, p, line_len(p));
			n += line_len(p);
		}
		if (p[line_len(p) - 1] != '\n')
			break;
	}
	out[n] = '\0';
	return out;
}

/* The lines of owner in text (case ignored), joined; caller frees. */
static char *owner_lines(const char *text, const char *owner)
{
	size_t olen = strlen(owner), n = 0;
	char *out = malloc(strlen(text) + 1);
	for (const char *p = text; *p != '\0' && p[line_len(p) - 1] == '\n'; p += line_len(p))
		if (strncasecmp(p, owner, olen) == 0 && p[olen] == '\t') {
			memcpy(out + n, p, line_len(p));
			n += line_len(p);
		}
	out[n] = '\0';
	return out;
}

static uint8_t name_store[512][RS_NAME_MAX];
static const uint8_t *name_list[512];

/* Verify only the names (text, absolute), as a change set's. */
static void only(const char *const *names, size_t n)
{
	for (size_t i = 0; i < n && i < 512; i++) {
		rs_dname_from_str(names[i], name_store[i]);
		name_list[i] = name_store[i];
	}
	only_names = name_list;
	only_count = n;
}

/* Verify only the owners of every line of text: a change set that touched all of it. */
static void only_all(const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p != '\0' && n < 512; p += line_len(p)) {
		char owner[256];
		snprintf(owner, sizeof(owner), "%.*s", (int)strcspn(p, "\t\n"), p);
		if (*owner != '$' && *owner != ';' && *owner != '\0') {
			rs_dname_from_str(owner, name_store[n]); /* repeats are fine: the check drops them */
			name_list[n] = name_store[n];
			n++;
		}
		if (p[line_len(p) - 1] != '\n')
			break;
	}
	only_names = name_list;
	only_count = n;
}

/* Names-only checks of a zone signed with NSEC3 with n3p (what: the parameters, for the test names). */
static void names_nsec3(rs_key_t *const *keys, const char *what)
{
	char *good = sign_text(zone_text, keys, 2, 2, true, NULL);
	char *with_x = join(zone_text, strlen(zone_text), "x A 192.0.2.9\n", 14, "");
	char *good_x = sign_text(with_x, keys, 2, 2, true, NULL);
	char h[80], hx[80], msg[200];
	rs_verify_result_t res;
	if (!ok(good != NULL && good_x != NULL, "%s: signed", what))
		goto out;
	is_int(verify(good, NOW, false, &res), 0, "%s: whole zone: no problems", what);

	only_all(good);
	is_int(verify(good, NOW, false, &res), 0, "%s: every name touched: no problems (%zu names)", what, only_count);
	ok(res.nsec3 && res.rrsets > 10, "%s: every name touched: %llu RRsets", what, (unsigned long long)res.rrsets);
	const char *const some[] = {"example.", "www.example.", "a.b.ent.example.", "insecure.example.",
				    "ns.sub.example.", "sub.example.", hashed("www", h)};
	only(some, 7);
	is_int(verify(good, NOW, false, NULL), 0, "%s: some names: no problems", what);
	const char *const gone[] = {"example.", "x.example.", hashed("x", hx), "gone.deep.example."};
	only(gone, 4);
	is_int(verify(good, NOW, false, NULL), 0, "%s: removed names, their NSEC3 gone: no problems", what);

	/* Damage at a touched name is found. */
	const char *const www[] = {"www.example."};
	only(www, 1);
	defect(replace(good, "192.0.2.2\n", "192.0.2.22\n"), "www.example. A: RRSIG by key", "names: bad signature");
	snprintf(msg, sizeof(msg), "%s NSEC3: missing NSEC3 (of www.example.)", hashed("www", h));
	defect(swap_line(good, line_of(good, h, "NSEC3"), ""), msg, "names: missing NSEC3");
	const char *const mail[] = {"mail.example."};
	only(mail, 1);
	defect(edit_line(good, line_of(good, hashed("mail", h), "NSEC3"), " A RRSIG\n", " A MX RRSIG\n"),
	       "NSEC3: type bitmap differs from the types present (A RRSIG)", "names: wrong bitmap");
	defect(drop_owner(good, "mail.example."), "NSEC3: NSEC3 matches no name of the zone (mail.example. has none)",
	       "names: NSEC3 left for a removed name");
	const char *const ent[] = {"a.b.ent.example."};
	only(ent, 1);
	snprintf(msg, sizeof(msg), "%s NSEC3: missing NSEC3 (of b.ent.example.)", hashed("b.ent", h));
	defect(swap_line(good, line_of(good, h, "NSEC3"), ""), msg, "names: missing NSEC3 of an empty non-terminal");
	const char *const hw[] = {hashed("www", h)};
	only(hw, 1);
	const char *n3 = line_of(good, h, "NSEC3");
	char next[40] = "";
	if (n3 != NULL) /* the fifth field of the RDATA: "1 F I SALT NEXT ..." */
		sscanf(strstr(n3, "\tNSEC3\t") + 7, "%*s %*s %*s %*s %39s", next);
	defect(edit_line(good, n3, next, "00000000000000000000000000000000"),
	       "NSEC3: next hashed owner is not the next name in the chain", "names: broken next link at a touched owner");
	/* x's NSEC3 put in, the one before it left linking past it; then x gone, the one before still linking to it. */
	char *x_lines = owner_lines(good_x, hashed("x", hx)), *x_data = owner_lines(good_x, "x.example.");
	char *inserted = join(good, strlen(good), x_lines, strlen(x_lines), x_data);
	const char *const xs[] = {"x.example.", hx};
	only(xs, 2);
	defect(inserted, "NSEC3: next hashed owner is not the next name in the chain",
	       "names: an owner put in, the link before it unchanged");
	char *removed = drop_owner(good_x, hx), *removed2 = drop_owner(removed, "x.example.");
	defect(removed2, "NSEC3: no NSEC3 covers the hash of x.example.", "names: a name removed, the link to its NSEC3 left");
	free(removed);
	free(x_lines);
	free(x_data);

	/* Damage elsewhere is not looked at in names mode; the whole check finds it. */
	char *far = edit_line(good, line_of(good, hashed("ns1", h), "NSEC3"), " A RRSIG\n", " A MX RRSIG\n");
	only(www, 1);
	is_int(far != NULL ? verify(far, NOW, false, NULL) : -1, 0, "%s: names: damage at an untouched name not reported",
	       what);
	only_names = NULL;
	only_count = 0;
	ok(far != NULL && verify(far, NOW, false, NULL) > 0 && reported("NSEC3: type bitmap differs"),
	   "%s: whole zone: the same damage reported", what);
	free(far);
out:
	only_names = NULL;
	only_count = 0;
	free(good);
	free(good_x);
	free(with_x);
}

/*
 * RS_VERIFY_BENCH=FILE (a zone signed with NSEC3 under RS_VERIFY_ORIGIN, default cloud.): the time
 * of a names-only check of a 1,000-name change set as a diff names it (1,000 delegations, the NSEC3
 * owners of their hashes and those before them in the chain), the daemon's way (one thread).
 */
static int bench(const char *path)
{
	const char *org = getenv("RS_VERIFY_ORIGIN") ? getenv("RS_VERIFY_ORIGIN") : "cloud.";
	uint8_t apex[RS_NAME_MAX];
	rs_dname_from_str(org, apex);
	rs_zone_opts_t zo = {.keep_dnssec = true};
	rs_zone_t *z;
	rs_diag_t d = {""};
	if (rs_zone_new(apex, &zo, &z) != RS_EOK || rs_zone_read(z, path, &d) != RS_EOK ||
	    rs_zone_finish(z, &d) != RS_EOK) {
		printf("# %s: %s\n", path, d.text);
		return 1;
	}
	size_t n;
	const rs_node_t *nodes = rs_zone_nodes(z, &n);
	const rs_name_t *o = rs_zone_origin(z);
	size_t *owners = malloc(n * sizeof(*owners)), nowners = 0, ndeleg = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t b, e;
		if (rs_node_rrset(z, &nodes[i], RS_TYPE_NSEC3, &b, &e))
			owners[nowners++] = i;
		ndeleg += (nodes[i].flags & RS_NODE_DELEG) != 0;
	}
	const uint8_t **names = malloc(3000 * sizeof(*names));
	size_t k = 0, step = ndeleg / 1000, seen = 0;
	uint8_t (*wires)[RS_NAME_MAX] = malloc(2000 * sizeof(*wires));
	for (size_t i = 0; i < n && k < 3000; i++) {
		if (!(nodes[i].flags & RS_NODE_DELEG) || seen++ % step != 0)
			continue;
		const uint8_t *w = rs_name_wire(nodes[i].name);
		uint8_t h[20], key[RS_KEY_MAX];
		rs_nsec3_hash(w, nodes[i].name->wire_len, NULL, 0, 0, h);
		uint8_t *own = wires[2 * (k / 3)], *pred = wires[2 * (k / 3) + 1];
		rs_nsec3_owner(h, o, own);
		size_t klen = rs_dname_key(own, key), lo = 0, hi = nowners;
		while (lo < hi) { /* the owner at or after h; the one before it is its predecessor */
			size_t mid = (lo + hi) / 2;
			const rs_name_t *m = nodes[owners[mid]].name;
			int r = memcmp(rs_name_key(m), key, m->key_len < klen ? m->key_len : klen);
			if (r < 0 || (r == 0 && m->key_len < klen))
				lo = mid + 1;
			else
				hi = mid;
		}
		const rs_name_t *p = nodes[owners[lo > 0 ? lo - 1 : nowners - 1]].name;
		memcpy(pred, rs_name_wire(p), p->wire_len);
		names[k++] = w;
		names[k++] = own;
		names[k++] = pred;
	}
	rs_verify_opts_t vo = {.now = time(NULL), .threads = 1, .names = names, .nnames = k};
	rs_verify_result_t r = {0};
	rs_buf_t report;
	rs_buf_init(&report, 1 << 20);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int ret = rs_verify_zone(z, &vo, &report, &r, &d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# names-only check of %zu names (%zu delegations, %zu NSEC3 owners): %.3f s, %llu signatures, "
	       "%llu problems\n", k, ndeleg, nowners, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (unsigned long long)r.signatures, (unsigned long long)r.problems);
	if (r.problems > 0)
		printf("# %.*s\n", 400, report.data ? (const char *)report.data : "");
	rs_buf_clear(&report);
	free(names);
	free(wires);
	free(owners);
	rs_zone_free(z);
	return ret == RS_EOK && r.problems == 0 ? 0 : 1;
}

int main(void)
{
	if (getenv("RS_VERIFY_BENCH") != NULL)
		return bench(getenv("RS_VERIFY_BENCH"));
	rs_dname_from_str("example.", origin);
	rs_key_t *ksk = key_new(RS_ALG_ED25519, true), *zsk = key_new(RS_ALG_ED25519, false);
	rs_key_t *other = key_new(RS_ALG_ED25519, false),
		 *ecdsa = key_new(RS_ALG_ECDSAP256SHA256, false);
	if (!ok(ksk && zsk && other && ecdsa, "keys generated"))
		return done_testing();
	rs_key_t *keys[] = {ksk, zsk, other, ecdsa};
	char tag[16];

	/* The signer's own output is secure. */
	char *good = sign_text(zone_text, keys, 2, 2, false, NULL);
	rs_verify_result_t res;
	is_int(verify(good, NOW, false, &res), 0, "signed zone: no problems");
	ok(res.rrsets >= 12 && res.signatures >= res.rrsets && !res.nsec3,
	   "signed zone: %llu RRsets and %llu signatures checked", (unsigned long long)res.rrsets,
	   (unsigned long long)res.signatures);
	is_int(verify(good, INCEPTION, false, NULL), 0, "valid at its inception");
	is_int(verify(good, EXPIRATION, false, NULL), 0, "valid at its expiration");

	/* Time. */
	ok(verify(good, EXPIRATION + 1, false, NULL) > 0 &&
	       reported("www.example. A: RRSIG by key") && reported("expired at 20231214221320"),
	   "a second past expiration: expired");
	ok(verify(good, INCEPTION - 1, false, NULL) > 0 &&
	       reported("is not valid before 20231114221320"),
	   "a second before inception: not yet valid");

	/* Only the names a change set touched: a defect elsewhere is not looked at, one there is. */
	{
		uint8_t www[RS_NAME_MAX], mail[RS_NAME_MAX], gone[RS_NAME_MAX];
		rs_dname_from_str("www.example.", www);
		rs_dname_from_str("mail.example.", mail);
		rs_dname_from_str("gone.example.", gone);
		const uint8_t *const names[] = {mail, gone, mail};
		char *bad = replace(good, "192.0.2.2\n", "192.0.2.22\n");
		only_names = names;
		only_count = 3;
		is_int(verify(bad, NOW, false, &res), 0, "only other names: a bad signature at www is not checked");
		ok(res.rrsets >= 1 && res.rrsets <= 3, "only other names: %llu RRsets checked (mail's)",
		   (unsigned long long)res.rrsets);
		const uint8_t *const names2[] = {gone, www};
		only_names = names2;
		only_count = 2;
		ok(verify(bad, NOW, false, NULL) > 0 && reported("www.example. A: RRSIG by key"),
		   "only www: its bad signature is found");
		char *no_nsec = drop_line(good, "www.example.\t300\tIN\tNSEC\t");
		ok(no_nsec != NULL && verify(no_nsec, NOW, false, NULL) > 0 && reported("www.example. NSEC: missing NSEC"),
		   "only www: its missing NSEC is found");
		only_names = NULL;
		only_count = 0;
		free(no_nsec);
		free(bad);
	}

	/* Missing, wrong or misplaced signatures. */
	defect(drop_line(good, "ns1.example.\t3600\tIN\tRRSIG\tA "), "ns1.example. A: no RRSIG",
	       "dropped RRSIG");
	defect(replace(good, "192.0.2.2\n", "192.0.2.22\n"), "www.example. A: RRSIG by key",
	       "changed A record");
	ok(strstr(report_text, "does not verify") != NULL,
	   "changed A record: the signature does not verify");
	defect(copy_line(good, "example.\t300\tIN\tNSEC\t", "fresh.example."),
	       "fresh.example. NSEC: no RRSIG", "unsigned NSEC added");
	defect(copy_line(good, "ns1.example.\t3600\tIN\tRRSIG\tA ", "ns.sub.example."),
	       "ns.sub.example. RRSIG: signature at a name below a zone cut",
	       "signature over glue");
	defect(copy_line(good, "example.\t3600\tIN\tRRSIG\tNS ", "sub.example."),
	       "sub.example. NS: RRSIG over an RRset that must not be signed",
	       "signature over a cut's NS");
	defect(copy_line(good, "example.\t3600\tIN\tRRSIG\tMX ", "www.example."),
	       "www.example. MX: RRSIG covers an RRset that is not there",
	       "signature over an absent RRset");

	/* Content the signer refuses, in a zone signed elsewhere: reported, not read as secure. */
	defect(copy_line(good, "sub.example.\t3600\tIN\tDS\t", "example."),
	       "example. DS: DS RRset at the zone apex", "DS at the apex");
	{
		char *one = join(good, strlen(good), "dn.example.\t3600\tIN\tDNAME\ta.example.\n", 37, "");
		defect(join(one, strlen(one), "dn.example.\t3600\tIN\tDNAME\tb.example.\n", 37, ""),
		       "dn.example. DNAME: 2 records of a type a name holds one of", "two DNAMEs at one name");
		free(one);
	}

	/* RRSIG labels: a wildcard's leave out the *, others count every label. */
	defect(replace(good, "*.wild.example.\t3600\tIN\tRRSIG\tTXT 15 2 ",
		       "*.wild.example.\t3600\tIN\tRRSIG\tTXT 15 3 "),
	       "*.wild.example. TXT: RRSIG by key", "wildcard RRSIG counting the *");
	ok(strstr(report_text, "has 3 labels, not 2") != NULL,
	   "wildcard RRSIG counting the *: labels named");
	defect(replace(good, "www.example.\t3600\tIN\tRRSIG\tA 15 2 ",
		       "www.example.\t3600\tIN\tRRSIG\tA 15 1 "),
	       "www.example. A: RRSIG by key", "RRSIG with fewer labels than a plain owner");
	ok(strstr(report_text, "has 1 labels, not 2") != NULL, "fewer labels: labels named");

	/* A signature by a key that is not in the DNSKEY RRset (published: KSK and ZSK; signing:
	 * also other). */
	rs_key_role_t three[] = {{ksk, true, false}, {zsk, false, true}, {other, false, true}};
	char *foreign = sign_text(zone_text, keys, 2, 3, false, three);
	snprintf(tag, sizeof(tag), "%u", rs_key_tag(other));
	char want[96];
	snprintf(want, sizeof(want), "RRSIG by key %s (algorithm 15) has no matching DNSKEY", tag);
	ok(verify(foreign, NOW, false, NULL) > 0 && reported(want),
	   "signature by a key not in the DNSKEY RRset");
	is_int(verify(foreign, NOW, true, NULL), 0,
	       "accepted with foreign_signatures (algorithm rollover)");
	free(foreign);

	/* Key rules: a SEP key must sign DNSKEY; every algorithm of the DNSKEY RRset must sign
	 * everything. */
	rs_key_role_t zsk_keys[] = {{ksk, false, false}, {zsk, true, true}};
	char *nosep = sign_text(zone_text, keys, 2, 2, false, zsk_keys);
	ok(verify(nosep, NOW, false, NULL) > 0 &&
	       reported("example. DNSKEY: DNSKEY RRset is not signed by a key with the SEP flag"),
	   "DNSKEY signed by a ZSK only");
	free(nosep);
	rs_key_t *four[] = {ksk, zsk, ecdsa};
	rs_key_role_t idle[] = {{ksk, true, false}, {zsk, false, true}, {ecdsa, false, false}};
	char *noalg = sign_text(zone_text, four, 3, 3, false, idle);
	ok(verify(noalg, NOW, false, NULL) > 0 &&
	       reported(
		   "www.example. A: no valid RRSIG of algorithm 13, which the DNSKEY RRset has"),
	   "an algorithm of the DNSKEY RRset that signs nothing");
	free(noalg);

	/* NSEC chain and bitmaps. */
	defect(drop_line(good, "mail.example.\t300\tIN\tNSEC\t"),
	       "mail.example. NSEC: missing NSEC", "dropped NSEC");
	defect(replace(good, "mail.example.\t300\tIN\tNSEC\tns1.example.",
		       "mail.example.\t300\tIN\tNSEC\tzzz.example."),
	       "mail.example. NSEC: next name should be ns1.example.", "NSEC chain skips ahead");
	defect(replace(good, "mail.example.\t300\tIN\tNSEC\tns1.example. A RRSIG NSEC",
		       "mail.example.\t300\tIN\tNSEC\tns1.example. A MX RRSIG NSEC"),
	       "mail.example. NSEC: type bitmap differs from the types present (A RRSIG NSEC)",
	       "NSEC bitmap lies");
	defect(replace(good, " NS DS RRSIG NSEC\n", " NS RRSIG NSEC\n"), /* only sub has DS */
	       "sub.example. NSEC: type bitmap differs from the types present (NS DS RRSIG NSEC)",
	       "NSEC bitmap at a cut hides the DS");
	defect(copy_line(good, "mail.example.\t300\tIN\tNSEC\t", "ns.sub.example."),
	       "ns.sub.example. NSEC: NSEC at a name below a zone cut", "NSEC at glue");

	/* NSEC3. */
	char *good3 = sign_text(zone_text, keys, 2, 2, true, NULL);
	is_int(verify(good3, NOW, false, &res), 0, "NSEC3 zone: no problems");
	ok(res.nsec3, "NSEC3 zone: seen as NSEC3");
	const char *n3 = good3 != NULL ? strstr(good3, "\tIN\tNSEC3\t") : NULL;
	const char *line = n3;
	while (line != NULL && line > good3 && line[-1] != '\n')
		line--;
	char prefix[128] = "";
	if (line != NULL)
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(n3 - line) + 10, line);
	char owner[64] = "";
	snprintf(owner, sizeof(owner), "%.*s", (int)strcspn(prefix, "\t"), prefix);
	snprintf(want, sizeof(want), "%s NSEC3: missing NSEC3", owner);
	defect(drop_line(good3, prefix), want, "dropped NSEC3");
	defect(drop_line(good3, "example.\t0\tIN\tNSEC3PARAM\t"),
	       "example. NSEC3PARAM: missing or malformed NSEC3PARAM", "dropped NSEC3PARAM");
	defect(replace(good3, " NS DS RRSIG\n", " NS RRSIG\n"),
	       "NSEC3: type bitmap differs from the types present (NS DS RRSIG)",
	       "NSEC3 bitmap hides the DS");
	/* One record flagged opt-out makes the chain an opt-out one, which has no room for
	 * insecure. */
	defect(replace(good3, "\tNSEC3\t1 0 0 - ", "\tNSEC3\t1 1 0 - "),
	       "NSEC3: NSEC3 matches no name of the zone",
	       "opt-out flag, yet an insecure delegation in the chain");

	names_nsec3(keys, "NSEC3");
	n3p = (rs_nsec3_params_t){ .opt_out = true };
	names_nsec3(keys, "NSEC3 opt-out");
	n3p = (rs_nsec3_params_t){ .salt_len = 4, .salt = { 0xaa, 0xbb, 0xcc, 0xdd }, .iterations = 2 };
	names_nsec3(keys, "NSEC3 salted");
	n3p = (rs_nsec3_params_t){ 0 };

	/* More types at a name than a bitmap array holds: a problem, not a write past the array. */
	size_t cap = 64 * 1024, len = 0;
	char *many = malloc(cap);
	len += (size_t)snprintf(many + len, cap - len,
				"$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nx NSEC example. A\n");
	for (unsigned t = 1000; t < 1600; t++)
		len += (size_t)snprintf(many + len, cap - len, "x TYPE%u \\# 1 00\n", t);
	ok(verify(many, NOW, false, NULL) > 0 &&
	       reported("x.example. NSEC: more than 508 types at one name"),
	   "600 types at one name: reported");
	free(many);

	/* Unsigned input is anything but secure. */
	long problems = verify(zone_text, NOW, false, NULL);
	ok(problems > 5 && reported("example. SOA: no RRSIG") &&
	       reported("example. NSEC: missing NSEC"),
	   "unsigned zone: %ld problems", problems);

	free(good);
	free(good3);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		rs_key_free(keys[i]);
	return done_testing();
}
