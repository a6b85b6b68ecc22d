/* Arena and bounded growing buffer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "regsign/base.h"

void rs_prefault(void *ptr, size_t len)
{
	const uintptr_t page = 4096;
	uintptr_t start = ((uintptr_t)ptr + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)ptr + len) & ~(page - 1);
	if (ptr != NULL && end > start + (1 << 20))
		madvise((void *)start, end - start, MADV_POPULATE_WRITE);
}

struct block {
	struct block *next;
	size_t size;
	size_t used;
	uint8_t data[];
};

struct rs_arena {
	struct block *head;
	size_t block_size; /* doubles per block up to max_block: small work stays small */
	size_t max_block;
	size_t total;
};

rs_arena_t *rs_arena_new(size_t block_size)
{
	rs_arena_t *arena = calloc(1, sizeof(*arena));
	if (arena != NULL) {
		arena->max_block = block_size < 65536 ? 65536 : block_size;
		arena->block_size = 65536;
	}
	return arena;
}

void *rs_arena_alloc(rs_arena_t *arena, size_t len)
{
	if (len > SIZE_MAX - 8 - sizeof(struct block))
		return NULL;
	len = (len + 7) & ~(size_t)7;
	struct block *b = arena->head;
	if (b == NULL || b->size - b->used < len) {
		size_t size = len > arena->block_size ? len : arena->block_size;
		if (arena->block_size < arena->max_block)
			arena->block_size *= 2;
		b = malloc(sizeof(*b) + size);
		if (b == NULL)
			return NULL;
		rs_prefault(b, sizeof(*b) + size);
		b->size = size;
		b->used = 0;
		b->next = arena->head;
		arena->head = b;
		arena->total += size;
	}
	void *p = b->data + b->used;
	b->used += len;
	return p;
}

size_t rs_arena_size(const rs_arena_t *arena)
{
	return arena->total;
}

void rs_arena_free(rs_arena_t *arena)
{
	if (arena == NULL)
		return;
	for (struct block *b = arena->head, *next; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(arena);
}

void rs_buf_init(rs_buf_t *buf, size_t max)
{
	buf->data = NULL;
	buf->len = buf->cap = 0;
	buf->max = max;
}

int rs_buf_reserve(rs_buf_t *buf, size_t extra)
{
	if (extra > SIZE_MAX - buf->len)
		return RS_ELIMIT;
	if (buf->len + extra <= buf->cap)
		return RS_EOK;
	if (buf->len + extra > buf->max)
		return RS_ELIMIT;
	size_t cap = buf->cap ? buf->cap : 256;
	while (cap < buf->len + extra)
		cap *= 2;
	if (cap > buf->max)
		cap = buf->max;
	uint8_t *data = realloc(buf->data, cap);
	if (data == NULL)
		return RS_ENOMEM;
	buf->data = data;
	buf->cap = cap;
	return RS_EOK;
}

int rs_buf_append(rs_buf_t *buf, const void *data, size_t len)
{
	if (len == 0)
		return RS_EOK;
	int ret = rs_buf_reserve(buf, len);
	if (ret != RS_EOK)
		return ret;
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	return RS_EOK;
}

int rs_buf_printf(rs_buf_t *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return RS_EINVAL;
	int ret = rs_buf_reserve(buf, (size_t)n + 1);
	if (ret != RS_EOK)
		return ret;
	va_start(ap, fmt);
	vsnprintf((char *)buf->data + buf->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf->len += (size_t)n;
	return RS_EOK;
}

int rs_buf_markup(rs_buf_t *buf, const char *text)
{
	int ret = RS_EOK;
	for (const char *s = text; *s != '\0' && ret == RS_EOK; s++) {
		switch (*s) {
		case '&': ret = rs_buf_append(buf, "&amp;", 5); break;
		case '<': ret = rs_buf_append(buf, "&lt;", 4); break;
		case '>': ret = rs_buf_append(buf, "&gt;", 4); break;
		case '"': ret = rs_buf_append(buf, "&quot;", 6); break;
		case '\'': ret = rs_buf_append(buf, "&#39;", 5); break;
		default:
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				ret = rs_buf_append(buf, "\xef\xbf\xbd", 3);
			else
				ret = rs_buf_append(buf, s, 1);
		}
	}
	return ret;
}

void rs_buf_clear(rs_buf_t *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
}

int rs_buf_read_file(rs_buf_t *buf, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	char chunk[65536];
	size_t n;
	int ret = RS_EOK;
	while (ret == RS_EOK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ret = rs_buf_append(buf, chunk, n);
	if (ret == RS_EOK && ferror(f))
		ret = RS_EIO;
	fclose(f);
	rs_wipe(chunk, sizeof(chunk)); /* the file may be a share */
	if (ret == RS_EOK && (ret = rs_buf_append(buf, "", 1)) == RS_EOK)
		buf->len--;
	return ret;
}
