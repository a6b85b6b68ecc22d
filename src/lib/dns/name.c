/* Wire-form names and the memcmp-ordered canonical key (RFC 4034 6.1). */
#include <string.h>

#include "regsign/dns.h"

size_t rs_dname_len(const uint8_t *wire, size_t max)
{
	size_t pos = 0;
	while (pos < max) {
		uint8_t len = wire[pos];
		if (len > 63)
			return 0; /* compression pointers and extended labels are invalid here */
		pos += (size_t)len + 1;
		if (pos > RS_NAME_MAX)
			return 0;
		if (len == 0)
			return pos;
	}
	return 0;
}

void rs_dname_lower(uint8_t *wire)
{
	while (*wire != 0) {
		uint8_t len = *wire++;
		for (uint8_t i = 0; i < len; i++, wire++)
			if (*wire >= 'A' && *wire <= 'Z')
				*wire += 'a' - 'A';
	}
}

unsigned rs_dname_labels(const uint8_t *wire)
{
	unsigned n = 0;
	while (*wire != 0) {
		wire += *wire + 1;
		n++;
	}
	return n;
}

size_t rs_dname_key(const uint8_t *wire, uint8_t *key)
{
	const uint8_t *label[128];
	unsigned n = 0;
	while (*wire != 0 && n < 128) {
		label[n++] = wire;
		wire += *wire + 1;
	}
	size_t pos = 0;
	while (n-- > 0) {
		const uint8_t *l = label[n];
		for (uint8_t i = 1; i <= l[0]; i++) {
			uint8_t c = l[i];
			if (c <= 1) {
				key[pos++] = 1;
				key[pos++] = c + 1;
			} else {
				key[pos++] = c;
			}
		}
		key[pos++] = 0;
	}
	return pos;
}

rs_name_t *rs_name_new_written(rs_arena_t *arena, const uint8_t *written)
{
	uint8_t lower[RS_NAME_MAX], key[RS_KEY_MAX];
	size_t wire_len = rs_dname_len(written, RS_NAME_MAX);
	memcpy(lower, written, wire_len);
	rs_dname_lower(lower);
	bool mixed = memcmp(lower, written, wire_len) != 0;
	size_t key_len = rs_dname_key(lower, key);
	rs_name_t *n = rs_arena_alloc(arena, sizeof(*n) + wire_len * (mixed ? 2 : 1) + key_len);
	if (n == NULL)
		return NULL;
	n->wire_len = (uint8_t)wire_len;
	n->key_len = (uint16_t)key_len;
	n->labels = (uint8_t)rs_dname_labels(lower);
	n->mixed_case = mixed;
	memcpy(n->data, lower, wire_len);
	memcpy(n->data + wire_len, key, key_len);
	if (mixed)
		memcpy(n->data + wire_len + key_len, written, wire_len);
	return n;
}

rs_name_t *rs_name_new(rs_arena_t *arena, const uint8_t *wire)
{
	return rs_name_new_written(arena, wire);
}

int rs_name_cmp(const rs_name_t *a, const rs_name_t *b)
{
	if (a == b)
		return 0;
	size_t min = a->key_len < b->key_len ? a->key_len : b->key_len;
	int r = memcmp(rs_name_key(a), rs_name_key(b), min);
	if (r != 0)
		return r;
	return (int)a->key_len - (int)b->key_len;
}

bool rs_name_is_sub(const rs_name_t *name, const rs_name_t *ancestor)
{
	return name->key_len >= ancestor->key_len &&
	       memcmp(rs_name_key(name), rs_name_key(ancestor), ancestor->key_len) == 0;
}
