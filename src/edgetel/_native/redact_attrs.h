/* Attribute maps for redact.c: string values through redact_text.h's prefilter and sanitizers or the Python
 * rules, arrays and maps walked, other values through value(), and the counts per rule.
 * Header-only (static functions); #include after <Python.h>.
 */
#ifndef EDGETEL_REDACT_ATTRS_H
#define EDGETEL_REDACT_ATTRS_H

#include "redact_keys.h"

/* ---- results and counts ----------------------------------------------------------------------------------- */

static int count_rule(Ctx *c, PyObject *rule)
{
    PyObject *old = PyDict_GetItemWithError(c->counts, rule);
    if (old == NULL && PyErr_Occurred())
        return -1;
    long n = old == NULL ? 0 : PyLong_AsLong(old);
    if (n == -1 && PyErr_Occurred())
        return -1;
    PyObject *v = PyLong_FromLong(n + 1);
    if (v == NULL)
        return -1;
    int r = PyDict_SetItem(c->counts, rule, v);
    Py_DECREF(v);
    return r;
}

static int count_rules(Ctx *c, PyObject *rules)
{
    if (!PyTuple_Check(rules)) {
        PyErr_SetString(PyExc_TypeError, "redact: the rules of a result must be a tuple");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(rules); i++)
        TRY(count_rule(c, PyTuple_GET_ITEM(rules, i)));
    return 0;
}

/* Replace the string field f by `text`, with the same tag. */
static int replace_field(Ctx *c, const Field *f, const char *text, Py_ssize_t n)
{
    return edits_add(&c->ed, f->start, f->ve, c->b + f->start, f->tag_end - f->start, text, n);
}

/* fn(the string in field f): None or ALLOWED leave it; (new, rules) replaces it. With `memo` (1 scan, 2 name;
 * 0 none) strings left unchanged are remembered. */
static int call_apply(Ctx *c, PyObject *fn, const Field *f, int memo)
{
    const char *text = (const char *)c->b + f->vs;
    Py_ssize_t n = f->ve - f->vs;
    uint64_t h = 0;
    MemoEntry *m = memo ? memo_slot(c->w, memo, text, n, &h) : NULL;
    if (memo_hit(m, h, text, n))
        return 0;
    PyObject *s = PyUnicode_DecodeUTF8(text, n, NULL);
    if (s == NULL)
        return -1;
    PyObject *res = PyObject_CallOneArg(fn, s);
    Py_DECREF(s);
    if (res == NULL)
        return -1;
    int r = 0;
    if (res == Py_None && m != NULL)
        memo_store(m, h, text, n);
    else if (res != Py_None && res != c->w->allowed) {
        Py_ssize_t n;
        const char *u;
        if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 2 || !PyUnicode_Check(PyTuple_GET_ITEM(res, 0))) {
            PyErr_SetString(PyExc_TypeError, "redact: a result must be None or (str, rules)");
            r = -1;
        } else if ((u = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(res, 0), &n)) == NULL)
            r = -1;
        else if ((r = replace_field(c, f, u, n)) == 0)
            r = count_rules(c, PyTuple_GET_ITEM(res, 1));
    }
    Py_DECREF(res);
    return r;
}

/* ---- strings ---------------------------------------------------------------------------------------------- */

/* The text of string field f; BAD when it is not UTF-8. */
static int field_text(const Ctx *c, const Field *f, const char **s, Py_ssize_t *n)
{
    *s = (const char *)c->b + f->vs;
    *n = f->ve - f->vs;
    return utf8_ok(c->b + f->vs, *n) ? 0 : BAD;
}

/* 1: the detectors leave s[0:n] unchanged (remembered, or the prefilter says so); 0: they might not. */
static int clean_text(Ctx *c, const char *s, Py_ssize_t n)
{
    if (n < MEMO_MIN_CLEAN)
        return !rt_detect_maybe(s, n, c->w->enabled);
    uint64_t h = 0;
    MemoEntry *m = memo_slot(c->w, 1, s, n, &h);
    if (memo_hit(m, h, s, n))
        return 1;
    if (rt_detect_maybe(s, n, c->w->enabled))
        return 0;
    if (m != NULL)
        memo_store(m, h, s, n);
    return 1;
}

/* A string checked by the detectors (`scan`): Python only when the prefilter says one might match. */
static int scan_string(Ctx *c, const Field *f)
{
    const char *s;
    Py_ssize_t n;
    TRY(field_text(c, f, &s, &n));
    if (n == 0 || clean_text(c, s, n))
        return 0;
    return call_apply(c, c->w->scan, f, 1);
}

