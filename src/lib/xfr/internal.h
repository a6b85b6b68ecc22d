/* Shared by the files of src/lib/xfr. */
#pragma once
#include <libknot/libknot.h>

#include "regsign/xfr.h"

/* libknot's view of key, its name (lowercased) into name_buf (KNOT_DNAME_MAXLEN); the secret stays
 * borrowed from key. RS_EKEY for an unknown algorithm or an unusable name or secret. */
int xfr_knot_key(const rs_tsig_key_t *key, uint8_t *name_buf, knot_tsig_key_t *out);
