/*
 * regsign-genzone: a synthetic, deterministic registry (TLD) zone for the tests and benchmarks.
 *
 *   regsign-genzone ORIGIN N [--ds FRACTION] [--glue FRACTION] [--seed S] [--serial N] [-o FILE]
 *
 * The zone is delegation-only, shaped like a registry zone such as cloud.:
 *   - apex SOA and 4 apex NS a..d.nic.ORIGIN, whose A/AAAA glue sits under the delegated
 *     nic.ORIGIN (so it is glue, not authoritative data);
 *   - N delegations with 2 NS each; most point out of bailiwick (ns1/ns2.hostingK.net. etc.),
 *     a --glue fraction in bailiwick (ns1/ns2.LABEL.ORIGIN) with A + AAAA glue;
 *   - one DS (key tag, algorithm 13 or 8, digest type 2) for a --ds fraction of them;
 *   - TTL 3600 everywhere.
 *
 * The output is a function of the arguments alone: the generator has its own PRNG (xoshiro256**
 * seeded through splitmix64), so the same arguments give the same bytes on every machine. It
 * has the shape of ../shared/bench/gen-tld-zone (Python) but not its bytes. Memory is one hash
 * set of 8-byte label hashes, at most 22 bytes per delegation. Only libc is used.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen, O_DIRECTORY: also when built on its own */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROG "regsign-genzone"
#define TTL 3600
#define MAX_DELEGATIONS 50000000ULL /* the label set then takes at most 1 GiB */
#define MAX_LABEL 15
/* Longest owner name written below the origin: "ns2." + label + "." */
#define MAX_PREFIX (4 + MAX_LABEL + 1)

static const char usage_text[] =
	"usage: " PROG " ORIGIN N [--ds FRACTION] [--glue FRACTION] [--seed S] [--serial N]\n"
	"                       [-o FILE]\n"
	"Write a synthetic, deterministic registry zone of N delegations under ORIGIN.\n"
	"\n"
	"  --ds FRACTION        share of delegations with a DS record (default 0.2)\n"
	"  --glue FRACTION      share with in-bailiwick NS and A + AAAA glue (default 0.05)\n"
	"  --seed S             PRNG seed, 0 to 2^64-1 (default 1): same arguments, same bytes\n"
	"  --serial N           SOA serial (default 2024010101)\n"
	"  -o, --output FILE    write FILE atomically (default '-', standard output)\n"
	"  -h, --help           show this help\n"
	"N is at most 50000000; memory is at most 22 bytes per delegation.\n"
	"\n"
	"example:\n"
	"  " PROG " cloud. 1000000 --ds 0.2 -o /tmp/bench/tld-1000000.zone\n";

/* ---- PRNG: xoshiro256** (Blackman, Vigna), seeded through splitmix64 as its authors advise */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform in [0, n), n > 0: rejects the short top range so that no value is favoured. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	uint64_t min = -n % n;
	uint64_t x;
	do
		x = rng_next(r);
	while (x < min);
	return x % n;
}

/* Uniform in [lo, hi). */
static inline unsigned rng_range(struct rng *r, unsigned lo, unsigned hi)
{
	return lo + (unsigned)rng_below(r, hi - lo);
}

/* True with probability p: 53 random bits as a double in [0, 1). */
static inline bool rng_chance(struct rng *r, double p)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53 < p;
}

/* ---- labels */

static const char alpha[] = "abcdefghijklmnopqrstuvwxyz";
static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";

/* Rough shape of second-level label lengths in real registries (3..15), in percent. */
static const unsigned len_weight[MAX_LABEL + 1] = {
	[3] = 3, [4] = 6, [5] = 9, [6] = 11, [7] = 12, [8] = 12, [9] = 11,
	[10] = 9, [11] = 8, [12] = 6, [13] = 5, [14] = 4, [15] = 4,
};

