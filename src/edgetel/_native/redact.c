/* edgetel._native.redact: the redaction processor's walker over serialized OTLP (issue #7; the reference is the
 * Python walker in processors/redaction/processor.py, which fastpath.py falls back to).
 *
 * `Walker.traces(data, counts)` / `Walker.metrics(data, counts)` walk an ExportTraceServiceRequest /
 * ExportMetricsServiceRequest in its wire form and return `data` itself when nothing changed, new bytes with the
 * changed values (and every enclosing length prefix fixed) otherwise, or None when the bytes are not something
 * the walker takes on (malformed, a singular field twice, a wire type it does not expect): the caller then runs
 * the Python walker. `counts` gets +1 per rule that fired, as the Python walker counts.
 *
 * Per attribute key an action comes from a table filled by `classify(key, nested)` (bounded: MAX_KEYS, then
 * cleared). Strings under a generic key go to `scan` only when redact_text.h's prefilter says a detector might
 * match; URL and SQL keys are sanitized in C when redact_text.h can, with `fn` (the key's Python rule) otherwise;
 * arrays and maps are walked as Rules.value() walks them; masks, scalars that need a rule
 * (`value(act, anyvalue_bytes)`) and span names that need it call Python.
 * Long strings the detectors leave unchanged, and span names name() leaves unchanged, are remembered (MEMO_SLOTS).
 * No global mutable state; memory is bounded: the key table (MAX_KEYS keys of at most MAX_KEY_LEN bytes), the
 * memo (MEMO_SLOTS strings of at most MEMO_MAX_LEN bytes): about 3.5 MiB at most, plus per call the edit list
 * and the output.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "redact_attrs.h"

typedef int (*WalkFn)(Ctx *c, const Field *f);

/* Field f must be length-delimited (a message or a string). */
#define NEED_LEN(f)                                                                                                   \
    do {                                                                                                              \
        if ((f).wt != 2)                                                                                              \
            return BAD;                                                                                               \
    } while (0)

/* A string the walker passes on: still checked, as protobuf would. */
static int plain_string(const Ctx *c, const Field *f)
{
    return f->wt == 2 && utf8_ok(c->b + f->vs, f->ve - f->vs) ? 0 : BAD;
}

/* Resource and InstrumentationScope: attributes at field `attrs`, strings at `s1` and `s2` (0: none). */
static int walk_holder(Ctx *c, const Field *m, uint32_t attrs, uint32_t s1, uint32_t s2)
{
    Field f;
    int r;
    Py_ssize_t pos = m->vs;
    while ((r = wire_next(c->b, &pos, m->ve, &f)) > 0) {
        if (f.num == attrs) {
            NEED_LEN(f);
            TRY(walk_kv(c, &f, 0));
        } else if (f.num == s1 || f.num == s2)
            TRY(plain_string(c, &f));
    }
    return r < 0 ? BAD : 0;
}

static int walk_resource(Ctx *c, const Field *m) { return walk_holder(c, m, 1, 0, 0); }

static int walk_scope(Ctx *c, const Field *m) { return walk_holder(c, m, 3, 1, 2); }

/* Repeated message field `num` of message m, each walked by fn; field `single` (0: none) is a singular message
 * walked by single_fn; `str` (0: none) a plain string. */
static int walk_parent(Ctx *c, const Field *m, uint32_t single, WalkFn single_fn, uint32_t num, WalkFn fn,
                       uint32_t str)
{
    Field f;
    int r, seen = 0;
    Py_ssize_t pos = m->vs;
    while ((r = wire_next(c->b, &pos, m->ve, &f)) > 0) {
        if (f.num == num) {
            NEED_LEN(f);
            TRY(fn(c, &f));
        } else if (f.num == single) {
            NEED_LEN(f);
            if (seen++)
                return BAD; /* protobuf merges the two */
            TRY(single_fn(c, &f));
        } else if (f.num == str)
            TRY(plain_string(c, &f));
    }
    return r < 0 ? BAD : 0;
}

/* ---- traces ----------------------------------------------------------------------------------------------- */

