/* The statsd module's accumulator type: the pending (not yet synced) state of one Python series.

An Acc holds what the compiled digest added to one counter, explicit-bucket histogram or gauge since the last
sync; `sync_acc` adds it to (or, for an absolute gauge, sets it on) the Python series object it owns, which stays
the state of record. Included by statsd.c only.
*/
#include <math.h>
#include <stdint.h>
#include <string.h>

enum { KIND_COUNTER = 1, KIND_HISTOGRAM = 2, KIND_GAUGE = 3 };
enum { GAUGE_NONE = 0, GAUGE_DELTAS = 1, GAUGE_ABSOLUTE = 2 };
#define MAX_BOUNDS 4096

typedef struct {
    PyObject_HEAD
    PyObject *series; /* the Python series (strong reference); it never references its Acc */
    int kind;
    int deltas;       /* gauges: `+N`/`-N` is a delta */
    int dirty;        /* on the table's dirty list */
    int mode;         /* gauges: GAUGE_DELTAS (value is their sum) or GAUGE_ABSOLUTE (value is the gauge) */
    double scale;     /* histograms: 0.001 for ms timers */
    double value, count, sum;
    int64_t ts;       /* nanoseconds of the last `|T` seen, 0 if none */
    Py_ssize_t nb;    /* number of bounds */
    double *bounds;   /* nb, ascending */
    double *buckets;  /* nb + 1, added since the last sync */
} AccObject;

static void Acc_dealloc(AccObject *self)
{
    Py_XDECREF(self->series);
    PyMem_Free(self->bounds);
    PyMem_Free(self->buckets);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Acc_init(AccObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"series", "kind", "deltas", "scale", "bounds", NULL};
    PyObject *series, *bounds = NULL;
    int kind, deltas = 1;
    double scale = 1.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Oi|pdO", kwlist, &series, &kind, &deltas, &scale, &bounds))
        return -1;
    if (kind < KIND_COUNTER || kind > KIND_GAUGE) {
        PyErr_SetString(PyExc_ValueError, "kind must be 1 (counter), 2 (histogram) or 3 (gauge)");
        return -1;
    }
    if (self->series != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Acc is already initialised");
        return -1;
    }
    Py_ssize_t nb = 0;
    PyObject *seq = NULL;
    if (kind == KIND_HISTOGRAM) {
        if (bounds == NULL) {
            PyErr_SetString(PyExc_TypeError, "a histogram needs bounds");
            return -1;
        }
        seq = PySequence_Tuple(bounds); /* a list could change under us (a bound's __float__) */
        if (seq == NULL)
            return -1;
        nb = PySequence_Fast_GET_SIZE(seq);
        if (nb > MAX_BOUNDS) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "too many bounds");
            return -1;
        }
    }
    PyMem_Free(self->bounds); /* left by an __init__ that failed: not in use (no table takes an Acc without series) */
    PyMem_Free(self->buckets);
    self->bounds = PyMem_Calloc((size_t)nb + 1, sizeof(double));
    self->buckets = PyMem_Calloc((size_t)nb + 1, sizeof(double));
    if (self->bounds == NULL || self->buckets == NULL) {
        Py_XDECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < nb; i++) {
        double b = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i));
        if (b == -1.0 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
        self->bounds[i] = b;
    }
    Py_XDECREF(seq);
    self->nb = nb;
    self->kind = kind;
    self->deltas = deltas;
    self->scale = scale;
    Py_INCREF(series);
    self->series = series;
    return 0;
}

static PyTypeObject AccType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "edgetel._native.statsd.Acc",
    .tp_doc = "Acc(series, kind, deltas=True, scale=1.0, bounds=None): pending state of one StatsD series",
    .tp_basicsize = sizeof(AccObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Acc_init,
    .tp_dealloc = (destructor)Acc_dealloc,
};

static int set_float_attr(PyObject *obj, const char *attr, double value)
{
    PyObject *nv = PyFloat_FromDouble(value);
    if (nv == NULL)
        return -1;
    int rc = PyObject_SetAttrString(obj, attr, nv);
    Py_DECREF(nv);
    return rc;
}

/* series.<attr> += delta (a float attribute). */
static int add_float_attr(PyObject *obj, const char *attr, double delta)
{
    PyObject *cur = PyObject_GetAttrString(obj, attr);
    if (cur == NULL)
        return -1;
    double v = PyFloat_AsDouble(cur);
    Py_DECREF(cur);
    if (v == -1.0 && PyErr_Occurred())
        return -1;
    return set_float_attr(obj, attr, v + delta);
}

static int add_buckets(AccObject *a)
{
    PyObject *list = PyObject_GetAttrString(a->series, "buckets");
    if (list == NULL)
        return -1;
    if (!PyList_Check(list) || PyList_GET_SIZE(list) != a->nb + 1) {
        Py_DECREF(list);
        PyErr_SetString(PyExc_ValueError, "series.buckets does not match the accumulator's bounds");
        return -1;
    }
    for (Py_ssize_t i = 0; i <= a->nb; i++) {
        if (a->buckets[i] == 0.0)
            continue;
        double v = PyFloat_AsDouble(PyList_GET_ITEM(list, i));
        if (v == -1.0 && PyErr_Occurred()) {
            Py_DECREF(list);
            return -1;
        }
        PyObject *nv = PyFloat_FromDouble(v + a->buckets[i]);
        if (nv == NULL) {
            Py_DECREF(list);
            return -1;
        }
        PyList_SetItem(list, i, nv); /* steals nv */
    }
    Py_DECREF(list);
    return 0;
}

/* Apply the pending state to the Python series and reset it. */
static int sync_acc(AccObject *a)
{
    PyObject *s = a->series;
    int rc = 0;
    if (a->kind == KIND_COUNTER) {
        rc = add_float_attr(s, "value", a->value);
    } else if (a->kind == KIND_HISTOGRAM) {
        rc = add_buckets(a);
        if (rc == 0)
            rc = add_float_attr(s, "count", a->count);
        if (rc == 0)
            rc = add_float_attr(s, "sum", a->sum);
    } else if (a->mode == GAUGE_ABSOLUTE) {
        rc = set_float_attr(s, "value", a->value);
    } else if (a->mode == GAUGE_DELTAS) {
        rc = add_float_attr(s, "value", a->value);
    }
    if (rc == 0 && a->ts) {
        PyObject *ts = PyLong_FromLongLong(a->ts);
        rc = ts == NULL ? -1 : PyObject_SetAttrString(s, "ts_ns", ts);
        Py_XDECREF(ts);
    }
    if (rc == 0)
        rc = PyObject_SetAttrString(s, "updated", Py_True);
    a->value = a->count = a->sum = 0.0;
    a->mode = GAUGE_NONE;
    a->ts = 0;
    memset(a->buckets, 0, ((size_t)a->nb + 1) * sizeof(double));
    a->dirty = 0;
    return rc;
}