/* Whether sanitize_statement() would take s for SQL (classify(s) == "sql"); 0 also when unsure. */
static int statement_is_sql(WalkerObject *w, const char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' || s[i] == '('))
        i++;
    if (i == n)
        return 1;
    char word[16];
    Py_ssize_t k = 0;
    for (; i < n && rt_alpha((unsigned char)s[i]); i++) {
        if (k == (Py_ssize_t)sizeof word)
            return 0;
        word[k++] = (char)(s[i] & ~0x20);
    }
    while (i < n && s[i] == ';')
        i++;
    if (k == 0 || (i < n && !rt_space((unsigned char)s[i])) || (k == 3 && memcmp(word, "SET", 3) == 0))
        return 0;
    PyObject *b = PyBytes_FromStringAndSize(word, k);
    if (b == NULL)
        return -1;
    int r = PySet_Contains(w->sql_keywords, b);
    Py_DECREF(b);
    return r;
}

/* A URL or statement key: the C sanitizer when it is sure and the detectors cannot match its result. */
static int sanitize_string(Ctx *c, const KeyAct *a, const Field *f)
{
    const char *s;
    Py_ssize_t n;
    TRY(field_text(c, f, &s, &n));
    if (n == 0)
        return 0;
    int rc = 2;
    if (a->code == A_SAN_URL)
        rc = rt_sanitize_url(s, n, &c->tmp);
    else if (a->code == A_SAN_SQL)
        rc = rt_sanitize_sql(s, n, &c->tmp);
    else if (a->code == A_SAN_STMT) {
        int sql = statement_is_sql(c->w, s, n);
        if (sql < 0)
            return -1;
        if (sql)
            rc = rt_sanitize_sql(s, n, &c->tmp);
    }
    if (rc < 0)
        return -1;
    if (rc == 0 && clean_text(c, s, n))
        return 0;
    if (rc == 1 && clean_text(c, c->tmp.data, c->tmp.len)) {
        TRY(replace_field(c, f, c->tmp.data, c->tmp.len));
        return count_rule(c, a->rule);
    }
    return call_apply(c, a->fn, f, 0);
}

/* ---- attributes ------------------------------------------------------------------------------------------- */

static int is_gen_ai_event_key(WalkerObject *w, const char *k, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(w->gen_ai_keys); i++) {
        PyObject *g = PyTuple_GET_ITEM(w->gen_ai_keys, i);
        if (PyBytes_GET_SIZE(g) == n && memcmp(PyBytes_AS_STRING(g), k, (size_t)n) == 0)
            return 1;
    }
    return 0;
}

/* A non-string value (or one under a key whose rule is Python's): value(act, AnyValue bytes). */
static int python_value(Ctx *c, const KeyAct *a, const Field *val)
{
    PyObject *raw = PyBytes_FromStringAndSize((const char *)c->b + val->vs, val->ve - val->vs);
    if (raw == NULL)
        return -1;
    PyObject *res = PyObject_CallFunctionObjArgs(c->w->value, a->act, raw, NULL);
    Py_DECREF(raw);
    if (res == NULL)
        return -1;
    int r = 0;
    if (res != Py_None) {
        if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(res, 0))) {
            PyErr_SetString(PyExc_TypeError, "redact: value() must return None or (bytes, rules)");
            r = -1;
        } else {
            PyObject *nb = PyTuple_GET_ITEM(res, 0);
            r = replace_field(c, val, PyBytes_AS_STRING(nb), PyBytes_GET_SIZE(nb));
            if (r == 0)
                r = count_rules(c, PyTuple_GET_ITEM(res, 1));
        }
    }
    Py_DECREF(res);
    return r;
}

/* The field of AnyValue [vs, ve) that holds its value into *one; 1: found, 0: none, BAD: malformed or two. */
static int any_value(const Ctx *c, Py_ssize_t vs, Py_ssize_t ve, Field *one)
{
    static const int8_t wire_of[9] = {-1, 2, 0, 0, 1, 2, 2, 2, 0}; /* AnyValue fields 1..8 */
    Field f;
    int r, found = 0;
    while ((r = wire_next(c->b, &vs, ve, &f)) > 0) {
        if (f.num <= 8) {
            if (found || f.wt != wire_of[f.num])
                return BAD; /* the oneof twice: the last one wins in protobuf */
            *one = f;
            found = 1;
        }
    }
    return r < 0 ? BAD : found;
}

/* A non-empty string value under the key's action. */
static int string_value(Ctx *c, const KeyAct *a, const Field *f)
{
    if (a->code == A_GENERIC)
        return scan_string(c, f);
    if (a->code == A_MASK || a->code == A_SAN_PY) {
        if (!utf8_ok(c->b + f->vs, f->ve - f->vs))
            return BAD;
        return call_apply(c, a->fn, f, 0);
    }
    return sanitize_string(c, a, f);
}

/* The key and value fields of KeyValue kvf (has_*: whether present); BAD when malformed or repeated. */
static int parse_kv(const Ctx *c, const Field *kvf, Field *key, int *has_key, Field *val, int *has_val)
{
    Field f;
    int r;
    Py_ssize_t pos = kvf->vs;
    *has_key = *has_val = 0;
    while ((r = wire_next(c->b, &pos, kvf->ve, &f)) > 0) {
        if (f.num == 1) {
            if (f.wt != 2 || (*has_key)++)
                return BAD;
            *key = f;
        } else if (f.num == 2) {
            if (f.wt != 2 || (*has_val)++)
                return BAD;
            *val = f;
        }
    }
    return r < 0 ? BAD : 0;
}

