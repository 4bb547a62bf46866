/* Python bindings of redact_text.h, for tests and benchmarks: edgetel._native.redact_text. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "redact_text.h"

static PyObject *detect_maybe(PyObject *self, PyObject *args)
{
    Py_buffer v;
    unsigned int enabled;
    if (!PyArg_ParseTuple(args, "y*I:detect_maybe", &v, &enabled))
        return NULL;
    int r = rt_detect_maybe((const char *)v.buf, v.len, enabled);
    PyBuffer_Release(&v);
    return PyBool_FromLong(r);
}

typedef int (*Sanitizer)(const char *, Py_ssize_t, RtBuf *);

static PyObject *sanitize(PyObject *arg, Sanitizer fn)
{
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_SIMPLE) < 0)
        return NULL;
    RtBuf out = {0};
    int r = fn((const char *)v.buf, v.len, &out);
    PyBuffer_Release(&v);
    PyObject *res = NULL;
    if (r == 1)
        res = PyBytes_FromStringAndSize(out.data ? out.data : "", out.len);
    else if (r == 0)
        res = Py_NewRef(Py_None);
    else if (r == 2)
        res = Py_NewRef(Py_Ellipsis);
    rtbuf_free(&out);
    return res;
}

static PyObject *sanitize_url(PyObject *self, PyObject *arg) { return sanitize(arg, rt_sanitize_url); }

static PyObject *sanitize_sql(PyObject *self, PyObject *arg) { return sanitize(arg, rt_sanitize_sql); }

static PyObject *detectors_mask(PyObject *self, PyObject *arg)
{
    unsigned m = rt_detectors_mask(arg);
    if (m == (unsigned)-1)
        return NULL;
    return PyLong_FromUnsignedLong(m);
}

/* _bench(kind, values, enabled, repeat): run detect_maybe (kind 0), sanitize_url (1) or sanitize_sql (2) over a
   list of bytes `repeat` times without the Python call per value; the count of maybe/changed answers */
static PyObject *bench(PyObject *self, PyObject *args)
{
    int kind;
    PyObject *values;
    unsigned int enabled;
    Py_ssize_t repeat, count = 0;
    if (!PyArg_ParseTuple(args, "iO!In:_bench", &kind, &PyList_Type, &values, &enabled, &repeat))
        return NULL;
    Sanitizer fn = kind == 1 ? rt_sanitize_url : rt_sanitize_sql;
    RtBuf out = {0};
    for (Py_ssize_t r = 0; r < repeat; r++)
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(values); i++) {
            PyObject *v = PyList_GET_ITEM(values, i);
            if (!PyBytes_Check(v)) {
                rtbuf_free(&out);
                return PyErr_Format(PyExc_TypeError, "_bench wants a list of bytes");
            }
            int res = kind == 0 ? rt_detect_maybe(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v), enabled)
                                : fn(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v), &out);
            if (res < 0) {
                rtbuf_free(&out);
                return NULL;
            }
            count += res == 1;
        }
    rtbuf_free(&out);
    return PyLong_FromSsize_t(count);
}

static PyMethodDef methods[] = {
    {"detect_maybe", detect_maybe, METH_VARARGS,
     "False when no enabled detector (a mask of detectors_mask bits) can match the UTF-8 value."},
    {"sanitize_url", sanitize_url, METH_O,
     "URLSanitizer().url(s): bytes if changed, None if unchanged, ... if unsure."},
    {"sanitize_sql", sanitize_sql, METH_O, "sanitize_statement(s, {'sql'}): bytes, None or ... as sanitize_url."},
    {"detectors_mask", detectors_mask, METH_O, "The detector bits of an iterable of detector names."},
    {"_bench", bench, METH_VARARGS, "Benchmark helper: one of the functions over a list of bytes, in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "redact_text", NULL, -1, methods};

PyMODINIT_FUNC PyInit_redact_text(void) { return PyModule_Create(&module); }
