/* The redaction walker's state for redact.c: the Walker object, the key table (key -> action, filled by
 * classify()) and the memo of strings the rules leave unchanged. Header-only (static functions); #include after
 * <Python.h>.
 */
#ifndef EDGETEL_REDACT_KEYS_H
#define EDGETEL_REDACT_KEYS_H

#include "keyed_hash.h"
#include "redact_text.h"
#include "redact_wire.h"

#define MAX_KEYS 4096
#define TABLE_CAP 8192 /* a power of two, twice MAX_KEYS */
#define MAX_KEY_LEN 512 /* longer keys are classified every time */
#define CARD_MIN 1000000000000LL
#define MEMO_SLOTS 512 /* a power of two; at most MEMO_SLOTS * MEMO_MAX_LEN bytes remembered */
#define MEMO_MAX_LEN 2048
#define MEMO_MIN_CLEAN 48 /* shorter strings: the prefilter is about as fast as the memo */

enum { A_GENERIC, A_IGNORE, A_REMOVE, A_MASK, A_SAN_PY, A_SAN_URL, A_SAN_SQL, A_SAN_STMT, A_LAST = A_SAN_STMT };
enum { BAD = -2 }; /* malformed: the Python walker decides */

typedef struct {
    uint64_t hash;
    char *key; /* NULL: an empty slot */
    Py_ssize_t len;
    int code, nested;
    PyObject *rule, *fn, *act;
} KeyEntry;

/* A string the detectors leave unchanged (kind 1: scan() returned None, or the prefilter found nothing) or
 * name() left unchanged (kind 2); both are pure functions of the string. */
typedef struct {
    uint64_t hash;
    char *text; /* NULL: an empty slot */
    Py_ssize_t len;
} MemoEntry;

typedef struct {
    PyObject_HEAD
    PyObject *classify, *scan, *name, *value, *allowed, *gen_ai_keys, *sql_keywords, *gen_ai_rule;
    unsigned enabled;
    int scalars, name_url, name_sql, busy;
    KeyEntry *slots;
    Py_ssize_t count;
    MemoEntry *memo; /* direct-mapped, MEMO_SLOTS */
} WalkerObject;

typedef struct {
    int code;
    PyObject *rule, *fn, *act; /* owned */
} KeyAct;

typedef struct {
    WalkerObject *w;
    const uint8_t *b;
    PyObject *counts;
    Edits ed;
    RtBuf tmp;
} Ctx;

#define TRY(x)                                                                                                        \
    do {                                                                                                              \
        int r_ = (x);                                                                                                 \
        if (r_ < 0)                                                                                                   \
            return r_;                                                                                                \
    } while (0)

/* ---- the key table ---------------------------------------------------------------------------------------- */

/* Each entry leaves the table before its objects are released: releasing one can run Python code (a __del__)
   that walks with this Walker again and so reads and fills the table. */
static void table_clear(WalkerObject *w)
{
    for (Py_ssize_t i = 0; w->slots != NULL && i < TABLE_CAP; i++) {
        KeyEntry e = w->slots[i];
        if (e.key != NULL) {
            w->slots[i] = (KeyEntry){0};
            w->count--;
            PyMem_Free(e.key);
            Py_XDECREF(e.rule);
            Py_XDECREF(e.fn);
            Py_XDECREF(e.act);
        }
    }
    for (Py_ssize_t i = 0; w->memo != NULL && i < MEMO_SLOTS; i++) {
        PyMem_Free(w->memo[i].text);
        w->memo[i].text = NULL;
    }
}

/* The memo slot for s[0:n] under `kind` (1 scan, 2 name), or NULL for a string too long to remember. */
static MemoEntry *memo_slot(WalkerObject *w, int kind, const char *s, Py_ssize_t n, uint64_t *h)
{
    if (n > MEMO_MAX_LEN || (w->memo == NULL && (w->memo = PyMem_Calloc(MEMO_SLOTS, sizeof(MemoEntry))) == NULL))
        return NULL;
    *h = keyed_hash(s, n) + (uint64_t)kind;
    return &w->memo[*h & (MEMO_SLOTS - 1)];
}