static int walk_event(Ctx *c, const Field *m)
{
    Field f, name = {0};
    int r, seen = 0;
    Py_ssize_t pos = m->vs;
    while ((r = wire_next(c->b, &pos, m->ve, &f)) > 0) /* the name first: it decides about gen_ai content */
        if (f.num == 2) {
            if (f.wt != 2 || seen++)
                return BAD;
            name = f;
        }
    if (r < 0)
        return BAD;
    int gen_ai = seen && c->w->gen_ai_keys != Py_None && name.ve - name.vs >= 7 &&
                 memcmp(c->b + name.vs, "gen_ai.", 7) == 0;
    pos = m->vs;
    while (wire_next(c->b, &pos, m->ve, &f) > 0) {
        if (f.num == 2)
            TRY(scan_string(c, &f));
        else if (f.num == 3) {
            NEED_LEN(f);
            TRY(walk_kv(c, &f, gen_ai));
        }
    }
    return 0;
}

static int walk_link(Ctx *c, const Field *m) { return walk_holder(c, m, 4, 3, 0); }

static int walk_status(Ctx *c, const Field *m)
{
    Field f;
    int r, seen = 0;
    Py_ssize_t pos = m->vs;
    while ((r = wire_next(c->b, &pos, m->ve, &f)) > 0)
        if (f.num == 2) {
            if (f.wt != 2 || seen++)
                return BAD;
            TRY(scan_string(c, &f));
        }
    return r < 0 ? BAD : 0;
}

static int span_name(Ctx *c, const Field *f)
{
    const char *s;
    Py_ssize_t n;
    TRY(field_text(c, f, &s, &n));
    if (n == 0)
        return 0;
    int py = rt_detect_maybe(s, n, c->w->enabled) || (c->w->name_url && memchr(s, '/', (size_t)n) != NULL);
    for (Py_ssize_t i = 0; c->w->name_sql && !py && i < n; i++)
        py = memchr("'\"=(<>$", s[i], 7) != NULL;
    return py ? call_apply(c, c->w->name, f, 2) : 0;
}

static int walk_span(Ctx *c, const Field *m)
{
    Field f;
    int r;
    unsigned seen = 0;
    Py_ssize_t pos = m->vs;
    while ((r = wire_next(c->b, &pos, m->ve, &f)) > 0) {
        switch (f.num) {
        case 3:
            TRY(plain_string(c, &f));
            break;
        case 5:
        case 15:
            NEED_LEN(f);
            if (seen & (1u << (f.num & 15)))
                return BAD;
            seen |= 1u << (f.num & 15);
            TRY(f.num == 5 ? span_name(c, &f) : walk_status(c, &f));
            break;
        case 9:
            NEED_LEN(f);
            TRY(walk_kv(c, &f, 0));
            break;
        case 11:
            NEED_LEN(f);
            TRY(walk_event(c, &f));
            break;
        case 13:
            NEED_LEN(f);
            TRY(walk_link(c, &f));
            break;
        default:
            break;
        }
    }
    return r < 0 ? BAD : 0;
}

static int walk_scope_spans(Ctx *c, const Field *m) { return walk_parent(c, m, 1, walk_scope, 2, walk_span, 3); }

static int walk_resource_spans(Ctx *c, const Field *m)
{
    return walk_parent(c, m, 1, walk_resource, 2, walk_scope_spans, 3);
}

/* ---- metrics ---------------------------------------------------------------------------------------------- */

/* A data point of metric data field `kind` (5 gauge, 7 sum, 9 histogram, 10 exponential, 11 summary). */
static int walk_point(Ctx *c, const Field *m, uint32_t kind)
{
    uint32_t attrs = kind == 10 ? 1 : kind == 9 ? 9 : 7;
    uint32_t exemplars = kind == 10 ? 11 : kind == 9 ? 8 : kind == 11 ? 0 : 5;
    Field f;
    int r;
    Py_ssize_t pos = m->vs;
    while ((r = wire_next(c->b, &pos, m->ve, &f)) > 0) {
        if (f.num == attrs) {
            NEED_LEN(f);
            TRY(walk_kv(c, &f, 0));
        } else if (f.num == exemplars) {
            NEED_LEN(f);
            TRY(walk_holder(c, &f, 7, 0, 0));
        }
    }
    return r < 0 ? BAD : 0;
}

