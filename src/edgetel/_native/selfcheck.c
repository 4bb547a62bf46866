/* A trivial module that proves the C toolchain works: `edgetel._native.selfcheck.abi()`. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *abi(PyObject *self, PyObject *unused) { return PyLong_FromLong(1); }

static PyMethodDef methods[] = {
    {"abi", abi, METH_NOARGS, "The ABI version of edgetel's compiled modules."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "selfcheck", NULL, -1, methods};

PyMODINIT_FUNC PyInit_selfcheck(void) { return PyModule_Create(&module); }
