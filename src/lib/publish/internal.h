/* Private to the publish module. */
#pragma once

#include "regsign/publish.h"

/* The four files of a zone, in this order everywhere. */
enum { ANCHOR_DNSKEY, ANCHOR_DS, ANCHOR_XML, ANCHOR_BIND, ANCHOR_FILES };
extern const char *const anchor_suffix[ANCHOR_FILES]; /* ".dnskey", ".ds", ".anchors.xml", ".bind" */

/* The zone's part of the file names, into out (256 octets): its stem (rs_zone_file_stem), "cloud" for
 * cloud., "root" for the root. RS_ELIMIT if it does not fit. */
int anchor_base(const uint8_t *origin, char out[256], rs_diag_t *diag);

/* The four files of o's keys, each headed by aup (files initialised here; caller clears them). */
int anchor_render(const rs_anchor_opts_t *o, const rs_buf_t *aup, rs_buf_t files[ANCHOR_FILES], rs_diag_t *diag);

/*
 * Put a copy of dir with the zone's files (and FILE.asc signatures) replaced
 * in place of dir at once; the other zones' files stay as they were.
 */
int anchor_repo_replace(const char *dir, const uint8_t *origin, const rs_buf_t files[ANCHOR_FILES],
			const rs_buf_t sigs[ANCHOR_FILES], rs_diag_t *diag);

/* Remove path and everything below it (best effort: a temporary directory of ours). */
void anchor_remove_tree(const char *path);
/* n octets as upper-case hex (DS digests as the DS format and RFC 9718 write them) into out (2n + 1). */
void anchor_hex(const uint8_t *p, size_t n, char *out);
