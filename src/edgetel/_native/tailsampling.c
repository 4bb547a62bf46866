/* The tail sampler's intake walk: one pass over a serialized ExportTraceServiceRequest that returns, per
 * (resource, scope) block, its spans grouped by trace id with what the sampler needs of them. The reference
 * implementation is edgetel.processors.tailsampling.buffer.walk_message; see tailsampling.pyi for the shapes.
 *
 * Input is untrusted: every read is bounds-checked, and anything this walker does not mirror exactly (wire
 * types 3, 4, 6 and 7, truncated fields, over-long varints, strings that are not UTF-8) returns None, so the
 * caller uses the Python walker on the parsed message. No global state; memory is bounded by the input size.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "keyed_hash.h"

typedef struct {
    uint32_t num;
    int wt;
    const uint8_t *tag; /* where the field starts (its key) */
    const uint8_t *data; /* payload of wire types 1, 2 and 5 */
    size_t len;
    uint64_t v; /* value of wire type 0 */
} Field;

static int read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end)
            return 0;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* The next field of the message ending at `end`: 1, 0 at the end, -1 when the bytes are not walkable. */
static int next_field(const uint8_t **pp, const uint8_t *end, Field *f) {
    const uint8_t *p = *pp;
    uint64_t key, n;
    if (p >= end)
        return 0;
    f->tag = p;
    f->v = 0;
    if (!read_varint(&p, end, &key) || (key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF)
        return -1;
    f->num = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    switch (f->wt) {
    case 0:
        if (!read_varint(&p, end, &f->v))
            return -1;
        break;
    case 1:
    case 5: {
        size_t w = f->wt == 1 ? 8 : 4;
        if ((size_t)(end - p) < w)
            return -1;
        f->data = p;
        f->len = w;
        p += w;
        break;
    }
    case 2:
        if (!read_varint(&p, end, &n) || n > (uint64_t)(end - p))
            return -1;
        f->data = p;
        f->len = (size_t)n;
        p += n;
        break;
    default:
        return -1;
    }
    *pp = p;
    return 1;
}

static uint64_t fixed64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* An int32 field (an enum) as upb reads it: the low 32 bits of the varint, signed. */
static int64_t int32_of(uint64_t raw) {
    uint32_t u = (uint32_t)raw;
    return u >= 0x80000000u ? (int64_t)u - 0x100000000LL : (int64_t)u;
}

/* The bit a status code sets in a trace's code mask (codes outside 0..62 share bit 63). */
static uint64_t code_bit(uint64_t raw) {
    int64_t c = int32_of(raw);
    return c >= 0 && c < 63 ? (uint64_t)1 << c : (uint64_t)1 << 63;
}

typedef struct {
    const uint8_t *tid, *ts, *name, *frame;
    size_t tid_len, ts_len, name_len, frame_len;
    uint64_t start, end, bit;
    int root;
    Py_ssize_t next; /* the next span of the same trace in this block, or -1 */
} SpanInfo;

typedef struct {
    Py_ssize_t first, last, n;
    size_t size;
} Group;

static int parse_status(const uint8_t *p, const uint8_t *end, uint64_t *code) {
    Field f;
    int r;
    while ((r = next_field(&p, end, &f)) > 0)
        if (f.num == 3 && f.wt == 0)
            *code = f.v;
    return r;
}

static int parse_span(const uint8_t *p, const uint8_t *end, SpanInfo *s) {
    Field f;
    int r;
    size_t parent_len = 0;
    uint64_t code = 0;
    while ((r = next_field(&p, end, &f)) > 0) {
        if (f.wt == 2) {
            switch (f.num) {
            case 1: s->tid = f.data; s->tid_len = f.len; break;
            case 3: s->ts = f.data; s->ts_len = f.len; break;
            case 4: parent_len = f.len; break;
            case 5: s->name = f.data; s->name_len = f.len; break;
            case 15:
                if (parse_status(f.data, f.data + f.len, &code) < 0)
                    return -1;
                break;
            default: break;
            }
        } else if (f.wt == 1 && (f.num == 7 || f.num == 8)) {
            if (f.num == 7)
                s->start = fixed64(f.data);
            else
                s->end = fixed64(f.data);
        }
    }
    s->root = parent_len == 0;
    s->bit = code_bit(code);
    return r;
}

/* A str from UTF-8 bytes; NULL (no exception set) when they are not UTF-8, NULL with an exception otherwise. */
static PyObject *text(const uint8_t *p, size_t n) {
    PyObject *s = PyUnicode_DecodeUTF8(p != NULL ? (const char *)p : "", (Py_ssize_t)n, NULL);
    if (s == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
        PyErr_Clear();
    return s;
}

/* One AnyValue, as far as a reader needs it: tag 0 empty, 1 string, 2 bool, 3 int, 4 double, 5 other. */
typedef struct {
    int tag;
    const uint8_t *s;
    size_t len;
    uint64_t v;
} Val;

/* Feed one AnyValue occurrence into `val` (occurrences merge: the oneof member set last wins). */
static int any_value(const uint8_t *p, const uint8_t *end, Val *val) {
    static const int8_t want[8] = {-1, 2, 0, 0, 1, 2, 2, 2}; /* each member's wire type */
    static const int8_t tags[8] = {0, 1, 2, 3, 4, 5, 5, 5};
    Field f;
    int r;
    while ((r = next_field(&p, end, &f)) > 0) {
        if (f.num < 1 || f.num > 7 || want[f.num] != f.wt)
            continue;
        val->tag = tags[f.num];
        val->s = f.data;
        val->len = f.len;
        val->v = f.wt == 1 ? fixed64(f.data) : f.wt == 2 ? 0 : f.num == 2 ? f.v != 0 : f.v;
    }
    return r;
}

/* One KeyValue: its final key and value. */
static int key_value(const uint8_t *p, const uint8_t *end, const uint8_t **key, size_t *key_len, Val *val) {
    Field f;
    int r;
    *key = NULL;
    *key_len = 0;
    *val = (Val){0, NULL, 0, 0};
    while ((r = next_field(&p, end, &f)) > 0) {
        if (f.num == 1 && f.wt == 2) {
            *key = f.data;
            *key_len = f.len;
        } else if (f.num == 2 && f.wt == 2 && any_value(f.data, f.data + f.len, val) < 0)
            return -1;
    }
    return r;
}

/* The value of resource attribute service.name (the first KeyValue with that key; "" unless a string), looked
 * up over every occurrence of ResourceSpans.resource (upb merges them). 1 found, 0 not found, -1 not walkable. */
static int service_name(const uint8_t *p, const uint8_t *end, const uint8_t **sv, size_t *sv_len) {
    Field rf, af;
    int r, ra;
    while ((r = next_field(&p, end, &rf)) > 0) {
        if (rf.num != 1 || rf.wt != 2)
            continue;
        const uint8_t *q = rf.data, *qend = rf.data + rf.len;
        while ((ra = next_field(&q, qend, &af)) > 0) {
            if (af.num != 1 || af.wt != 2)
                continue;
            const uint8_t *key;
            size_t key_len;
            Val val;
            if (key_value(af.data, af.data + af.len, &key, &key_len, &val) < 0)
                return -1;
            if (key != NULL && key_len == 12 && memcmp(key, "service.name", 12) == 0) {
                *sv = val.tag == 1 ? val.s : NULL;
                *sv_len = val.tag == 1 ? val.len : 0;
                return 1;
            }
        }
        if (ra < 0)
            return -1;
    }
    return r < 0 ? -1 : 0;
}

/* The fields 1 and 3 (resource or scope, and schema_url) of a message, framed, concatenated. */
static int frames(const uint8_t *p, const uint8_t *end, PyObject **out) {
    Field f;
    int r;
    size_t total = 0;
    const uint8_t *q = p;
    while ((r = next_field(&q, end, &f)) > 0)
        if (f.wt == 2 && (f.num == 1 || f.num == 3))
            total += (size_t)(f.data + f.len - f.tag);
    if (r < 0)
        return -1;
    *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (*out == NULL)
        return -2;
    char *w = PyBytes_AS_STRING(*out);
    while (next_field(&p, end, &f) > 0)
        if (f.wt == 2 && (f.num == 1 || f.num == 3)) {
            size_t n = (size_t)(f.data + f.len - f.tag);
            memcpy(w, f.tag, n);
            w += n;
        }
    return 0;
}

/* One (trace id, framed spans, span count, earliest start, latest end, code mask, root name or None, first
 * trace_state) tuple per group. Returns a new reference, NULL with an exception, or NULL without (not UTF-8). */
static PyObject *group_tuple(const SpanInfo *spans, const Group *g) {
    PyObject *data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)g->size);
    if (data == NULL)
        return NULL;
    char *w = PyBytes_AS_STRING(data);
    uint64_t start = UINT64_MAX, end = 0, codes = 0;
    const SpanInfo *root = NULL, *first = &spans[g->first];
    for (Py_ssize_t i = g->first; i >= 0; i = spans[i].next) {
        const SpanInfo *s = &spans[i];
        memcpy(w, s->frame, s->frame_len);
        w += s->frame_len;
        if (s->start < start)
            start = s->start;
        if (s->end > end)
            end = s->end;
        codes |= s->bit;
        if (root == NULL && s->root)
            root = s;
    }
    PyObject *out = PyTuple_New(8);
    if (out == NULL) {
        Py_DECREF(data);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 1, data);
    PyObject *items[6] = {
        PyBytes_FromStringAndSize(first->tid != NULL ? (const char *)first->tid : "", (Py_ssize_t)first->tid_len),
        PyLong_FromSsize_t(g->n),
        PyLong_FromUnsignedLongLong(start),
        PyLong_FromUnsignedLongLong(end),
        PyLong_FromUnsignedLongLong(codes),
        root == NULL ? Py_NewRef(Py_None) : text(root->name, root->name_len),
    };
    static const int at[6] = {0, 2, 3, 4, 5, 6};
    int ok = 1;
    for (int i = 0; i < 6; i++) {
        ok = ok && items[i] != NULL;
        PyTuple_SET_ITEM(out, at[i], items[i] != NULL ? items[i] : Py_NewRef(Py_None));
    }
    PyObject *ts = ok ? text(first->ts, first->ts_len) : NULL;
    if (ts == NULL) {
        Py_DECREF(out);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 7, ts);
    return out;
}

