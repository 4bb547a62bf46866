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

static PyMethodDef methods[] = {
    {"detect_maybe", detect_maybe, METH_VARARGS,
     "False when no enabled detector (a mask of detectors_mask bits) can match the UTF-8 value."},
    {"sanitize_url", sanitize_url, METH_O, "URLSanitizer().url(s): bytes if changed, None if unchanged, ... if unsure."},
    {"sanitize_sql", sanitize_sql, METH_O, "sanitize_statement(s, {'sql'}): bytes, None or ... as sanitize_url."},
    {"detectors_mask", detectors_mask, METH_O, "The detector bits of an iterable of detector names."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "redact_text", NULL, -1, methods};

PyMODINIT_FUNC PyInit_redact_text(void) { return PyModule_Create(&module); }
