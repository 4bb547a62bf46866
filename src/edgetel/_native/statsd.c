/* edgetel._native.statsd: the StatsD receiver's hot path (see receivers/statsd/aggregator.py, the reference).

`Table.digest(blob, resolve)` splits newline-separated lines, finds `name:values|tail`, looks the `name|tail`
prefix up in a hash table of bytes (no Python object per line) and adds the value(s) to the prefix's Acc:
counters (value / rate), explicit-bucket histograms and timers (bisect, count, sum; ms scaled to s) and gauges
(in packet order). A prefix the table does not know is passed to `resolve(name, tail)`, which returns None (not
cached), `(None, 0.0, 0)` (the Python path takes it: events, errors, sets...; up to MAX_FALLBACK such prefixes
are cached) or `(acc, 1/rate, ts_ns)`.
Every line it does not aggregate itself (those, and any value float() refuses or the series refuses: NaN,
negative counters, several values on a counter or histogram line) is returned for the Python path, which names
the error. Values are read exactly as Python's float() reads them. `sync()` applies the pending state to the
Python series. No global mutable state; memory is bounded by MAX_ENTRIES prefixes (then the table is cleared).
`recv_burst` (Linux) reads datagrams with recvmmsg into a listener's staging buffer (statsd_recv.h).
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "keyed_hash.h"
#include "statsd_acc.h"
#include "statsd_recv.h"

#define MAX_ENTRIES 200000
#define MAX_FALLBACK 20000 /* prefixes for the Python path cached (garbage must not evict or grow much) */
#define MAX_FAST_VALUE 64

typedef struct {
    uint64_t hash;
    char *key; /* name bytes then tail bytes; NULL: an empty slot */
    Py_ssize_t nlen, tlen;
    AccObject *acc; /* NULL: a prefix the Python path takes */
    double inv_rate;
    int64_t ts;
} Entry;

typedef struct {
    PyObject_HEAD
    Entry *slots;
    size_t cap, count; /* cap: a power of two, 0 before the first insert */
    size_t nfallback;  /* entries without an Acc */
    AccObject **dirty;
    size_t ndirty, dirty_cap;
    int busy; /* inside digest: resolve() must not re-enter the table */
} TableObject;

static uint64_t prefix_hash(const char *name, Py_ssize_t nlen, const char *tail, Py_ssize_t tlen)
{
    return keyed_hash(name, nlen) * 0x9E3779B97F4A7C15ULL ^ keyed_hash(tail, tlen);
}

/* The table is emptied before any Acc is released: releasing one can run Python code (a series' __del__) that
   uses the table again. */
static void table_clear(TableObject *t)
{
    Entry *slots = t->slots;
    size_t cap = t->cap;
    t->slots = NULL;
    t->cap = t->count = t->nfallback = 0;
    for (size_t i = 0; i < cap; i++) {
        if (slots[i].key != NULL) {
            PyMem_Free(slots[i].key);
            Py_XDECREF(slots[i].acc);
        }
    }
    PyMem_Free(slots);
}

static Entry *lookup(TableObject *t, uint64_t h, const char *name, Py_ssize_t nlen, const char *tail, Py_ssize_t tlen)
{
    if (t->cap == 0)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        Entry *e = &t->slots[i];
        if (e->key == NULL)
            return NULL;
        if (e->hash == h && e->nlen == nlen && e->tlen == tlen && memcmp(e->key, name, (size_t)nlen) == 0 &&
            memcmp(e->key + nlen, tail, (size_t)tlen) == 0)
            return e;
    }
}

static int grow(TableObject *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    Entry *slots = PyMem_Calloc(cap, sizeof(Entry));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < t->cap; i++) {
        Entry *e = &t->slots[i];
        if (e->key == NULL)
            continue;
        size_t j = (size_t)e->hash & (cap - 1);
        while (slots[j].key != NULL)
            j = (j + 1) & (cap - 1);
        slots[j] = *e;
    }
    PyMem_Free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* Insert a prefix known to be absent; `acc` is borrowed (may be NULL). */