static int walk_metric(Ctx *c, const Field *m)
{
    Field f, g;
    int r, named = 0, data = 0;
    Py_ssize_t pos = m->vs;
    while ((r = wire_next(c->b, &pos, m->ve, &f)) > 0) {
        switch (f.num) {
        case 1:
            if (named++)
                return BAD;
            NEED_LEN(f);
            TRY(scan_string(c, &f));
            break;
        case 2:
        case 3:
            TRY(plain_string(c, &f));
            break;
        case 5:
        case 7:
        case 9:
        case 10:
        case 11: {
            NEED_LEN(f);
            if (data++)
                return BAD; /* the oneof twice */
            Py_ssize_t p = f.vs;
            while ((r = wire_next(c->b, &p, f.ve, &g)) > 0)
                if (g.num == 1) {
                    NEED_LEN(g);
                    TRY(walk_point(c, &g, f.num));
                }
            if (r < 0)
                return BAD;
            break;
        }
        default:
            break;
        }
    }
    return r < 0 ? BAD : 0;
}

static int walk_scope_metrics(Ctx *c, const Field *m) { return walk_parent(c, m, 1, walk_scope, 2, walk_metric, 3); }

static int walk_resource_metrics(Ctx *c, const Field *m)
{
    return walk_parent(c, m, 1, walk_resource, 2, walk_scope_metrics, 3);
}

/* ---- the Walker type -------------------------------------------------------------------------------------- */

static PyObject *Walker_run(WalkerObject *self, PyObject *args, WalkFn top)
{
    PyObject *data, *counts;
    if (!PyArg_ParseTuple(args, "O!O!", &PyBytes_Type, &data, &PyDict_Type, &counts))
        return NULL;
    if (self->busy || self->classify == NULL) {
        PyErr_SetString(PyExc_RuntimeError, self->busy ? "Walker is not re-entrant" : "Walker is not initialised");
        return NULL;
    }
    Ctx c = {.w = self, .b = (const uint8_t *)PyBytes_AS_STRING(data), .counts = counts};
    Field whole = {.vs = 0, .ve = PyBytes_GET_SIZE(data)};
    self->busy = 1;
    Py_INCREF(data);
    int r = walk_parent(&c, &whole, 0, NULL, 1, top, 0);
    PyObject *out = NULL;
    if (r == BAD)
        out = Py_NewRef(Py_None);
    else if (r == 0 && c.ed.n == 0)
        out = Py_NewRef(data);
    else if (r == 0) {
        RtBuf buf = {0};
        Py_ssize_t ei = 0;
        /* room for the input, the replacements and some length prefixes: usually no growth */
        buf.cap = whole.ve + c.ed.pool.len + 256;
        if ((buf.data = PyMem_Malloc((size_t)buf.cap)) == NULL)
            PyErr_NoMemory();
        else if (edits_apply(&c.ed, c.b, 0, whole.ve, &ei, &buf, 0) == 0)
            out = PyBytes_FromStringAndSize(buf.data, buf.len);
        rtbuf_free(&buf);
    }
    Py_DECREF(data);
    self->busy = 0;
    edits_free(&c.ed);
    rtbuf_free(&c.tmp);
    return out;
}

static PyObject *Walker_traces(WalkerObject *self, PyObject *args)
{
    return Walker_run(self, args, walk_resource_spans);
}

static PyObject *Walker_metrics(WalkerObject *self, PyObject *args)
{
    return Walker_run(self, args, walk_resource_metrics);
}

static PyObject *Walker_clear_keys(WalkerObject *self, PyObject *unused)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Walker is busy");
        return NULL;
    }
    table_clear(self);
    Py_RETURN_NONE;
}

static PyObject *Walker_len(WalkerObject *self, void *closure) { return PyLong_FromSsize_t(self->count); }

