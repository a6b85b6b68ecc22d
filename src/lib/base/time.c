/* DNSSEC time values and durations. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "regsign/base.h"

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian); avoids timegm's TZ games. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int rs_time_parse(const char *text, int64_t *out)
{
	size_t len = strlen(text);
	if (len == 0 || len > 20)
		return RS_ESYNTAX;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)text[i]))
			return RS_ESYNTAX;
	if (len != 14) {
		/* Plain seconds since the epoch, as RFC 4034 3.2 also allows. */
		errno = 0;
		long long t = strtoll(text, NULL, 10);
		if (errno == ERANGE)
			return RS_ERANGE;
		*out = t;
		return RS_EOK;
	}
	int v[6];
	static const int width[6] = { 4, 2, 2, 2, 2, 2 };
	const char *p = text;
	for (int i = 0; i < 6; i++) {
		v[i] = 0;
		for (int k = 0; k < width[i]; k++)
			v[i] = v[i] * 10 + (*p++ - '0');
	}
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
	/* A date that does not exist (Feb 30, Apr 31, Feb 29 of a common year) is refused, not rolled over. */
	if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > mdays[v[1] - 1] || (v[1] == 2 && v[2] == 29 && !leap) ||
	    v[3] > 23 || v[4] > 59 || v[5] > 59)
		return RS_ESYNTAX;
	*out = days_from_civil(v[0], (unsigned)v[1], (unsigned)v[2]) * 86400 + v[3] * 3600 +
	       v[4] * 60 + v[5];
	return RS_EOK;
}

void rs_time_format(int64_t t, char out[15])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 15, "%Y%m%d%H%M%S", &tm);
}

int rs_duration_parse(const char *text, int64_t *out)
{
	/* One or more NUMBER[UNIT] parts ("90d", "1h30m"); a bare number is seconds. */
	int64_t total = 0;
	const char *p = text;
	if (!isdigit((unsigned char)*p))
		return RS_ESYNTAX;
	while (*p != '\0') {
		char *end;
		if (!isdigit((unsigned char)*p))
			return RS_ESYNTAX;
		errno = 0;
		long long n = strtoll(p, &end, 10);
		if (errno == ERANGE)
			return RS_ERANGE;
		int64_t unit = 1;
		switch (*end) {
		case '\0': case 's': break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		case 'y': unit = 365 * 86400; break;
		default: return RS_ESYNTAX;
		}
		/* Past a thousand years a duration is a typing error; sums of durations then never overflow. */
		if (n > (long long)((RS_DURATION_MAX - total) / unit))
			return RS_ERANGE;
		total += n * unit;
		p = *end == '\0' ? end : end + 1;
	}
	*out = total;
	return RS_EOK;
}

unsigned rs_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (unsigned)n;
}

bool rs_serial_gt(uint32_t a, uint32_t b)
{
	return a != b && (uint32_t)(a - b) < 0x80000000u;
}
