/*
 * Trust anchors for relying parties: which keys are listed, the AUP header,
 * and the four formats (trust-anchor DNSKEY lines, DS lines, RFC 9718 XML,
 * a named.conf trust-anchors block). Every file is made from the same list
 * of keys and DS RDATA, so the formats cannot disagree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "regsign/crypto.h"
#include "regsign/dns.h"

bool rs_anchor_relevant(const rs_policy_t *policy, const rs_keystate_t *k)
{
	if (k->role != RS_ROLE_KSK && k->role != RS_ROLE_CSK)
		return false;
	if ((k->flags & RS_KEY_DESTROYED) || !rs_keystate_published(k))
		return false; /* the DNSKEY left the RRset: no resolver can use the key any more */
	if (k->flags & RS_KEY_REVOKED)
		return false; /* RFC 5011 2.1: no resolver may use it as an anchor any more */
	/* An emergency successor is needed at once: relying parties must switch before the compromised key goes. */
	if (policy->anchors.from_dnskey || (k->flags & RS_KEY_EMERGENCY))
		return true;
	/*
	 * From the DS request on. A key that is going away was listed (its DS
	 * was asked for before its successor's) and stays while its DNSKEY does,
	 * even once its DS is gone; a new one waits for its DS request.
	 */
	return k->ds != RS_DS_NONE || k->state[RS_REC_DS] != RS_HIDDEN || k->goal != RS_GOAL_ACTIVE;
}

int rs_anchor_aup(const rs_policy_t *policy, rs_buf_t *out, rs_diag_t *diag)
{
	const __typeof__(policy->anchors) *a = &policy->anchors;
	rs_buf_clear(out);
	rs_buf_init(out, 64 * 1024);
	int ret = RS_EOK;
	const char *label = "trust-anchors.aup";
	if (a->aup_file[0] == '\0' && a->aup[0] == '\0')
		return rs_diag(diag, RS_EINVAL, "the policy has no acceptable use policy for the trust anchors "
				   "(trust-anchors.aup or trust-anchors.aup-file)");
	if (a->aup_file[0] != '\0') {
		label = a->aup_file;
		ret = rs_buf_read_file(out, a->aup_file);
		if (ret != RS_EOK)
			return rs_diag(diag, RS_EIO, "%s: cannot read the acceptable use policy: %s", a->aup_file,
				       ret == RS_ELIMIT ? "larger than 64 KiB" : strerror(-ret));
	} else if ((ret = rs_buf_append(out, a->aup, strlen(a->aup))) != RS_EOK) {
		return rs_diag(diag, ret, "out of memory");
	}
	/* One line per line; no control characters that would end a comment early or hide text. */
	size_t line = 1, w = 0;
	bool text = false;
	for (size_t i = 0; i < out->len; i++) {
		uint8_t c = out->data[i];
		if (c == '\r')
			continue;
		if (c < 0x20 && c != '\n' && c != '\t')
			return rs_diag(diag, RS_ESYNTAX, "%s:%zu: control character 0x%02x in the acceptable use policy",
				       label, line, c);
		line += c == '\n';
		text |= c != '\n' && c != ' ' && c != '\t';
		out->data[w++] = c;
	}
	out->len = w;
	if (!text)
		return rs_diag(diag, RS_EINVAL, "%s: the acceptable use policy is empty", label);
	while (out->len > 0 && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == ' '))
		out->len--;
	char d[32];
	rs_policy_duration_format(a->min_retrieval, d);
	ret = rs_buf_printf(out, "\n\n");
	if (ret == RS_EOK && a->contact[0] != '\0')
		ret = rs_buf_printf(out, "Contact: %s\n", a->contact);
	if (ret == RS_EOK)
		ret = rs_buf_printf(out, "Minimum retrieval time: %s\n", d);
	return ret == RS_EOK ? RS_EOK : rs_diag(diag, ret, "acceptable use policy too long");
}

/* The AUP as comment lines: prefix before each ("; ", "# "), or an XML comment when prefix is NULL. */
static int header(rs_buf_t *b, const rs_buf_t *aup, const char *prefix)
{
	int ret = rs_buf_printf(b, "%s", prefix != NULL ? "" : "<!--\n");
	bool start = true;
	char prev = 0;
	for (size_t i = 0; ret == RS_EOK && i < aup->len; i++) {
		char c = (char)aup->data[i];
		if (start && prefix != NULL)
			ret = rs_buf_printf(b, "%s", c == '\n' ? prefix[0] == ';' ? ";" : "#" : prefix);
		/* "--" may not appear inside an XML comment (XML 1.0, 2.5). */
		if (ret == RS_EOK && prefix == NULL && c == '-' && prev == '-')
			ret = rs_buf_append(b, " ", 1);
		if (ret == RS_EOK)
			ret = rs_buf_append(b, &c, 1);
		start = c == '\n';
		prev = c;
	}
	if (ret == RS_EOK && !start)
		ret = rs_buf_append(b, "\n", 1);
	if (ret == RS_EOK && prefix == NULL)
		ret = rs_buf_printf(b, "-->\n");
	return ret;
}