static int Walker_init(WalkerObject *self, PyObject *args, PyObject *kwds)
{
    static char *kw[] = {"classify", "scan", "name", "value", "allowed", "enabled", "scalars", "name_url",
                         "name_sql", "gen_ai_event_keys", "sql_keywords", NULL};
    PyObject *classify, *scan, *name, *value, *allowed, *gen_ai, *sql_kw;
    unsigned enabled;
    int scalars, name_url, name_sql;
    if (self->classify != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Walker is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOOIippOO!", kw, &classify, &scan, &name, &value, &allowed,
                                     &enabled, &scalars, &name_url, &name_sql, &gen_ai, &PyFrozenSet_Type, &sql_kw))
        return -1;
    if (gen_ai != Py_None) {
        if (!PyTuple_Check(gen_ai))
            goto bad_keys;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(gen_ai); i++)
            if (!PyBytes_Check(PyTuple_GET_ITEM(gen_ai, i)))
                goto bad_keys;
    }
    PyObject *rule = PyUnicode_InternFromString("gen_ai");
    if (rule == NULL)
        return -1;
    self->classify = Py_NewRef(classify);
    self->scan = Py_NewRef(scan);
    self->name = Py_NewRef(name);
    self->value = Py_NewRef(value);
    self->allowed = Py_NewRef(allowed);
    self->gen_ai_keys = Py_NewRef(gen_ai);
    self->sql_keywords = Py_NewRef(sql_kw);
    self->gen_ai_rule = rule;
    self->enabled = enabled;
    self->scalars = scalars;
    self->name_url = name_url;
    self->name_sql = name_sql;
    return 0;
bad_keys:
    PyErr_SetString(PyExc_TypeError, "gen_ai_event_keys must be None or a tuple of bytes");
    return -1;
}

static int Walker_traverse(WalkerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->classify);
    Py_VISIT(self->scan);
    Py_VISIT(self->name);
    Py_VISIT(self->value);
    Py_VISIT(self->allowed);
    for (Py_ssize_t i = 0; self->slots != NULL && i < TABLE_CAP; i++) {
        Py_VISIT(self->slots[i].fn);
        Py_VISIT(self->slots[i].act);
    }
    return 0;
}

static int Walker_clear(WalkerObject *self)
{
    if (!self->busy)
        table_clear(self);
    Py_CLEAR(self->classify);
    Py_CLEAR(self->scan);
    Py_CLEAR(self->name);
    Py_CLEAR(self->value);
    Py_CLEAR(self->allowed);
    Py_CLEAR(self->gen_ai_keys);
    Py_CLEAR(self->sql_keywords);
    Py_CLEAR(self->gen_ai_rule);
    return 0;
}

static void Walker_dealloc(WalkerObject *self)
{
    PyObject_GC_UnTrack(self);
    Walker_clear(self);
    table_clear(self);
    PyMem_Free(self->slots);
    PyMem_Free(self->memo);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Walker_methods[] = {
    {"traces", (PyCFunction)Walker_traces, METH_VARARGS,
     "traces(data, counts) -> data (unchanged), new bytes, or None (not handled: use the Python walker)"},
    {"metrics", (PyCFunction)Walker_metrics, METH_VARARGS, "metrics(data, counts): as traces()"},
    {"clear_keys", (PyCFunction)Walker_clear_keys, METH_NOARGS,
     "Forget every key's action and every remembered string."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Walker_getset[] = {
    {"keys", (getter)Walker_len, NULL, "number of keys whose action is remembered", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject WalkerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "edgetel._native.redact.Walker",
    .tp_doc = "Walker(classify, scan, name, value, allowed, enabled, scalars, name_url, name_sql, "
              "gen_ai_event_keys, sql_keywords): the redaction walk over serialized OTLP requests",
    .tp_basicsize = sizeof(WalkerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Walker_init,
    .tp_dealloc = (destructor)Walker_dealloc,
    .tp_traverse = (traverseproc)Walker_traverse,
    .tp_clear = (inquiry)Walker_clear,
    .tp_methods = Walker_methods,
    .tp_getset = Walker_getset,
};

static PyObject *detectors_mask(PyObject *mod, PyObject *names)
{
    unsigned mask = rt_detectors_mask(names);
    return mask == (unsigned)-1 ? NULL : PyLong_FromUnsignedLong(mask);
}

static PyMethodDef module_methods[] = {
    {"detectors_mask", detectors_mask, METH_O, "detectors_mask(names) -> the `enabled` bits of these detectors"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "redact", "The redaction processor's OTLP walker.", -1,
                                    module_methods};

PyMODINIT_FUNC PyInit_redact(void)
{
    if (PyType_Ready(&WalkerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "MAX_KEYS", MAX_KEYS) < 0 || PyModule_AddType(m, &WalkerType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