static Entry *insert(TableObject *t, uint64_t h, const char *name, Py_ssize_t nlen, const char *tail,
                     Py_ssize_t tlen, AccObject *acc, double inv_rate, int64_t ts)
{
    if (t->count >= MAX_ENTRIES)
        table_clear(t);
    if ((t->count + 1) * 2 > t->cap && grow(t) < 0)
        return NULL;
    char *key = PyMem_Malloc((size_t)(nlen + tlen) + 1);
    if (key == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(key, name, (size_t)nlen);
    memcpy(key + nlen, tail, (size_t)tlen);
    size_t mask = t->cap - 1, i = (size_t)h & mask;
    while (t->slots[i].key != NULL)
        i = (i + 1) & mask;
    Entry *e = &t->slots[i];
    e->hash = h;
    e->key = key;
    e->nlen = nlen;
    e->tlen = tlen;
    Py_XINCREF(acc);
    e->acc = acc;
    e->inv_rate = inv_rate;
    e->ts = ts;
    t->count++;
    t->nfallback += acc == NULL;
    return e;
}

static const Entry fallback_entry; /* never written: a prefix for the Python path, not cached */

/* Ask resolve() about an unknown prefix. Returns the new entry, or NULL: the Python path takes the line (not
   cached), or an error is set. */
static const Entry *resolve_prefix(TableObject *t, PyObject *resolve, uint64_t h, const char *name, Py_ssize_t nlen,
                                   const char *tail, Py_ssize_t tlen)
{
    PyObject *pn = PyBytes_FromStringAndSize(name, nlen);
    PyObject *pt = pn ? PyBytes_FromStringAndSize(tail, tlen) : NULL;
    PyObject *r = pt ? PyObject_CallFunctionObjArgs(resolve, pn, pt, NULL) : NULL;
    Py_XDECREF(pn);
    Py_XDECREF(pt);
    if (r == NULL || r == Py_None) {
        Py_XDECREF(r);
        return NULL;
    }
    const Entry *e = NULL;
    if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 3) {
        PyErr_SetString(PyExc_TypeError, "resolve() must return None or (Acc | None, float, int)");
        goto done;
    }
    PyObject *acc = PyTuple_GET_ITEM(r, 0);
    if (acc != Py_None && (!PyObject_TypeCheck(acc, &AccType) || ((AccObject *)acc)->series == NULL)) {
        PyErr_SetString(PyExc_TypeError, "resolve() returned something other than an initialised Acc");
        goto done;
    }
    double inv_rate = PyFloat_AsDouble(PyTuple_GET_ITEM(r, 1));
    if (inv_rate == -1.0 && PyErr_Occurred())
        goto done;
    long long ts = PyLong_AsLongLong(PyTuple_GET_ITEM(r, 2));
    if (ts == -1 && PyErr_Occurred())
        goto done;
    if (acc == Py_None && t->nfallback >= MAX_FALLBACK)
        e = &fallback_entry; /* not cached */
    else
        e = insert(t, h, name, nlen, tail, tlen, acc == Py_None ? NULL : (AccObject *)acc, inv_rate, ts);
done:
    Py_DECREF(r);
    return e;
}

/* The value of s[0:n] as Python's float() reads it: 1, or 0 when float() refuses it, or -1 with an error set. */
static int parse_value(const char *s, Py_ssize_t n, double *out)
{
    if (n <= 0)
        return 0;
    if (n <= 15) { /* plain digits: exact as an integer */
        uint64_t x = 0;
        Py_ssize_t i = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            x = x * 10 + (uint64_t)(s[i] - '0');
        if (i == n) {
            *out = (double)x;
            return 1;
        }
    }
    int plain = n < MAX_FAST_VALUE;
    for (Py_ssize_t i = 0; plain && i < n; i++)
        plain = (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' ||
                s[i] == '-';
    if (plain) { /* what float() does after stripping whitespace and underscores, neither present here */
        char tmp[MAX_FAST_VALUE];
        memcpy(tmp, s, (size_t)n);
        tmp[n] = '\0';
        char *end = NULL;
        double v = PyOS_string_to_double(tmp, &end, NULL);
        if (v == -1.0 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_ValueError))
                return -1;
            PyErr_Clear();
            return 0;
        }
        if (end != tmp + n)
            return 0;
        *out = v;
        return 1;
    }
    PyObject *b = PyBytes_FromStringAndSize(s, n); /* whitespace, `_`, inf, nan, garbage: float() itself */
    if (b == NULL)
        return -1;
    PyObject *f = PyFloat_FromString(b);
    Py_DECREF(b);
    if (f == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError))
            return -1;
        PyErr_Clear();
        return 0;
    }
    *out = PyFloat_AS_DOUBLE(f);
    Py_DECREF(f);
    return 1;
}