static unsigned label_length(struct rng *r)
{
	unsigned total = 0;
	for (unsigned n = 0; n <= MAX_LABEL; n++)
		total += len_weight[n];
	unsigned x = (unsigned)rng_below(r, total);
	unsigned n = 0;
	while (x >= len_weight[n])
		x -= len_weight[n++];
	return n;
}

/* A label into buf (MAX_LABEL + 1 bytes); returns its length. */
static unsigned make_label(struct rng *r, char *buf)
{
	unsigned n = label_length(r);
	/* Mostly letters with some digits, like real registrations. */
	for (unsigned i = 0; i < n; i++)
		buf[i] = rng_chance(r, 0.85) ? alpha[rng_below(r, 26)] : alnum[rng_below(r, 36)];
	/*
	 * About 12 % get one or two interior hyphens: never at either end, and never at positions
	 * 3-4, where "--" marks an IDN A-label (RFC 5891, section 4.2.3.1).
	 */
	if (n >= 5 && rng_chance(r, 0.12)) {
		int hyphens = rng_chance(r, 0.8) ? 1 : 2;
		for (int h = 0; h < hyphens; h++) {
			unsigned p = rng_range(r, 1, n - 1);
			if (p == 2 || p == 3)
				p = n > 5 ? 4 : 1;
			if (buf[p - 1] != '-' && buf[p + 1] != '-')
				buf[p] = '-';
		}
	}
	buf[n] = '\0';
	return n;
}

/*
 * The set of labels already used, as 64-bit hashes with open addressing. Two labels with the
 * same hash only make the second one drawn again, so names stay unique without keeping text.
 */
struct label_set {
	uint64_t *slot; /* 0 is an empty slot */
	uint64_t mask;
};

static uint64_t label_hash(const char *label, unsigned len)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then splitmix64's finaliser to spread it */
	for (unsigned i = 0; i < len; i++)
		h = (h ^ (unsigned char)label[i]) * 0x100000001b3ULL;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h != 0 ? h : 1;
}

static int label_set_init(struct label_set *set, uint64_t entries)
{
	uint64_t size = 1024;
	while (size < entries + entries / 3) /* load at most 3/4 */
		size <<= 1;
	set->slot = calloc(size, sizeof(*set->slot));
	set->mask = size - 1;
	return set->slot != NULL ? 0 : -1;
}

/* Adds the label; false when it was already there. */
static bool label_set_add(struct label_set *set, const char *label, unsigned len)
{
	uint64_t h = label_hash(label, len);
	for (uint64_t i = h & set->mask;; i = (i + 1) & set->mask) {
		if (set->slot[i] == h)
			return false;
		if (set->slot[i] == 0) {
			set->slot[i] = h;
			return true;
		}
	}
}

/* ---- records */

static void put_ipv4(FILE *out, struct rng *r)
{
	static const unsigned first[] = { 45, 62, 81, 91, 141, 176, 185, 193, 195, 212, 217 };
	unsigned a = first[rng_below(r, sizeof(first) / sizeof(first[0]))];
	unsigned b = rng_range(r, 0, 256), c = rng_range(r, 0, 256), d = rng_range(r, 1, 255);
	fprintf(out, "%u.%u.%u.%u\n", a, b, c, d);
}

static void put_ipv6(FILE *out, struct rng *r)
{
	unsigned a = rng_range(r, 0, 256), b = rng_range(r, 1, 0xffff);
	unsigned c = rng_range(r, 0, 0xffff), d = rng_range(r, 0, 0xffff);
	unsigned e = rng_range(r, 1, 0xffff);
	fprintf(out, "2a%02x:%x:%x:%x::%x\n", a, b, c, d, e);
}

static void put_ds(FILE *out, struct rng *r, const char *owner, unsigned alg)
{
	unsigned tag = rng_range(r, 0, 65536);
	fprintf(out, "%s %d IN DS %u %u 2 ", owner, TTL, tag, alg);
	for (int i = 0; i < 4; i++) /* a SHA-256 digest's 64 hex digits */
		fprintf(out, "%016" PRIX64, rng_next(r));
	fputc('\n', out);
}

