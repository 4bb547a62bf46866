/* Compiled text primitives of the redaction processor (issue #7): a detector prefilter and C versions of the
 * URL and SQL sanitizers. Header-only (static functions): #include it after <Python.h> (PY_SSIZE_T_CLEAN); it
 * includes its two parts, redact_text_detect.h (the prefilter) and redact_text_sanitize.h (the sanitizers).
 * The Python code in edgetel/processors/redaction stays the reference; tests/redaction/test_native_text.py
 * checks these functions against it.
 *
 * API (used by redact.c, the OTLP walker):
 *   RtBuf                 growable output buffer; zero-initialise it (RtBuf b = {0}), free with rtbuf_free.
 *   rtbuf_put(b, s, n)    append; 0 ok, -1 with MemoryError set.
 *   rtbuf_free(b)         release the memory; b is empty (and reusable) afterwards.
 *   RT_DET_<NAME>         one bit per built-in detector, in the order of detectors.DETECTORS.
 *   rt_detect_maybe(s, n, enabled)
 *                         0: provably no detector in `enabled` changes s[0:n] (UTF-8) under
 *                         Detectors(enabled).scan; 1: one might (call Python). Never fails.
 *   rt_sanitize_url(s, n, out) / rt_sanitize_sql(s, n, out)
 *                         URLSanitizer().url(s) / sanitize_statement(s, {"sql"}) written into `out` (cleared
 *                         first): 1 changed, 0 unchanged (out holds a copy of s), 2 not handled here (ask
 *                         Python; out is unspecified), -1 error with a Python exception set. 2 comes for a
 *                         non-ASCII URL, and for SQL with a literal that ends in a backslash or a dollar-quote
 *                         tag over 64 characters; SQL may hold any UTF-8.
 *   rt_detectors_mask(names)
 *                         RT_DET_* bits from an iterable of detector names (str), or (unsigned)-1 with an
 *                         exception set (ValueError for an unknown name).
 * All functions are `static inline` (no unused-function warnings for the parts a user does not call). The
 * helpers rt_alpha, rt_space (ASCII characters of Python's \s), rt_digit, rt_alnum and rt_lower may be used too.
 * No global mutable state; no allocation except in RtBuf.
 */
#ifndef EDGETEL_REDACT_TEXT_H
#define EDGETEL_REDACT_TEXT_H

#include <stdint.h>
#include <string.h>

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} RtBuf;

enum {
    RT_DET_PRIVATE_KEY = 1u << 0,
    RT_DET_JWT = 1u << 1,
    RT_DET_BEARER_TOKEN = 1u << 2,
    RT_DET_BASIC_AUTH = 1u << 3,
    RT_DET_URL_CREDENTIALS = 1u << 4,
    RT_DET_AWS_ACCESS_KEY = 1u << 5,
    RT_DET_AWS_SECRET_KEY = 1u << 6,
    RT_DET_GITHUB_TOKEN = 1u << 7,
    RT_DET_SLACK_TOKEN = 1u << 8,
    RT_DET_STRIPE_KEY = 1u << 9,
    RT_DET_GOOGLE_API_KEY = 1u << 10,
    RT_DET_SECRET_ASSIGNMENT = 1u << 11,
    RT_DET_EMAIL = 1u << 12,
    RT_DET_PAYMENT_CARD = 1u << 13,
    RT_DET_US_SSN = 1u << 14,
    RT_DET_IPV4 = 1u << 15,
    RT_DET_IPV6 = 1u << 16,
    RT_DET_ALL = (1u << 17) - 1,
};

static inline int rtbuf_put(RtBuf *b, const char *s, Py_ssize_t n);
static inline void rtbuf_free(RtBuf *b);
static inline int rt_detect_maybe(const char *s, Py_ssize_t n, unsigned enabled);
static inline int rt_sanitize_url(const char *s, Py_ssize_t n, RtBuf *out);
static inline int rt_sanitize_sql(const char *s, Py_ssize_t n, RtBuf *out);
static inline unsigned rt_detectors_mask(PyObject *names);

/* ---- RtBuf ---------------------------------------------------------------------------------------------- */

static inline int rtbuf_put(RtBuf *b, const char *s, Py_ssize_t n)
{
    if (n <= 0)
        return 0;
    if (b->len + n > b->cap) {
        Py_ssize_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) {
            if (cap > PY_SSIZE_T_MAX / 2) {
                PyErr_NoMemory();
                return -1;
            }
            cap *= 2;
        }
        char *p = PyMem_Realloc(b->data, (size_t)cap);
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

static inline void rtbuf_free(RtBuf *b)
{
    PyMem_Free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

#include "redact_text_detect.h"
#include "redact_text_sanitize.h"

static const char *const rt_detector_names[] = {
    "private_key", "jwt", "bearer_token", "basic_auth", "url_credentials", "aws_access_key",
    "aws_secret_key", "github_token", "slack_token", "stripe_key", "google_api_key", "secret_assignment",
    "email", "payment_card", "us_ssn", "ipv4", "ipv6",
};

static inline unsigned rt_detectors_mask(PyObject *names)
{
    PyObject *it = PyObject_GetIter(names);
    if (it == NULL)
        return (unsigned)-1;
    unsigned mask = 0;
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        Py_ssize_t len;
        const char *u = PyUnicode_Check(item) ? PyUnicode_AsUTF8AndSize(item, &len) : NULL;
        int found = -1;
        if (u != NULL) {
            for (int i = 0; i < (int)(sizeof rt_detector_names / sizeof *rt_detector_names); i++)
                if (strlen(rt_detector_names[i]) == (size_t)len && memcmp(u, rt_detector_names[i], (size_t)len) == 0)
                    found = i;
        }
        if (found < 0) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "unknown detector: %R", item);
            Py_DECREF(item);
            Py_DECREF(it);
            return (unsigned)-1;
        }
        mask |= 1u << found;
        Py_DECREF(item);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return (unsigned)-1;
    return mask;
}

#endif