static int any_value_walk(Ctx *c, const KeyAct *a, const Field *val, int depth);

/* A kvlist value (KeyValueList field `list`): nested keys get their own action unless the parent key's is not
 * generic, as Rules.kvlist() does. */
static int kvlist_walk(Ctx *c, const KeyAct *parent, const Field *list, int depth)
{
    Field f, key = {0}, val = {0};
    int r, has_key, has_val;
    Py_ssize_t pos = list->vs;
    while ((r = wire_next(c->b, &pos, list->ve, &f)) > 0) {
        if (f.num != 1)
            continue;
        if (f.wt != 2)
            return BAD;
        TRY(parse_kv(c, &f, &key, &has_key, &val, &has_val));
        KeyAct a;
        if (parent->code != A_GENERIC)
            a = (KeyAct){parent->code, Py_XNewRef(parent->rule), Py_XNewRef(parent->fn), Py_XNewRef(parent->act)};
        else
            TRY(key_action(c, has_key ? (const char *)c->b + key.vs : "", has_key ? key.ve - key.vs : 0, 1, &a));
        int rc = 0;
        if (a.code == A_REMOVE) {
            rc = edits_add(&c->ed, f.start, f.ve, NULL, 0, NULL, 0);
            if (rc == 0)
                rc = count_rule(c, a.rule);
        } else if (a.code != A_IGNORE && has_val)
            rc = any_value_walk(c, &a, &val, depth);
        keyact_release(&a);
        TRY(rc);
    }
    return r < 0 ? BAD : 0;
}

/* An AnyValue (field val) under action a: what Rules.value() does for its type, Python for hard scalars. */
static int any_value_walk(Ctx *c, const KeyAct *a, const Field *val, int depth)
{
    Field one, f;
    int r = any_value(c, val->vs, val->ve, &one);
    if (r <= 0)
        return r;
    int generic_only = a->code == A_GENERIC && c->w->scalars != 2, all_types = c->w->scalars != 0;
    switch (one.num) {
    case 1:
        return one.ve == one.vs ? 0 : string_value(c, a, &one);
    case 5:
    case 6: {
        if (depth >= 16)
            return 0;
        if (one.num == 6)
            return kvlist_walk(c, a, &one, depth + 1);
        Py_ssize_t pos = one.vs;
        while ((r = wire_next(c->b, &pos, one.ve, &f)) > 0)
            if (f.num == 1) {
                if (f.wt != 2)
                    return BAD;
                TRY(any_value_walk(c, a, &f, depth + 1));
            }
        return r < 0 ? BAD : 0;
    }
    case 7: /* bytes are scanned as text decoded with "replace": as is when they are UTF-8 */
        if (!all_types || (a->code == A_GENERIC && utf8_ok(c->b + one.vs, one.ve - one.vs) &&
                           clean_text(c, (const char *)c->b + one.vs, one.ve - one.vs)))
            return 0;
        break;
    case 3:
        if (!all_types || a->code >= A_SAN_PY ||
            (generic_only && (int64_t)one.v > -CARD_MIN && (int64_t)one.v < CARD_MIN))
            return 0;
        break;
    default: /* bool, double, string_value_strindex */
        if (!all_types || a->code >= A_SAN_PY || generic_only)
            return 0;
        break;
    }
    return python_value(c, a, val);
}

/* One KeyValue of an attribute map (field kvf of the enclosing message). */
static int walk_kv(Ctx *c, const Field *kvf, int gen_ai)
{
    Field key = {0}, val = {0};
    int r, has_key, has_val;
    TRY(parse_kv(c, kvf, &key, &has_key, &val, &has_val));
    const char *k = has_key ? (const char *)c->b + key.vs : "";
    Py_ssize_t kn = has_key ? key.ve - key.vs : 0;
    KeyAct a = {0};
    if (gen_ai && is_gen_ai_event_key(c->w, k, kn)) {
        if (!utf8_ok((const uint8_t *)k, kn))
            return BAD;
        a = (KeyAct){A_REMOVE, Py_NewRef(c->w->gen_ai_rule), NULL, NULL};
    } else
        TRY(key_action(c, k, kn, 0, &a));
    if (a.code == A_IGNORE)
        r = 0;
    else if (a.code == A_REMOVE) {
        r = edits_add(&c->ed, kvf->start, kvf->ve, NULL, 0, NULL, 0);
        if (r == 0)
            r = count_rule(c, a.rule);
    } else
        r = has_val ? any_value_walk(c, &a, &val, 0) : 0;
    keyact_release(&a);
    return r;
}

#endif