/* Hosting providers' top-level domains; those at or above the origin are left out (generate). */
static const char *const hosting_tld[] = { "net", "com", "org", "io", "de", "eu", "cloud", "info" };

struct params {
	const char *origin; /* lowercase, ends in a dot, not the root */
	uint64_t n;
	double ds, glue;
	uint64_t seed;
	uint32_t serial;
};

static int generate(FILE *out, const struct params *p)
{
	struct rng r;
	rng_seed(&r, p->seed);
	struct label_set seen;
	if (label_set_init(&seen, p->n + 1) != 0) {
		fprintf(stderr, PROG ": out of memory for %" PRIu64 " labels\n", p->n);
		return -1;
	}
	const char *o = p->origin;
	/*
	 * Hosting names must be out of bailiwick: neither under the origin nor the origin itself,
	 * so a top-level domain at or above the origin is not used at all.
	 */
	const char *tlds[sizeof(hosting_tld) / sizeof(hosting_tld[0])];
	unsigned ntlds = 0;
	size_t olen = strlen(o);
	for (unsigned i = 0; i < sizeof(hosting_tld) / sizeof(hosting_tld[0]); i++) {
		size_t tlen = strlen(hosting_tld[i]);
		bool above = olen >= tlen + 1 &&
			     strncmp(o + olen - tlen - 1, hosting_tld[i], tlen) == 0 &&
			     (olen == tlen + 1 || o[olen - tlen - 2] == '.');
		if (!above)
			tlds[ntlds++] = hosting_tld[i];
	}
	/* About 40 delegations per hosting provider. */
	uint64_t nhosts = p->n / 40 > 10 ? p->n / 40 : 10;

	fprintf(out,
		"; synthetic registry zone (" PROG "): origin=%s n=%" PRIu64 " ds=%g glue=%g"
		" seed=%" PRIu64 " serial=%" PRIu32 "\n",
		o, p->n, p->ds, p->glue, p->seed, p->serial);
	fprintf(out, "$ORIGIN %s\n$TTL %d\n", o, TTL);
	fprintf(out, "@ %d IN SOA a.nic.%s hostmaster.nic.%s %" PRIu32 " 1800 900 604800 3600\n",
		TTL, o, o, p->serial);
	for (const char *s = "abcd"; *s != '\0'; s++)
		fprintf(out, "@ %d IN NS %c.nic.%s\n", TTL, *s, o);
	/* The registry's own infrastructure domain: delegated, signed (DS), with glue. */
	fprintf(out, "nic %d IN NS a.nic.%s\nnic %d IN NS b.nic.%s\n", TTL, o, TTL, o);
	put_ds(out, &r, "nic", 13);
	for (const char *s = "abcd"; *s != '\0'; s++) {
		fprintf(out, "%c.nic %d IN A ", *s, TTL);
		put_ipv4(out, &r);
		fprintf(out, "%c.nic %d IN AAAA ", *s, TTL);
		put_ipv6(out, &r);
	}
	label_set_add(&seen, "nic", 3);

	char label[MAX_LABEL + 1];
	for (uint64_t k = 0; k < p->n; k++) {
		unsigned len;
		do
			len = make_label(&r, label);
		while (!label_set_add(&seen, label, len));
		if (rng_chance(&r, p->glue)) {
			fprintf(out, "%s %d IN NS ns1.%s.%s\n%s %d IN NS ns2.%s.%s\n", label, TTL,
				label, o, label, TTL, label, o);
			for (int i = 1; i <= 2; i++) {
				fprintf(out, "ns%d.%s %d IN A ", i, label, TTL);
				put_ipv4(out, &r);
				fprintf(out, "ns%d.%s %d IN AAAA ", i, label, TTL);
				put_ipv6(out, &r);
			}
		} else {
			uint64_t h = rng_below(&r, nhosts);
			const char *tld = tlds[h % ntlds];
			fprintf(out,
				"%s %d IN NS ns1.hosting%" PRIu64 ".%s.\n"
				"%s %d IN NS ns2.hosting%" PRIu64 ".%s.\n",
				label, TTL, h, tld, label, TTL, h, tld);
		}
		if (rng_chance(&r, p->ds))
			put_ds(out, &r, label, rng_chance(&r, 0.8) ? 13 : 8);
	}
	free(seen.slot);
	return 0;
}

