/* The spanmetrics connector's per-span work (included by tailsampling.c, after its wire and AnyValue readers):
 * one pass over a serialized ExportTraceServiceRequest that aggregates, per resource, the spans of each (name,
 * kind, status code, dimension values) into calls, a duration sum and bucket counts. The reference is the
 * connector's Python loop (edgetel.connectors.spanmetrics.connector); None (not walkable, a dimension whose
 * value is bytes, an array or a map, or more groups x buckets than MAX_CELLS) means: use it. */

#define MAX_CELLS (1 << 22) /* bucket counters per call at most (32 MiB) */

typedef struct {
    const char *key;
    Py_ssize_t len;
} Dim;

/* Record the first occurrence of each dimension among the KeyValues of `p..end` (field `kv_field`). */
static int find_dims(const uint8_t *p, const uint8_t *end, uint32_t kv_field, const Dim *dims, Py_ssize_t nd,
                     Val *found, int *service, Val *service_val) {
    Field f;
    int r;
    while ((r = next_field(&p, end, &f)) > 0) {
        if (f.num != kv_field || f.wt != 2)
            continue;
        const uint8_t *key;
        size_t key_len;
        Val val;
        if (key_value(f.data, f.data + f.len, &key, &key_len, &val) < 0)
            return -1;
        if (key == NULL)
            key = (const uint8_t *)"";
        for (Py_ssize_t j = 0; j < nd; j++)
            if (found[j].tag < 0 && (size_t)dims[j].len == key_len && memcmp(dims[j].key, key, key_len) == 0)
                found[j] = val;
        if (service != NULL && key_len == 12 && memcmp(key, "service.name", 12) == 0) {
            *service = 1; /* the last one wins, as in the Python loop */
            *service_val = val;
        }
    }
    return r;
}

static PyObject *val_object(const Val *v) {
    switch (v->tag) {
    case -1: return Py_NewRef(Py_None);
    case 0: return PyUnicode_FromStringAndSize("", 0);
    case 1: return text(v->s, v->len);
    case 2: return PyBool_FromLong(v->v != 0);
    case 3: return PyLong_FromLongLong((long long)v->v);
    case 4: {
        double d;
        memcpy(&d, &v->v, sizeof d);
        return PyFloat_FromDouble(d);
    }
    default: return NULL;
    }
}

/* A tuple of dimension values (None: absent); NULL with or without an exception as `text`. */
static PyObject *vals_tuple(const Val *vals, Py_ssize_t nd) {
    PyObject *t = PyTuple_New(nd);
    for (Py_ssize_t j = 0; t != NULL && j < nd; j++) {
        PyObject *o = val_object(&vals[j]);
        if (o == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, j, o);
    }
    return t;
}

typedef struct {
    const uint8_t *name;
    size_t name_len;
    int64_t kind, code;
    Py_ssize_t vals; /* index of its dimension values in the value arena */
    Py_ssize_t calls;
    double sum;
    Py_ssize_t cells; /* index of its bucket counters */
} SGroup;

typedef struct {
    const Dim *dims;
    Py_ssize_t nd;
    const double *bounds;
    Py_ssize_t nb;
    double scale;
    SGroup *groups;
    Py_ssize_t ngroups, cap;
    Val *vals; /* nd per group */
    Py_ssize_t *cells; /* nb + 1 per group */
    Py_ssize_t *table;
    size_t tcap;
} Agg;

/* One step of a group key's hash. Strings enter through keyed_hash (seeded per process), so a client cannot
 * craft span names or attribute values whose groups collide. */
static uint64_t step(uint64_t h, uint64_t x) {
    h = (h ^ x) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 32);
}

static int val_eq(const Val *a, const Val *b) {
    if (a->tag != b->tag)
        return 0;
    if (a->tag == 1)
        return a->len == b->len && (a->len == 0 || memcmp(a->s, b->s, a->len) == 0);
    return a->tag < 2 || a->v == b->v;
}