/* The groups of one ScopeSpans message's spans, appended to `out`. 0 ok, -1 not walkable, -2 exception. */
static int scope_groups(const uint8_t *p, const uint8_t *end, PyObject *out) {
    Field f;
    int r, rc = 0;
    Py_ssize_t n = 0, ngroups = 0;
    const uint8_t *q = p;
    while ((r = next_field(&q, end, &f)) > 0)
        n += f.num == 2 && f.wt == 2;
    if (r < 0)
        return -1;
    if (n == 0)
        return 0;
    size_t cap = 16;
    while (cap < (size_t)n * 2)
        cap <<= 1;
    SpanInfo *spans = PyMem_Calloc((size_t)n, sizeof(SpanInfo));
    Group *groups = PyMem_Calloc((size_t)n, sizeof(Group));
    Py_ssize_t *table = PyMem_Malloc(cap * sizeof(Py_ssize_t));
    if (spans == NULL || groups == NULL || table == NULL) {
        PyErr_NoMemory();
        rc = -2;
        goto done;
    }
    memset(table, 0xFF, cap * sizeof(Py_ssize_t)); /* -1: empty slot */
    Py_ssize_t i = 0;
    while (next_field(&p, end, &f) > 0) {
        if (f.num != 2 || f.wt != 2)
            continue;
        SpanInfo *s = &spans[i];
        s->frame = f.tag;
        s->frame_len = (size_t)(f.data + f.len - f.tag);
        s->next = -1;
        if (parse_span(f.data, f.data + f.len, s) < 0) {
            rc = -1;
            goto done;
        }
        size_t slot = (size_t)keyed_hash(s->tid, (Py_ssize_t)s->tid_len) & (cap - 1);
        for (;;) {
            Py_ssize_t gi = table[slot];
            if (gi < 0) {
                table[slot] = ngroups;
                groups[ngroups++] = (Group){i, i, 1, s->frame_len};
                break;
            }
            const SpanInfo *o = &spans[groups[gi].first];
            if (o->tid_len == s->tid_len && (s->tid_len == 0 || memcmp(o->tid, s->tid, s->tid_len) == 0)) {
                Group *g = &groups[gi];
                spans[g->last].next = i;
                g->last = i;
                g->n++;
                g->size += s->frame_len;
                break;
            }
            slot = (slot + 1) & (cap - 1);
        }
        i++;
    }
    for (Py_ssize_t gi = 0; gi < ngroups; gi++) {
        PyObject *t = group_tuple(spans, &groups[gi]);
        if (t == NULL) {
            rc = PyErr_Occurred() ? -2 : -1;
            goto done;
        }
        int e = PyList_Append(out, t);
        Py_DECREF(t);
        if (e < 0) {
            rc = -2;
            goto done;
        }
    }
done:
    PyMem_Free(spans);
    PyMem_Free(groups);
    PyMem_Free(table);
    return rc;
}