/* ---- arguments */

/* Prints one line about a bad argument and returns the usage exit status, 2. */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 2;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	if (*s < '0' || *s > '9') /* strtoull would take "-1" and leading blanks */
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_fraction(const char *s, double *out)
{
	errno = 0;
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v < 0 || v > 1)
		return false;
	*out = v;
	return true;
}

/*
 * Lowercases ORIGIN and adds the final dot into buf. Host-name characters only, so that the
 * zone needs no escapes; room is left for the longest name written under it (RFC 1035, 2.3.4).
 */
static bool parse_origin(const char *s, char *buf, size_t size)
{
	size_t len = strlen(s);
	if (len == 0 || strcmp(s, ".") == 0 || len + 2 > size)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			   c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
		buf[i] = c;
	}
	if (buf[len - 1] != '.')
		buf[len++] = '.';
	buf[len] = '\0';
	/* Wire length: one byte more than the text, plus the root's zero byte. */
	return MAX_PREFIX + len + 1 <= 255;
}

/* ---- output: a temporary file renamed over FILE, or straight to a stream */

struct output {
	FILE *stream;
	const char *path;
	char *tmp; /* NULL when written directly */
};

/* "-", and targets that are not regular files (/dev/null, a pipe), are written directly. */
static int output_open(struct output *o, const char *path)
{
	struct stat st;
	o->path = path;
	o->tmp = NULL;
	if (strcmp(path, "-") == 0) {
		o->stream = stdout;
	} else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		o->stream = fopen(path, "w");
	} else {
		size_t size = strlen(path) + sizeof(".tmp.XXXXXX");
		int fd = -1;
		if ((o->tmp = malloc(size)) != NULL) {
			snprintf(o->tmp, size, "%s.tmp.XXXXXX", path);
			fd = mkstemp(o->tmp);
		}
		if (fd < 0) {
			fprintf(stderr, PROG ": cannot create '%s': %s\n", path, strerror(errno));
			free(o->tmp);
			return -1;
		}
		/* mkstemp makes the file 0600: give it the mode fopen would. */
		mode_t mask = umask(0);
		umask(mask);
		if (fchmod(fd, 0666 & ~mask) != 0 || (o->stream = fdopen(fd, "w")) == NULL) {
			fprintf(stderr, PROG ": cannot create '%s': %s\n", path, strerror(errno));
			close(fd);
			unlink(o->tmp);
			free(o->tmp);
			return -1;
		}
	}
	if (o->stream == NULL) {
		fprintf(stderr, PROG ": cannot open '%s': %s\n", path, strerror(errno));
		return -1;
	}
	setvbuf(o->stream, NULL, _IOFBF, 1 << 20);
	return 0;
}

/*
 * Flushes and closes. A temporary file is renamed over the target when everything was written
 * (ok), and removed otherwise.
 */