static int mark_dirty(TableObject *t, AccObject *a)
{
    if (a->dirty)
        return 0;
    if (t->ndirty == t->dirty_cap) {
        size_t cap = t->dirty_cap ? t->dirty_cap * 2 : 256;
        AccObject **d = PyMem_Realloc(t->dirty, cap * sizeof(AccObject *));
        if (d == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        t->dirty = d;
        t->dirty_cap = cap;
    }
    Py_INCREF(a);
    t->dirty[t->ndirty++] = a;
    a->dirty = 1;
    return 0;
}

static void gauge_set(AccObject *a, const char *part, double x)
{
    if (a->deltas && (part[0] == '+' || part[0] == '-')) {
        if (a->mode == GAUGE_NONE)
            a->mode = GAUGE_DELTAS;
        a->value += x;
    } else {
        a->mode = GAUGE_ABSOLUTE;
        a->value = x;
    }
}

/* Gauge values `v`, `+v`, `v1:+v2:..` in order; all must be valid and finite, else nothing is applied. */
static int apply_gauge(TableObject *t, const Entry *e, const char *v, Py_ssize_t n)
{
    double x;
    int r;
    /* several parts: validate every one (pass 0), then apply them (pass 1); a single value is applied at once */
    for (int pass = memchr(v, ':', (size_t)n) == NULL; pass < 2; pass++) {
        for (Py_ssize_t start = 0; start <= n;) {
            const char *c = memchr(v + start, ':', (size_t)(n - start));
            Py_ssize_t stop = c ? c - v : n;
            if ((r = parse_value(v + start, stop - start, &x)) <= 0)
                return r;
            if (!isfinite(x))
                return 0;
            if (pass == 1)
                gauge_set(e->acc, v + start, x);
            start = stop + 1;
        }
    }
    if (e->ts)
        e->acc->ts = e->ts;
    return mark_dirty(t, e->acc) < 0 ? -1 : 1;
}

/* Aggregate the value text of one line: 1 done, 0 for the Python path, -1 error. */
static int apply(TableObject *t, const Entry *e, const char *v, Py_ssize_t n)
{
    AccObject *a = e->acc;
    if (a->kind == KIND_GAUGE)
        return apply_gauge(t, e, v, n);
    if (memchr(v, ':', (size_t)n) != NULL) /* several values: rare, the Python path sums them */
        return 0;
    double x;
    int r = parse_value(v, n, &x);
    if (r <= 0)
        return r;
    if (a->kind == KIND_COUNTER) {
        if (!(x >= 0.0) || !isfinite(x))
            return 0;
        a->value += x * e->inv_rate;
        if (e->ts)
            a->ts = e->ts;
    } else {
        x *= a->scale;
        if (!isfinite(x) || (x < 0.0 && a->scale != 1.0))
            return 0;
        Py_ssize_t lo = 0, hi = a->nb; /* bisect_left: a value equal to a bound goes below it */
        while (lo < hi) {
            Py_ssize_t mid = (lo + hi) / 2;
            if (a->bounds[mid] < x)
                lo = mid + 1;
            else
                hi = mid;
        }
        double w = e->inv_rate;
        a->buckets[lo] += w;
        a->count += w;
        a->sum += x * w;
    }
    return mark_dirty(t, a) < 0 ? -1 : 1;
}

/* One non-empty line: 1 aggregated, 0 for the Python path, -1 error. */
static int take_line(TableObject *t, PyObject *resolve, const char *line, Py_ssize_t len)
{
    const char *bar = memchr(line, '|', (size_t)len);
    if (bar == NULL)
        return 0;
    const char *colon = memchr(line, ':', (size_t)(bar - line));
    if (colon == NULL || colon == line)
        return 0;
    Py_ssize_t nlen = colon - line, tlen = len - (bar - line) - 1;
    const char *tail = bar + 1;
    uint64_t h = prefix_hash(line, nlen, tail, tlen);
    const Entry *e = lookup(t, h, line, nlen, tail, tlen);
    if (e == NULL) {
        e = resolve_prefix(t, resolve, h, line, nlen, tail, tlen);
        if (e == NULL)
            return PyErr_Occurred() ? -1 : 0;
    }
    if (e->acc == NULL)
        return 0;
    return apply(t, e, colon + 1, bar - colon - 1);
}

static PyObject *Table_digest(TableObject *self, PyObject *args)
{
    Py_buffer buf;
    PyObject *resolve;
    if (!PyArg_ParseTuple(args, "y*O:digest", &buf, &resolve))
        return NULL;
    if (self->busy) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_RuntimeError, "Table.digest is not re-entrant");
        return NULL;
    }
    PyObject *rest = PyList_New(0);
    if (rest == NULL) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    self->busy = 1;
    const char *p = buf.buf;
    Py_ssize_t len = buf.len, pos = 0, received = 0, parsed = 0;
    int failed = 0;
    while (pos < len) {
        const char *nl = memchr(p + pos, '\n', (size_t)(len - pos));
        Py_ssize_t stop = nl ? nl - p : len;
        if (stop > pos) {
            received++;
            int r = take_line(self, resolve, p + pos, stop - pos);
            if (r > 0) {
                parsed++;
            } else if (r == 0) {
                PyObject *line = PyBytes_FromStringAndSize(p + pos, stop - pos);
                if (line == NULL || PyList_Append(rest, line) < 0)
                    r = -1;
                Py_XDECREF(line);
            }
            if (r < 0) {
                failed = 1;
                break;
            }
        }
        pos = stop + 1;
    }
    self->busy = 0;
    PyBuffer_Release(&buf);
    if (failed) {
        Py_DECREF(rest);
        return NULL;
    }
    return Py_BuildValue("nnN", received, parsed, rest);
}

