/* Protobuf wire format for redact.c: a bounds-checked field reader, a strict UTF-8 check, and the edit list
 * that rebuilds a serialized message with some fields replaced or removed and every enclosing length prefix
 * fixed. Header-only (static functions); #include after <Python.h> and redact_text.h (for RtBuf).
 */
#ifndef EDGETEL_REDACT_WIRE_H
#define EDGETEL_REDACT_WIRE_H

#include <stdint.h>
#include <string.h>

/* One field: tag at [start, tag_end), value at [vs, ve) (for wire type 2, after the length prefix), `v` the
 * value of a varint field. */
typedef struct {
    uint32_t num;
    int wt;
    Py_ssize_t start, tag_end, vs, ve;
    uint64_t v;
} Field;

static inline int wire_varint(const uint8_t *b, Py_ssize_t *pos, Py_ssize_t end, uint64_t *out)
{
    uint64_t r = 0;
    Py_ssize_t p = *pos;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t c = b[p++];
        if (shift < 64)
            r |= (uint64_t)(c & 0x7F) << shift;
        if (c < 0x80) {
            *pos = p;
            *out = r;
            return 0;
        }
    }
    return -1;
}

/* 1: a field was read and *pos moved past it; 0: end of the message; -1: malformed (groups too). */
static inline int wire_next(const uint8_t *b, Py_ssize_t *pos, Py_ssize_t end, Field *f)
{
    if (*pos >= end)
        return 0;
    uint64_t tag, len;
    Py_ssize_t p = *pos;
    f->start = p;
    if (wire_varint(b, &p, end, &tag) < 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1FFFFFFF)
        return -1;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (int)(tag & 7);
    f->tag_end = p;
    f->v = 0;
    switch (f->wt) {
    case 0:
        if (wire_varint(b, &p, end, &f->v) < 0)
            return -1;
        f->vs = f->tag_end;
        break;
    case 1:
    case 5: {
        Py_ssize_t w = f->wt == 1 ? 8 : 4;
        if (end - p < w)
            return -1;
        f->vs = p;
        p += w;
        break;
    }
    case 2:
        if (wire_varint(b, &p, end, &len) < 0 || len > (uint64_t)(end - p))
            return -1;
        f->vs = p;
        p += (Py_ssize_t)len;
        break;
    default:
        return -1;
    }
    f->ve = p;
    *pos = p;
    return 1;
}

/* Strict UTF-8 (no overlong forms, no surrogates, at most U+10FFFF), as protobuf requires of strings. */
static int utf8_ok(const uint8_t *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int k;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            k = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else
            return 0;
        if (n - i <= k)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (int j = 2; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        i += k + 1;
    }
    return 1;
}

static Py_ssize_t varint_put(uint8_t *out, uint64_t v)
{
    Py_ssize_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* ---- edits: field [a, b) of the input becomes pool[off, off + len) (len 0: the field is removed) ---- */

typedef struct {
    Py_ssize_t a, b, off, len;
} Edit;

typedef struct {
    Edit *items;
    Py_ssize_t n, cap;
    RtBuf pool;
} Edits;

static void edits_free(Edits *e)
{
    PyMem_Free(e->items);
    e->items = NULL;
    e->n = e->cap = 0;
    rtbuf_free(&e->pool);
}

/* Replace field [a, b) by a field with the tag bytes `tag[0:taglen]` and the length-delimited value s[0:n];
 * tag NULL: remove the field. Edits must be added in input order and must not overlap. */
static int edits_add(Edits *e, Py_ssize_t a, Py_ssize_t b, const uint8_t *tag, Py_ssize_t taglen, const char *s,
                     Py_ssize_t n)
{
    if (e->n == e->cap) {
        Py_ssize_t cap = e->cap ? e->cap * 2 : 16;
        Edit *p = PyMem_Realloc(e->items, (size_t)cap * sizeof(Edit));
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        e->items = p;
        e->cap = cap;
    }
    Edit *ed = &e->items[e->n];
    ed->a = a;
    ed->b = b;
    ed->off = e->pool.len;
    if (tag != NULL) {
        uint8_t lenbuf[10];
        Py_ssize_t ln = varint_put(lenbuf, (uint64_t)n);
        if (rtbuf_put(&e->pool, (const char *)tag, taglen) < 0 || rtbuf_put(&e->pool, (const char *)lenbuf, ln) < 0 ||
            rtbuf_put(&e->pool, s, n) < 0)
            return -1;
    }
    ed->len = e->pool.len - ed->off;
    e->n++;
    return 0;
}

/* Copy message [start, end) of `in` into `out` with the edits from *ei on applied; a length-delimited field
 * that holds an edit is rebuilt recursively and gets a new length prefix. -1: error set. */
static int edits_apply(const Edits *e, const uint8_t *in, Py_ssize_t start, Py_ssize_t end, Py_ssize_t *ei,
                       RtBuf *out, int depth)
{
    Py_ssize_t pos = start, copy_from = start;
    Field f;
    int r;
    while (*ei < e->n && e->items[*ei].a < end) {
        const Edit *ed = &e->items[*ei];
        if ((r = wire_next(in, &pos, end, &f)) <= 0 || depth > 64) {
            PyErr_SetString(PyExc_ValueError, "redact: edit outside the message");
            return -1;
        }
        if (f.ve <= ed->a)
            continue;
        if (rtbuf_put(out, (const char *)in + copy_from, f.start - copy_from) < 0)
            return -1;
        copy_from = f.ve;
        if (ed->a == f.start && ed->b == f.ve) {
            if (rtbuf_put(out, e->pool.data + ed->off, ed->len) < 0)
                return -1;
            (*ei)++;
            continue;
        }
        if (f.wt != 2 || ed->a < f.vs || ed->b > f.ve) {
            PyErr_SetString(PyExc_ValueError, "redact: edit across fields");
            return -1;
        }
        /* the tag and the old length prefix (a guess at the new one's size), then the new value */
        if (rtbuf_put(out, (const char *)in + f.start, f.vs - f.start) < 0)
            return -1;
        Py_ssize_t guess = f.vs - f.tag_end, mark = out->len;
        if (edits_apply(e, in, f.vs, f.ve, ei, out, depth + 1) < 0)
            return -1;
        Py_ssize_t len = out->len - mark;
        uint8_t lenbuf[10];
        Py_ssize_t ln = varint_put(lenbuf, (uint64_t)len);
        if (ln > guess && rtbuf_put(out, (const char *)lenbuf, ln - guess) < 0) /* grows the buffer */
            return -1;
        if (ln != guess) {
            memmove(out->data + mark - guess + ln, out->data + mark, (size_t)len);
            out->len = mark - guess + ln + len;
        }
        memcpy(out->data + mark - guess, lenbuf, (size_t)ln);
    }
    return rtbuf_put(out, (const char *)in + copy_from, end - copy_from);
}

#endif