static uint64_t val_hash(uint64_t h, const Val *v) {
    h = step(h, (uint64_t)v->tag);
    if (v->tag == 1)
        return step(h, keyed_hash(v->s, (Py_ssize_t)v->len));
    return v->tag >= 2 ? step(h, v->v) : h;
}

/* Count one span into its group. 0 ok, -1 too many groups (use Python), -2 out of memory. */
static int agg_span(Agg *a, const uint8_t *name, size_t name_len, int64_t kind, int64_t code, const Val *vals,
                    double d) {
    uint64_t h = step(keyed_hash(name, (Py_ssize_t)name_len), (uint64_t)kind);
    h = step(h, (uint64_t)code);
    for (Py_ssize_t j = 0; j < a->nd; j++)
        h = val_hash(h, &vals[j]);
    size_t slot = (size_t)h & (a->tcap - 1);
    SGroup *g = NULL;
    for (;; slot = (slot + 1) & (a->tcap - 1)) {
        Py_ssize_t gi = a->table[slot];
        if (gi < 0)
            break;
        SGroup *o = &a->groups[gi];
        int same = o->name_len == name_len && o->kind == kind && o->code == code &&
                   (name_len == 0 || memcmp(o->name, name, name_len) == 0);
        for (Py_ssize_t j = 0; same && j < a->nd; j++)
            same = val_eq(&a->vals[o->vals + j], &vals[j]);
        if (same) {
            g = o;
            break;
        }
    }
    if (g == NULL) {
        if ((a->ngroups + 1) * (a->nb + 1) > MAX_CELLS || (size_t)(a->ngroups + 1) * 2 > a->tcap)
            return -1;
        if (a->ngroups == a->cap) {
            Py_ssize_t cap = a->cap ? a->cap * 2 : 16;
            SGroup *groups = PyMem_Realloc(a->groups, (size_t)cap * sizeof(SGroup));
            if (groups != NULL)
                a->groups = groups;
            Val *v = groups == NULL ? NULL : PyMem_Realloc(a->vals, (size_t)(cap * a->nd + 1) * sizeof(Val));
            if (v != NULL)
                a->vals = v;
            Py_ssize_t *c = v == NULL ? NULL : PyMem_Realloc(a->cells, (size_t)(cap * (a->nb + 1)) * sizeof(Py_ssize_t));
            if (c == NULL)
                return -2;
            a->cells = c;
            a->cap = cap;
        }
        g = &a->groups[a->ngroups];
        *g = (SGroup){name, name_len, kind, code, a->ngroups * a->nd, 0, 0.0, a->ngroups * (a->nb + 1)};
        if (a->nd)
            memcpy(&a->vals[g->vals], vals, (size_t)a->nd * sizeof(Val));
        memset(&a->cells[g->cells], 0, (size_t)(a->nb + 1) * sizeof(Py_ssize_t));
        a->table[slot] = a->ngroups++;
    }
    Py_ssize_t lo = 0, hi = a->nb; /* bisect_left, step for step */
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (a->bounds[mid] < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    g->calls++;
    g->sum += d;
    a->cells[g->cells + lo]++;
    return 0;
}

static int metrics_span(Agg *a, const uint8_t *p, const uint8_t *end, Val *vals) {
    Field f;
    int r;
    const uint8_t *name = NULL;
    size_t name_len = 0;
    uint64_t kind = 0, code = 0, start = 0, stop = 0;
    for (Py_ssize_t j = 0; j < a->nd; j++)
        vals[j].tag = -1;
    while ((r = next_field(&p, end, &f)) > 0) {
        if (f.num == 5 && f.wt == 2) {
            name = f.data;
            name_len = f.len;
        } else if (f.num == 6 && f.wt == 0)
            kind = f.v;
        else if ((f.num == 7 || f.num == 8) && f.wt == 1)
            *(f.num == 7 ? &start : &stop) = fixed64(f.data);
        else if (f.num == 9 && f.wt == 2 && a->nd) {
            if (find_dims(f.tag, f.data + f.len, 9, a->dims, a->nd, vals, NULL, NULL) < 0)
                return -1;
        } else if (f.num == 15 && f.wt == 2 && parse_status(f.data, f.data + f.len, &code) < 0)
            return -1;
    }
    if (r < 0)
        return -1;
    for (Py_ssize_t j = 0; j < a->nd; j++)
        if (vals[j].tag == 5)
            return -1;
    double d = stop > start ? (double)(stop - start) * a->scale : 0.0;
    if (d < 0.0)
        d = 0.0;
    return agg_span(a, name != NULL ? name : (const uint8_t *)"", name_len, int32_of(kind), int32_of(code), vals, d);
}

static void agg_free(Agg *a) {
    PyMem_Free(a->groups);
    PyMem_Free(a->vals);
    PyMem_Free(a->cells);
    PyMem_Free(a->table);
}

static PyObject *group_object(const Agg *a, const SGroup *g) {
    PyObject *buckets = PyList_New(a->nb + 1);
    for (Py_ssize_t i = 0; buckets != NULL && i <= a->nb; i++) {
        PyObject *n = PyLong_FromSsize_t(a->cells[g->cells + i]);
        if (n == NULL)
            Py_CLEAR(buckets);
        else
            PyList_SET_ITEM(buckets, i, n);
    }
    PyObject *items[7] = {text(g->name, g->name_len), PyLong_FromLongLong(g->kind), PyLong_FromLongLong(g->code),
                          vals_tuple(&a->vals[g->vals], a->nd), PyLong_FromSsize_t(g->calls),
                          PyFloat_FromDouble(g->sum), buckets};
    PyObject *t = PyTuple_New(7);
    int ok = t != NULL;
    for (int i = 0; i < 7; i++) {
        ok = ok && items[i] != NULL;
        if (t != NULL)
            PyTuple_SET_ITEM(t, i, items[i] != NULL ? items[i] : Py_NewRef(Py_None));
        else
            Py_XDECREF(items[i]);
    }
    if (!ok)
        Py_CLEAR(t);
    return t;
}

/* The aggregate of one ResourceSpans message, appended to `out`. 0 ok, -1 use Python, -2 exception. */
static int metrics_resource(void *ctx, const uint8_t *p, const uint8_t *end, PyObject *out) {
    Agg *a = ctx;
    Field f, sf;
    int r, rs;
    Py_ssize_t nspans = 0;
    Val *rvals = PyMem_Calloc((size_t)a->nd + 1, sizeof(Val)), *svals = PyMem_Calloc((size_t)a->nd + 1, sizeof(Val));
    Val service_val = {0, NULL, 0, 0};
    int service = 0, rc = 0;
    if (rvals == NULL || svals == NULL) {
        PyErr_NoMemory();
        rc = -2;
        goto done;
    }
    for (Py_ssize_t j = 0; j < a->nd; j++)
        rvals[j].tag = -1;
    const uint8_t *q = p;
    while ((r = next_field(&q, end, &f)) > 0) {
        if (f.num == 1 && f.wt == 2) {
            if (find_dims(f.data, f.data + f.len, 1, a->dims, a->nd, rvals, &service, &service_val) < 0)
                r = -1;
        } else if (f.num == 2 && f.wt == 2) {
            const uint8_t *s = f.data;
            while ((rs = next_field(&s, f.data + f.len, &sf)) > 0)
                nspans += sf.num == 2 && sf.wt == 2;
            if (rs < 0)
                r = -1;
        }
        if (r < 0)
            break;
    }
    for (Py_ssize_t j = 0; r == 0 && j < a->nd; j++)
        if (rvals[j].tag == 5)
            r = -1;
    if (r < 0 || nspans == 0) {
        rc = r < 0 ? -1 : 0;
        goto done;
    }
    a->tcap = 16;
    while (a->tcap < (size_t)nspans * 2)
        a->tcap <<= 1;
    PyMem_Free(a->table);
    a->table = PyMem_Malloc(a->tcap * sizeof(Py_ssize_t));
    if (a->table == NULL) {
        PyErr_NoMemory();
        rc = -2;
        goto done;
    }
    memset(a->table, 0xFF, a->tcap * sizeof(Py_ssize_t));
    a->ngroups = 0;
    while (rc == 0 && next_field(&p, end, &f) > 0) {
        if (f.num != 2 || f.wt != 2)
            continue;
        const uint8_t *s = f.data;
        while (rc == 0 && next_field(&s, f.data + f.len, &sf) > 0)
            if (sf.num == 2 && sf.wt == 2)
                rc = metrics_span(a, sf.data, sf.data + sf.len, svals);
    }
    if (rc < 0) {
        if (rc == -2)
            PyErr_NoMemory();
        goto done;
    }
    PyObject *groups = PyList_New(a->ngroups);
    for (Py_ssize_t gi = 0; groups != NULL && gi < a->ngroups; gi++) {
        PyObject *g = group_object(a, &a->groups[gi]);
        if (g == NULL)
            Py_CLEAR(groups);
        else
            PyList_SET_ITEM(groups, gi, g);
    }
    PyObject *name = groups == NULL ? NULL : service && service_val.tag == 1 ? text(service_val.s, service_val.len)
                                                                              : PyUnicode_FromStringAndSize("", 0);
    PyObject *dims = name == NULL ? NULL : vals_tuple(rvals, a->nd);
    PyObject *block = dims == NULL ? NULL : PyTuple_Pack(3, name, dims, groups);
    if (block == NULL || PyList_Append(out, block) < 0)
        rc = PyErr_Occurred() ? -2 : -1;
    Py_XDECREF(block);
    Py_XDECREF(dims);
    Py_XDECREF(name);
    Py_XDECREF(groups);
done:
    PyMem_Free(rvals);
    PyMem_Free(svals);
    return rc;
}

static PyObject *span_metrics(PyObject *self, PyObject *args) {
    Py_buffer view;
    PyObject *bounds_in, *dims_in, *bounds = NULL, *dims_seq = NULL, *out = NULL;
    Agg a = {0};
    double *bv = NULL;
    Dim *dv = NULL;
    if (!PyArg_ParseTuple(args, "y*dOO", &view, &a.scale, &bounds_in, &dims_in))
        return NULL;
    /* tuples: a list could change under us (a bound's __float__, a __del__ run by the GC) */
    bounds = PySequence_Tuple(bounds_in);
    dims_seq = bounds == NULL ? NULL : PySequence_Tuple(dims_in);
    if (dims_seq == NULL)
        goto done;
    a.nb = PySequence_Fast_GET_SIZE(bounds);
    a.nd = PySequence_Fast_GET_SIZE(dims_seq);
    bv = PyMem_Calloc((size_t)a.nb + 1, sizeof(double));
    dv = PyMem_Calloc((size_t)a.nd + 1, sizeof(Dim));
    if (bv == NULL || dv == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < a.nb; i++)
        if ((bv[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(bounds, i))) == -1.0 && PyErr_Occurred())
            goto done;
    for (Py_ssize_t j = 0; j < a.nd; j++)
        if ((dv[j].key = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(dims_seq, j), &dv[j].len)) == NULL)
            goto done;
    a.bounds = bv;
    a.dims = dv;
    const uint8_t *p = view.buf;
    out = each_resource(p, p + view.len, metrics_resource, &a);
done:
    agg_free(&a);
    PyMem_Free(bv);
    PyMem_Free(dv);
    Py_XDECREF(bounds);
    Py_XDECREF(dims_seq);
    PyBuffer_Release(&view);
    return out;
}