/* The blocks of one ResourceSpans message, appended to `out`. 0 ok, -1 not walkable, -2 exception. */
static int resource_blocks(void *ctx, const uint8_t *p, const uint8_t *end, PyObject *out) {
    const uint8_t *sv = NULL;
    size_t sv_len = 0;
    int found = service_name(p, end, &sv, &sv_len);
    if (found < 0)
        return -1;
    PyObject *rframe = NULL, *service = NULL;
    int rc = frames(p, end, &rframe);
    if (rc < 0)
        return rc;
    service = text(sv, sv_len); /* sv is NULL only with sv_len 0 */
    if (service == NULL) {
        Py_DECREF(rframe);
        return PyErr_Occurred() ? -2 : -1;
    }
    Field f;
    while (rc == 0 && next_field(&p, end, &f) > 0) {
        if (f.num != 2 || f.wt != 2)
            continue;
        PyObject *sframe = NULL, *groups = PyList_New(0);
        if (groups == NULL) {
            rc = -2;
            break;
        }
        rc = frames(f.data, f.data + f.len, &sframe);
        if (rc == 0)
            rc = scope_groups(f.data, f.data + f.len, groups);
        if (rc == 0 && PyList_GET_SIZE(groups) > 0) {
            PyObject *block = PyTuple_Pack(4, rframe, sframe, service, groups);
            if (block == NULL || PyList_Append(out, block) < 0)
                rc = -2;
            Py_XDECREF(block);
        }
        Py_XDECREF(sframe);
        Py_DECREF(groups);
    }
    Py_DECREF(rframe);
    Py_DECREF(service);
    return rc;
}