static int memo_hit(const MemoEntry *m, uint64_t h, const char *s, Py_ssize_t n)
{
    return m != NULL && m->text != NULL && m->hash == h && m->len == n && memcmp(m->text, s, (size_t)n) == 0;
}

static void memo_store(MemoEntry *m, uint64_t h, const char *s, Py_ssize_t n)
{
    char *copy = PyMem_Realloc(m->text, n ? (size_t)n : 1); /* on failure the slot stays as it was */
    if (copy != NULL) {
        memcpy(copy, s, (size_t)n);
        *m = (MemoEntry){h, copy, n};
    }
}

static void keyact_release(KeyAct *a)
{
    Py_XDECREF(a->rule);
    Py_XDECREF(a->fn);
    Py_XDECREF(a->act);
}

/* The action for key k[0:n] (`nested`: inside a kvlist value) into *out (new references): from the table, else
 * from classify(key, nested). */
static int key_action(Ctx *c, const char *k, Py_ssize_t n, int nested, KeyAct *out)
{
    WalkerObject *w = c->w;
    uint64_t h = keyed_hash(k, n) ^ (uint64_t)nested;
    size_t i = (size_t)h & (TABLE_CAP - 1);
    if (w->slots != NULL) {
        for (KeyEntry *e = &w->slots[i]; e->key != NULL; e = &w->slots[i = (i + 1) & (TABLE_CAP - 1)]) {
            if (e->hash == h && e->len == n && e->nested == nested && memcmp(e->key, k, (size_t)n) == 0) {
                *out = (KeyAct){e->code, Py_NewRef(e->rule), Py_NewRef(e->fn), Py_NewRef(e->act)};
                return 0;
            }
        }
    }
    if (!utf8_ok((const uint8_t *)k, n))
        return BAD;
    PyObject *key = PyUnicode_DecodeUTF8(k, n, NULL);
    if (key == NULL)
        return -1;
    PyObject *res = PyObject_CallFunctionObjArgs(w->classify, key, nested ? Py_True : Py_False, NULL);
    Py_DECREF(key);
    if (res == NULL)
        return -1;
    long code = -1;
    if (PyTuple_Check(res) && PyTuple_GET_SIZE(res) == 4)
        code = PyLong_AsLong(PyTuple_GET_ITEM(res, 0));
    if (code < 0 || code > A_LAST || !PyUnicode_Check(PyTuple_GET_ITEM(res, 1))) {
        Py_DECREF(res);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "classify() must return (code, rule, fn, act)");
        return -1;
    }
    *out = (KeyAct){(int)code, Py_NewRef(PyTuple_GET_ITEM(res, 1)), Py_NewRef(PyTuple_GET_ITEM(res, 2)),
                    Py_NewRef(PyTuple_GET_ITEM(res, 3))};
    Py_DECREF(res);
    if (n > MAX_KEY_LEN)
        return 0;
    if (w->slots == NULL || w->count >= MAX_KEYS) {
        if (w->slots == NULL && (w->slots = PyMem_Calloc(TABLE_CAP, sizeof(KeyEntry))) == NULL) {
            keyact_release(out); /* callers release *out only on success */
            PyErr_NoMemory();
            return -1;
        }
        table_clear(w);
    }
    char *copy = PyMem_Malloc(n ? (size_t)n : 1);
    if (copy == NULL) {
        keyact_release(out);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(copy, k, (size_t)n);
    for (i = (size_t)h & (TABLE_CAP - 1); w->slots[i].key != NULL; i = (i + 1) & (TABLE_CAP - 1))
        ;
    w->slots[i] = (KeyEntry){h, copy, n, out->code, nested, Py_NewRef(out->rule), Py_NewRef(out->fn),
                             Py_NewRef(out->act)};
    w->count++;
    return 0;
}

#endif