void anchor_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* RFC 3339 as RFC 9718 writes it: 2017-02-02T00:00:00+00:00. */
static void xml_time(int64_t t, char out[32])
{
	char s[15];
	rs_time_format(t, s);
	snprintf(out, 32, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s+00:00", s, s + 4, s + 6, s + 8, s + 10, s + 12);
}

/*
 * When the key was first listed (rs_anchor_relevant), from its recorded
 * times: its DNSKEY's publication, or, for listing from the DS request, the
 * time its DNSKEY became omnipresent, the condition of that request (RFC
 * 7583 3.3.2); no time of the request itself is kept, and this one does not
 * move while the key is listed.
 */
static int64_t valid_from(const rs_policy_t *p, const rs_keystate_t *k)
{
	int64_t t = p->anchors.from_dnskey || (k->flags & RS_KEY_EMERGENCY) || k->state[RS_REC_DNSKEY] != RS_OMNIPRESENT ? k->published
											 : k->since[RS_REC_DNSKEY];
	if (t == 0)
		t = k->published != 0 ? k->published : k->created;
	return t;
}

/*
 * A compromised key keeps operating for the AUP's minimum retrieval time
 * after its emergency successor was made; relying parties are told the end
 * of it. Other keys have no announced end: they are listed while served.
 */
static int64_t valid_until(const rs_anchor_opts_t *o, const rs_keystate_t *k)
{
	if (!(k->flags & RS_KEY_COMPROMISED) || o->set == NULL)
		return 0;
	for (size_t i = 0; i < o->set->count; i++)
		if (o->set->keys[i].predecessor == k->tag)
			return o->set->keys[i].created + o->policy->anchors.min_retrieval;
	return 0;
}

int anchor_render(const rs_anchor_opts_t *o, const rs_buf_t *aup, rs_buf_t files[ANCHOR_FILES], rs_diag_t *diag)
{
	char zone[4 * 255 + 2];
	rs_dname_to_str(o->origin, zone, sizeof(zone));
	int digests[2] = { RS_DS_SHA256, o->policy->ds_digest };
	size_t ndigests = o->policy->ds_digest != RS_DS_SHA256 ? 2 : 1;
	int ret = RS_EOK;
	for (int f = 0; f < ANCHOR_FILES; f++)
		rs_buf_init(&files[f], 1 << 20);
	rs_buf_t *dnskey = &files[ANCHOR_DNSKEY], *ds = &files[ANCHOR_DS], *xml = &files[ANCHOR_XML],
		 *bind = &files[ANCHOR_BIND];
	ret = header(dnskey, aup, "; ");
	if (ret == RS_EOK)
		ret = header(ds, aup, "; ");
	if (ret == RS_EOK)
		ret = rs_buf_printf(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	if (ret == RS_EOK)
		ret = header(xml, aup, NULL);
	if (ret == RS_EOK)
		ret = header(bind, aup, "# ");
	/* The TrustAnchor id changes whenever the set of keys does (IANA's is a fresh UUID each time). */
	char id[256] = "";
	size_t idl = (size_t)snprintf(id, sizeof(id), "%s", zone);
	for (size_t i = 0; i < o->count && idl < sizeof(id); i++)
		idl += (size_t)snprintf(id + idl, sizeof(id) - idl, "-%u", rs_keytag(o->keys[i].dnskey, o->keys[i].len));
	/* The source is the file's own name as a URL path: the '%' of an escaped name ("0%2F25...") is "%25" there. */
	char base[256], source[3 * 256] = "root-";
	if (ret == RS_EOK && o->origin[0] != 0 && (ret = anchor_base(o->origin, base, diag)) == RS_EOK) {
		size_t sl = 0;
		for (const char *p = base; *p != '\0'; p++)
			sl += (size_t)snprintf(source + sl, sizeof(source) - sl, *p == '%' ? "%%25" : "%c", *p);
		snprintf(source + sl, sizeof(source) - sl, ".");
	}
	/* A zone name may hold '&', '<' or '"' (legal in a label): references in the XML. */
	if (ret == RS_EOK)
		ret = rs_buf_printf(xml, "<TrustAnchor id=\"");
	if (ret == RS_EOK)
		ret = rs_buf_markup(xml, id);
	if (ret == RS_EOK)
		ret = rs_buf_printf(xml, "\" source=\"");
	if (ret == RS_EOK)
		ret = rs_buf_markup(xml, source);
	if (ret == RS_EOK)
		ret = rs_buf_printf(xml, "anchors.xml\">\n<Zone>");
	if (ret == RS_EOK)
		ret = rs_buf_markup(xml, zone);
	if (ret == RS_EOK)
		ret = rs_buf_printf(xml, "</Zone>\n");
	if (ret == RS_EOK)
		ret = rs_buf_printf(bind, "trust-anchors {\n");
	for (size_t i = 0; ret == RS_EOK && i < o->count; i++) {
		const rs_anchor_key_t *k = &o->keys[i];
		if (k->len < 4)
			return rs_diag(diag, RS_EKEY, "key %u: malformed DNSKEY", k->state->tag);
		char *b64 = malloc(k->len * 4 / 3 + 8);
		if (b64 == NULL)
			return rs_diag(diag, RS_ENOMEM, "out of memory");
		rs_base64_encode(k->dnskey + 4, k->len - 4, b64);
		uint16_t flags = rs_get16(k->dnskey), tag = rs_keytag(k->dnskey, k->len);
		ret = rs_buf_printf(dnskey, "%s DNSKEY %u %u %u %s\n", zone, flags, k->dnskey[2], k->dnskey[3], b64);
		char from[32], until[32] = "";
		xml_time(valid_from(o->policy, k->state), from);
		int64_t end = valid_until(o, k->state);
		if (end != 0)
			xml_time(end, until);
		for (size_t d = 0; ret == RS_EOK && d < ndigests; d++) {
			uint8_t rd[72];
			int n = rs_ds_make(o->origin, k->dnskey, k->len, digests[d], rd, sizeof(rd));
			if (n < 5) {
				ret = rs_diag(diag, RS_EKEY, "key %u: cannot make its DS", tag);
				break;
			}
			char digest[2 * 64 + 1];
			anchor_hex(rd + 4, (size_t)n - 4, digest);
			ret = rs_buf_printf(ds, "%s DS %u %u %u %s\n", zone, tag, rd[2], rd[3], digest);
			if (ret == RS_EOK)
				ret = rs_buf_printf(bind, "\t\"%s\" static-ds %u %u %u \"%s\";\n", zone, tag, rd[2],
						    rd[3], digest);
			if (ret == RS_EOK)
				ret = rs_buf_printf(xml,
						    "<KeyDigest id=\"K%u-%u\" validFrom=\"%s\"%s%s%s>\n"
						    "<KeyTag>%u</KeyTag>\n<Algorithm>%u</Algorithm>\n"
						    "<DigestType>%u</DigestType>\n<Digest>%s</Digest>\n"
						    "<PublicKey>%s</PublicKey>\n<Flags>%u</Flags>\n</KeyDigest>\n",
						    tag, rd[3], from, end ? " validUntil=\"" : "", until, end ? "\"" : "",
						    tag, rd[2], rd[3], digest, b64, flags);
		}
		free(b64);
	}
	if (ret == RS_EOK)
		ret = rs_buf_printf(xml, "</TrustAnchor>\n");
	if (ret == RS_EOK)
		ret = rs_buf_printf(bind, "};\n");
	if (ret != RS_EOK)
		return rs_diag(diag, ret, "%s: trust-anchor files too large", zone);
	return RS_EOK;
}

int rs_anchor_publish(const rs_anchor_opts_t *o, rs_diag_t *diag)
{
	if (o->pgp_key == NULL || o->pgp_key[0] == '\0')
		return rs_diag(diag, RS_EINVAL, "no OpenPGP key to sign the trust anchors with");
	rs_buf_t aup, files[ANCHOR_FILES], sigs[ANCHOR_FILES];
	memset(files, 0, sizeof(files));
	memset(sigs, 0, sizeof(sigs));
	rs_buf_init(&aup, 0);
	int ret = rs_anchor_aup(o->policy, &aup, diag);
	if (ret == RS_EOK)
		ret = anchor_render(o, &aup, files, diag);
	/* Every signature is made before anything is written: a key that cannot sign changes nothing. */
	for (int f = 0; ret == RS_EOK && f < ANCHOR_FILES; f++) {
		rs_buf_init(&sigs[f], 64 * 1024);
		ret = rs_pgp_sign(o->gnupg_home, o->pgp_key, files[f].data, files[f].len, &sigs[f], diag);
	}
	if (ret == RS_EOK)
		ret = anchor_repo_replace(o->dir, o->origin, files, sigs, diag);
	rs_buf_clear(&aup);
	for (int f = 0; f < ANCHOR_FILES; f++) {
		rs_buf_clear(&files[f]);
		rs_buf_clear(&sigs[f]);
	}
	return ret;
}