static int output_close(struct output *o, bool ok)
{
	const char *what = NULL;
	int err = 0;
	if (ok && (fflush(o->stream) != 0 || ferror(o->stream) ||
		   (o->tmp != NULL && fsync(fileno(o->stream)) != 0)))
		what = "write", err = errno;
	if (o->stream != stdout && fclose(o->stream) != 0 && ok && what == NULL)
		what = "write", err = errno;
	if (ok && what == NULL && o->tmp != NULL) {
		if (rename(o->tmp, o->path) == 0) {
			/* Make the rename itself durable. */
			char *dir = strdup(o->path);
			int dfd = dir != NULL ? open(dirname(dir), O_RDONLY | O_DIRECTORY) : -1;
			if (dfd >= 0) {
				fsync(dfd);
				close(dfd);
			}
			free(dir);
		} else {
			what = "rename onto", err = errno;
		}
	}
	if (o->tmp != NULL && (!ok || what != NULL))
		unlink(o->tmp);
	free(o->tmp);
	if (what != NULL)
		fprintf(stderr, PROG ": cannot %s '%s': %s\n", what,
			o->stream == stdout ? "standard output" : o->path, strerror(err));
	return ok && what == NULL ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct params p = { .ds = 0.2, .glue = 0.05, .seed = 1, .serial = 2024010101 };
	const char *output = "-";
	const char *pos[2];
	int npos = 0;
	bool options = true;
	char origin[256];

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		/* "-5" is a (bad) number of delegations, not an option. */
		if (!options || arg[0] != '-' || arg[1] == '\0' ||
		    (arg[1] >= '0' && arg[1] <= '9')) {
			if (npos == 2)
				return usage_error("unexpected argument '%s'", arg);
			pos[npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			options = false;
			continue;
		}
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
		/* Every other option takes a value: "--ds 0.3" or "--ds=0.3". */
		char name[16];
		const char *value = NULL, *eq = strchr(arg, '=');
		size_t nlen = eq != NULL && arg[1] == '-' ? (size_t)(eq - arg) : strlen(arg);
		if (nlen >= sizeof(name))
			return usage_error("unknown option '%s' (see --help)", arg);
		memcpy(name, arg, nlen);
		name[nlen] = '\0';
		if (nlen < strlen(arg))
			value = arg + nlen + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		bool known = strcmp(name, "--ds") == 0 || strcmp(name, "--glue") == 0 ||
			     strcmp(name, "--seed") == 0 || strcmp(name, "--serial") == 0 ||
			     strcmp(name, "-o") == 0 || strcmp(name, "--output") == 0;
		if (!known)
			return usage_error("unknown option '%s' (see --help)", arg);
		if (value == NULL)
			return usage_error("missing value for '%s'", name);
		uint64_t v;
		if (strcmp(name, "--ds") == 0) {
			if (!parse_fraction(value, &p.ds))
				return usage_error("invalid --ds fraction '%s' (want 0 to 1)",
						   value);
		} else if (strcmp(name, "--glue") == 0) {
			if (!parse_fraction(value, &p.glue))
				return usage_error("invalid --glue fraction '%s' (want 0 to 1)",
						   value);
		} else if (strcmp(name, "--seed") == 0) {
			if (!parse_u64(value, UINT64_MAX, &p.seed))
				return usage_error("invalid seed '%s' (want 0 to 2^64-1)", value);
		} else if (strcmp(name, "--serial") == 0) {
			if (!parse_u64(value, UINT32_MAX, &v))
				return usage_error("invalid serial '%s' (want 0 to 4294967295)",
						   value);
			p.serial = (uint32_t)v;
		} else {
			if (*value == '\0')
				return usage_error("empty output file name");
			output = value;
		}
	}
	if (npos < 2)
		return usage_error("missing %s (see --help)", npos == 0 ? "ORIGIN and N" : "N");
	if (!parse_origin(pos[0], origin, sizeof(origin)))
		return usage_error("invalid origin '%s' (want a host name under the root, "
				   "at most 234 characters)", pos[0]);
	if (!parse_u64(pos[1], MAX_DELEGATIONS, &p.n))
		return usage_error("invalid number of delegations '%s' (want 0 to 50000000)",
				   pos[1]);
	p.origin = origin;

	struct output out;
	if (output_open(&out, output) != 0)
		return 1;
	int ret = generate(out.stream, &p);
	return output_close(&out, ret == 0) == 0 ? 0 : 1;
}
