/* The status page's model, shared by collect.c (reading), html.c (tables) and timeline.c (the picture). */
#pragma once
#include "regsign/audit.h"
#include "regsign/policy.h"
#include "regsign/status.h"

/* A span of a key's life: published (DNSKEY in the zone), active (signs), ds (DS at the parent). */
enum { SPAN_PUBLISHED, SPAN_ACTIVE, SPAN_DS, SPAN_KINDS };
#define ROW_SPANS 16
#define OPEN_END INT64_MAX

typedef struct {
	int kind;
	int64_t from, to; /* to OPEN_END: beyond the window */
} span_t;

/* One key in the picture and the key table: an existing key or a planned one. */
typedef struct {
	uint16_t tag;
	char planned[16]; /* "new1"...; "" for a key that exists */
	uint8_t role, alg, goal;
	bool exists;
	rs_keystate_t state;   /* existing keys: as stored */
	int64_t next_time;     /* the first planned event; 0: none */
	char next_what[96];
	uint8_t cur[RS_REC_COUNT]; /* the record states while the plan runs */
	int64_t open[SPAN_KINDS];  /* start of the span open now; 0: none */
	int64_t ds_logged;         /* a DS span the audit log opened and has not closed yet; 0: none */
	span_t spans[ROW_SPANS];
	size_t nspans;
} krow_t;

typedef struct {
	int64_t time;
	uint32_t serial;
	char result[32];
	char detail[1100];
} pubrow_t;

#define ZONE_PUBS 5

typedef struct {
	rs_zone_rec_t rec;
	rs_policy_t policy;
	bool policy_ok;
	char policy_error[600];
	krow_t *rows;
	size_t nrows, caprows;
	pubrow_t pubs[ZONE_PUBS]; /* newest first */
	size_t npubs;
	bool pubs_from_audit; /* the audit log's sign entries, failures too; else the store's */
	char sec_conf[16][80]; /* secondaries as the store has them */
	size_t nsec_conf;
	bool has_live;
	rs_status_live_t live;
} zview_t;

struct rs_status {
	int64_t now;
	char dir[4096];
	zview_t *zones;
	size_t nzones;
	rs_audit_entry_t *alarms; /* newest first */
	size_t nalarms;
	bool audit_read;
};

/* html.c: "2026-12-02 18:00" (UTC); "-" for 0. */
void status_time(int64_t t, char out[24]);
/* timeline.c: the SVG picture of a zone. */
void status_timeline(const rs_status_t *st, const zview_t *z, rs_buf_t *out);