typedef int (*ResourceFn)(void *ctx, const uint8_t *p, const uint8_t *end, PyObject *out);

/* `fn` over every ResourceSpans of a request: the list it filled, None (not walkable) or NULL (an exception). */
static PyObject *each_resource(const uint8_t *p, const uint8_t *end, ResourceFn fn, void *ctx) {
    PyObject *out = PyList_New(0);
    int rc = out == NULL ? -2 : 0, r = 0;
    Field f;
    while (rc == 0 && (r = next_field(&p, end, &f)) > 0)
        if (f.num == 1 && f.wt == 2)
            rc = fn(ctx, f.data, f.data + f.len, out);
    if (rc == 0 && r < 0)
        rc = -1;
    if (rc == 0)
        return out;
    Py_XDECREF(out);
    if (rc == -2)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *walk(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const uint8_t *p = view.buf;
    PyObject *out = each_resource(p, p + view.len, resource_blocks, NULL);
    PyBuffer_Release(&view);
    return out;
}

#include "tailsampling_spanmetrics.h"

static PyMethodDef methods[] = {
    {"walk", walk, METH_O,
     "walk(raw) -> [(resource, scope, service, [(trace_id, spans, n, start, end, codes, root_name, "
     "trace_state)])] or None: spans grouped by trace per resource/scope block (None: use the Python walker)."},
    {"span_metrics", span_metrics, METH_VARARGS,
     "span_metrics(raw, scale, bounds, dims) -> [(service, resource dimension values, [(name, kind, code, span "
     "dimension values, calls, duration sum, bucket counts)])] or None: the spanmetrics aggregate of a request."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "tailsampling", "The tail sampler's intake walk.", -1,
                                    methods};

PyMODINIT_FUNC PyInit_tailsampling(void) { return PyModule_Create(&module); }