static PyObject *Table_sync(TableObject *self, PyObject *unused)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Table.sync inside digest");
        return NULL;
    }
    self->busy = 1;
    PyObject *et = NULL, *ev = NULL, *tb = NULL;
    size_t n = self->ndirty;
    for (size_t i = 0; i < n; i++) { /* every Acc is reset and released even when one sync fails */
        AccObject *a = self->dirty[i];
        if (sync_acc(a) < 0) {
            if (et == NULL)
                PyErr_Fetch(&et, &ev, &tb);
            else
                PyErr_Clear();
        }
        Py_DECREF(a);
    }
    self->ndirty = 0;
    self->busy = 0;
    if (et != NULL) {
        PyErr_Restore(et, ev, tb);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Table_clear(TableObject *self, PyObject *unused)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Table.clear inside digest");
        return NULL;
    }
    table_clear(self);
    Py_RETURN_NONE;
}

static Py_ssize_t Table_len(TableObject *self) { return (Py_ssize_t)self->count; }

static PyObject *Table_pending(TableObject *self, void *closure) { return PyLong_FromSize_t(self->ndirty); }

static void Table_dealloc(TableObject *self)
{
    table_clear(self);
    for (size_t i = 0; i < self->ndirty; i++)
        Py_DECREF(self->dirty[i]);
    PyMem_Free(self->dirty);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Table_methods[] = {
    {"digest", (PyCFunction)Table_digest, METH_VARARGS,
     "digest(blob, resolve) -> (lines received, lines aggregated, lines for the Python path)"},
    {"sync", (PyCFunction)Table_sync, METH_NOARGS, "Apply the pending state to the Python series."},
    {"clear", (PyCFunction)Table_clear, METH_NOARGS, "Forget every prefix (pending state is kept until sync)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Table_getset[] = {
    {"pending", (getter)Table_pending, NULL, "number of Accs with state not yet synced", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods Table_as_sequence = {.sq_length = (lenfunc)Table_len};

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "edgetel._native.statsd.Table",
    .tp_doc = "Table(): StatsD line prefixes -> accumulators, and the lines digest",
    .tp_basicsize = sizeof(TableObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)Table_dealloc,
    .tp_methods = Table_methods,
    .tp_getset = Table_getset,
    .tp_as_sequence = &Table_as_sequence,
};

static PyMethodDef module_methods[] = {
#ifdef HAVE_RECV_BURST
    {"recv_burst", recv_burst, METH_VARARGS,
     "recv_burst(fd, stage, off, max_packet, budget) -> (off, packets, oversized, status)"},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "statsd", "The StatsD receiver's hot path.", -1, module_methods};

PyMODINIT_FUNC PyInit_statsd(void)
{
    if (PyType_Ready(&AccType) < 0 || PyType_Ready(&TableType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "MAX_ENTRIES", MAX_ENTRIES) < 0 ||
        PyModule_AddIntConstant(m, "MAX_FALLBACK", MAX_FALLBACK) < 0 || PyModule_AddType(m, &AccType) < 0 ||
        PyModule_AddType(m, &TableType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
