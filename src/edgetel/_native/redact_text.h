/* Compiled text primitives of the redaction processor (issue #7): a detector prefilter and C versions of the
 * URL and SQL sanitizers. Header-only (static functions): #include it after <Python.h> (PY_SSIZE_T_CLEAN).
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
 *                         tag over 64 characters; SQL may hold any UTF-8. (For a statement of whitespace that
 *                         classify() cannot split, e.g. "\x0c", Python raises IndexError; C answers 0.)
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

/* ---- detector prefilter ---------------------------------------------------------------------------------- */
/* Each check below is a necessary condition of one detector's regex (see detectors.py) evaluated on the
 * original value: when none holds, no detector fires, so none changes the value for the next one either.
 * Python's regexes run on code points and their IGNORECASE / \s also match a few non-ASCII characters
 * (U+017F for s, U+0130/U+0131 for i, U+212A for k, Unicode spaces): a non-ASCII byte where one of those could
 * matter answers "maybe". */

static inline int rt_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int rt_alpha(unsigned char c) { return (unsigned char)((c | 0x20) - 'a') < 26; }
static inline int rt_alnum(unsigned char c) { return rt_digit(c) || rt_alpha(c); }
/* ASCII characters of Python's \s for str patterns */
static inline int rt_space(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f); }
static inline unsigned char rt_lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c; }

static inline int rt_at(const char *s, Py_ssize_t n, Py_ssize_t i, const char *lit, Py_ssize_t m)
{
    /* m >= 2 everywhere; the first two bytes inline, as most candidates fail there */
    return i >= 0 && n - i >= m && s[i] == lit[0] && s[i + 1] == lit[1] && memcmp(s + i, lit, (size_t)m) == 0;
}

/* s[i:i+m] equals the lower-case ASCII `lit` ignoring ASCII case */
static inline int rt_at_ci(const char *s, Py_ssize_t n, Py_ssize_t i, const char *lit, Py_ssize_t m)
{
    if (i < 0 || n - i < m)
        return 0;
    for (Py_ssize_t k = 0; k < m; k++)
        if (rt_lower((unsigned char)s[i + k]) != (unsigned char)lit[k])
            return 0;
    return 1;
}

static int rt_luhn_ok(const char *d, int n)
{
    int total = 0;
    for (int i = 0; i < n; i++) {
        int x = d[n - 1 - i] - '0';
        if (i & 1) {
            x *= 2;
            if (x > 9)
                x -= 9;
        }
        total += x;
    }
    return total % 10 == 0;
}

static int rt_issuer_ok(const char *d, int n)
{
    int p2 = (d[0] - '0') * 10 + (d[1] - '0');
    int p3 = p2 * 10 + (d[2] - '0'), p4 = p3 * 10 + (d[3] - '0');
    int p6 = (p4 * 10 + (d[4] - '0')) * 10 + (d[5] - '0');
    if (d[0] == '4')
        return n == 13 || n == 16 || n == 19;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
        return n == 16;
    if (p2 == 34 || p2 == 37)
        return n == 15;
    if (p4 >= 2200 && p4 <= 2204)
        return n >= 16;
    if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 || (p6 >= 622126 && p6 <= 622925))
        return n >= 16;
    if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39)
        return n >= 14;
    if (p4 >= 3528 && p4 <= 3589)
        return n >= 16;
    if (p2 == 62 || p2 == 81)
        return n >= 16;
    return p2 == 50 || (p2 >= 56 && p2 <= 69);
}

static int rt_layout_ok(const int *lens, int n)
{
    if (n == 1)
        return lens[0] == 4 || lens[0] >= 13;
    int fours = 1;
    for (int i = 0; i < n - 1; i++)
        fours &= lens[i] == 4;
    if (fours && lens[n - 1] <= 4)
        return 1;
    return lens[0] == 4 && lens[1] == 6 && (n == 2 || (n == 3 && (lens[2] == 4 || lens[2] == 5)));
}

/* detectors.card_spans(s[a:b]) is not empty; s[a:b] is a _DIGIT_RUN region (digits, spaces, dashes) */
static int rt_card_in(const char *s, Py_ssize_t a, Py_ssize_t b)
{
    Py_ssize_t gi = a;
    while (gi < b) {
        char d[19];
        int lens[20], nd = 0, nl = 0;
        Py_ssize_t ga = gi, prev_end = -1, first_end = gi;
        while (first_end < b && rt_digit((unsigned char)s[first_end]))
            first_end++;
        while (ga < b && nl < 20) {
            Py_ssize_t ge = ga;
            while (ge < b && rt_digit((unsigned char)s[ge]))
                ge++;
            if (prev_end >= 0 && ga - prev_end != 1)
                break;
            lens[nl++] = (int)(ge - ga < 1000 ? ge - ga : 1000);
            if (!rt_layout_ok(lens, nl) || nd + (ge - ga) > 19)
                break;
            memcpy(d + nd, s + ga, (size_t)(ge - ga));
            nd += (int)(ge - ga);
            if (nd >= 13 && rt_issuer_ok(d, nd) && rt_luhn_ok(d, nd))
                return 1;
            prev_end = ge;
            ga = ge;
            while (ga < b && !rt_digit((unsigned char)s[ga]))
                ga++;
        }
        gi = first_end;
        while (gi < b && !rt_digit((unsigned char)s[gi]))
            gi++;
    }
    return 0;
}

/* the _SSN regex matches at k (inside a region) */
static int rt_ssn_at(const char *s, Py_ssize_t n, Py_ssize_t k)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n - k < 11 || u[k + 3] != '-' || u[k + 6] != '-')
        return 0;
    static const int dpos[] = {0, 1, 2, 4, 5, 7, 8, 9, 10};
    for (int i = 0; i < 9; i++)
        if (!rt_digit(u[k + dpos[i]]))
            return 0;
    if (k > 0 && (rt_digit(u[k - 1]) || u[k - 1] == '-'))
        return 0;
    if (memcmp(s + k, "000", 3) == 0 || memcmp(s + k, "666", 3) == 0 || u[k] == '9')
        return 0;
    if (memcmp(s + k + 4, "00", 2) == 0 || memcmp(s + k + 7, "0000", 4) == 0)
        return 0;
    Py_ssize_t e = k + 11;
    if (e < n && (rt_digit(u[e]) || (u[e] == '-' && e + 1 < n && rt_digit(u[e + 1]))))
        return 0;
    return 1;
}

/* digits, dots, digits, dots, digits, dot, digit from k: what _IPV4 needs at least */
static int rt_ipv4_at(const char *s, Py_ssize_t n, Py_ssize_t k)
{
    for (int part = 0; part < 4; part++) {
        Py_ssize_t j = k;
        while (k < n && rt_digit((unsigned char)s[k]))
            k++;
        if (k == j)
            return 0;
        if (part < 3) {
            if (k >= n || s[k] != '.')
                return 0;
            k++;
        }
    }
    return 1;
}

/* _ASSIGNMENT could match with its [:=] at p */
static int rt_assignment_at(const char *s, Py_ssize_t n, Py_ssize_t p)
{
#define RT_KW(w) {w, sizeof(w) - 1}
    static const struct {
        const char *w;
        Py_ssize_t len;
    } kw[] = {
        RT_KW("password"),   RT_KW("passwd"),     RT_KW("passphrase"), RT_KW("pwd"),         RT_KW("secret"),
        RT_KW("token"),      RT_KW("apikey"),     RT_KW("api_key"),    RT_KW("api-key"),     RT_KW("accesskey"),
        RT_KW("access_key"), RT_KW("access-key"), RT_KW("authkey"),    RT_KW("auth_key"),    RT_KW("auth-key"),
        RT_KW("privatekey"), RT_KW("private_key"), RT_KW("private-key"), RT_KW("credential"), RT_KW("credentials"),
    };
#undef RT_KW
    const unsigned char *u = (const unsigned char *)s;
    /* the value: \s*["']?[^\s"'&,;<>]{3,} */
    Py_ssize_t j = p + 1, got = 0;
    while (j < n && rt_space(u[j]))
        j++;
    if (j < n && (u[j] == '"' || u[j] == '\''))
        j++;
    for (; j < n && got < 3; j++, got++) {
        if (u[j] >= 0x80)
            break; /* a Unicode space or a value character: do not decide */
        if (rt_space(u[j]) || u[j] == '"' || u[j] == '\'' || u[j] == '&' || u[j] == ',' || u[j] == ';' || u[j] == '<'
            || u[j] == '>')
            return 0;
    }
    if (got < 3 && (j >= n || u[j] < 0x80))
        return 0;
    /* the keyword: KEYWORD["']?\s*  before p */
    j = p - 1;
    while (j >= 0 && rt_space(u[j]))
        j--;
    if (j >= 0 && (u[j] == '"' || u[j] == '\''))
        j--;
    for (Py_ssize_t k = j; k >= 0 && k > j - 14; k--)
        if (u[k] >= 0x80)
            return 1; /* a Unicode space, or U+212A lower-cased to k */
    if (j < 2 || !rt_alpha(u[j]))
        return 0;
    for (size_t i = 0; i < sizeof kw / sizeof *kw; i++)
        if (rt_lower(u[j]) == (unsigned char)kw[i].w[kw[i].len - 1]
            && rt_at_ci(s, n, j + 1 - kw[i].len, kw[i].w, kw[i].len))
            return 1;
    return 0;
}

/* `basic` (s as U+017F, i as U+0130/U+0131 under IGNORECASE) then \s, not after a letter or digit */
static int rt_basic_at(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    const unsigned char *u = (const unsigned char *)s;
    if ((i > 0 && rt_alnum(u[i - 1])) || i + 5 >= n || rt_lower(u[i + 1]) != 'a')
        return 0;
    Py_ssize_t j = i + 2;
    if (rt_lower(u[j]) == 's')
        j++;
    else if (u[j] == 0xC5 && j + 1 < n && u[j + 1] == 0xBF)
        j += 2;
    else
        return 0;
    if (j < n && rt_lower(u[j]) == 'i')
        j++;
    else if (j + 1 < n && u[j] == 0xC4 && (u[j + 1] == 0xB0 || u[j + 1] == 0xB1))
        j += 2;
    else
        return 0;
    return j + 1 < n && rt_lower(u[j]) == 'c' && (rt_space(u[j + 1]) || u[j + 1] >= 0x80);
}

static int rt_bearer_at(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    const unsigned char *u = (const unsigned char *)s;
    if ((i > 0 && rt_alnum(u[i - 1])) || !rt_at_ci(s, n, i, "bearer", 6) || i + 7 >= n)
        return 0;
    return rt_space(u[i + 6]) || u[i + 6] == '_' || u[i + 6] >= 0x80;
}

/* _EMAIL_DOMAIN from the "@" at i, with a local part character before it */
static int rt_email_at(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    const unsigned char *u = (const unsigned char *)s;
    if (i == 0 || !(rt_alnum(u[i - 1]) || memchr("._%+-", u[i - 1], 5) != NULL) || i + 1 >= n || !rt_alnum(u[i + 1]))
        return 0;
    for (Py_ssize_t k = i + 1; k < n && (rt_alnum(u[k]) || u[k] == '.' || u[k] == '-'); k++)
        if (u[k] == '.' && k + 2 < n && rt_alpha(u[k + 1]) && rt_alpha(u[k + 2]))
            return 1;
    return 0;
}

/* _URL_CREDS: userinfo and "@" after the "://" that ends at j */
static int rt_url_creds_at(const char *s, Py_ssize_t n, Py_ssize_t j)
{
    for (Py_ssize_t k = j; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == '@')
            return k > j;
        if (rt_space(c) || memchr("/?#\"'<>", c, 7) != NULL)
            return 0;
    }
    return 0;
}

static int rt_aws_secret_maybe(const char *s, Py_ssize_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    int aws = 0;
    for (Py_ssize_t i = 0; i + 2 < n && !aws; i++)
        aws = rt_at_ci(s, n, i, "aws", 3);
    if (!aws)
        return 0;
    Py_ssize_t run = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        run = (rt_alnum(c) || c == '/' || c == '+' || c == '=' || c >= 0x80) ? run + 1 : 0;
        if (run >= 40)
            return 1;
    }
    return 0;
}

/* an _IPV6 candidate needs "::" or 7 colons within a run of [0-9A-Fa-f:.] */
static int rt_ipv6_maybe(const char *s, Py_ssize_t n)
{
    int colons = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ':') {
            if (++colons >= 7 || (i > 0 && s[i - 1] == ':'))
                return 1;
        } else if (!(rt_digit(c) || c == '.' || (unsigned char)((c | 0x20) - 'a') < 6)) {
            colons = 0;
        }
    }
    return 0;
}

/* [0-9 -], what _DIGIT_RUN's regions are made of */
static const unsigned char rt_digit_run_char[256] = {
    [' '] = 1, ['-'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
};

/* card numbers and SSNs in the _DIGIT_RUN regions: in a maximal run of [0-9 -], from its first digit to its last,
   at least 9 long. Such a run covers one of every 9 positions, so only those are looked at. */
static int rt_digit_regions(const char *s, Py_ssize_t n, unsigned en)
{
    const unsigned char *u = (const unsigned char *)s;
    for (Py_ssize_t p = 8; p < n; p += 9) {
        if (!rt_digit_run_char[u[p]])
            continue;
        Py_ssize_t a = p, b = p + 1;
        while (a > 0 && rt_digit_run_char[u[a - 1]])
            a--;
        while (b < n && rt_digit_run_char[u[b]])
            b++;
        while (a < b && !rt_digit(u[a]))
            a++;
        Py_ssize_t last = b - 1;
        while (last > a && !rt_digit(u[last]))
            last--;
        if (last - a >= 8) {
            if ((en & RT_DET_PAYMENT_CARD) && rt_card_in(s, a, last + 1))
                return 1;
            if (en & RT_DET_US_SSN)
                for (Py_ssize_t j = a; j + 10 <= last; j++)
                    if (rt_ssn_at(s, n, j))
                        return 1;
        }
        while (p + 9 < b)
            p += 9;
    }
    return 0;
}

/* _IPV4 from each group of digits that does not follow a digit or a "." */
static int rt_ipv4_maybe(const char *s, Py_ssize_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (Py_ssize_t i = 0; i < n; i++)
        if (rt_digit(u[i]) && !(i > 0 && (rt_digit(u[i - 1]) || u[i - 1] == '.')) && rt_ipv4_at(s, n, i))
            return 1;
    return 0;
}

enum { RT_T_LIT = 1, RT_T_DASH, RT_T_Y, RT_T_A, RT_T_UND, RT_T_X, RT_T_B, RT_T_COLON, RT_T_EQ, RT_T_AT };

/* prefixes that are enough for "maybe": (trigger byte, where the prefix starts relative to it, detector) */
static const struct {
    char c;
    int off, len;
    unsigned bit;
    const char *lit;
} rt_literals[] = {
    {'y', 0, 5, RT_DET_GOOGLE_API_KEY, "ya29."},         {'A', 0, 4, RT_DET_GOOGLE_API_KEY, "AIza"},
    {'G', 0, 7, RT_DET_GOOGLE_API_KEY, "GOCSPX-"},       {'x', 0, 5, RT_DET_SLACK_TOKEN, "xapp-"},
    {'k', -3, 16, RT_DET_SLACK_TOKEN, "hooks.slack.com/"}, {'_', -5, 6, RT_DET_STRIPE_KEY, "whsec_"},
    {'_', -6, 11, RT_DET_GITHUB_TOKEN, "github_pat_"},
};

/* 1 + the index of a trigger byte's first entry in rt_literals (entries of one byte are adjacent) */
static const unsigned char rt_literal_first[256] = {['y'] = 1, ['A'] = 2, ['G'] = 3, ['x'] = 4, ['k'] = 5, ['_'] = 6};

static int rt_literal_at(const char *s, Py_ssize_t n, Py_ssize_t i, unsigned en)
{
    const size_t count = sizeof rt_literals / sizeof *rt_literals;
    size_t k = rt_literal_first[(unsigned char)s[i]];
    if (k == 0)
        return 0;
    for (k--; k < count && rt_literals[k].c == s[i]; k++)
        if ((en & rt_literals[k].bit) && rt_at(s, n, i + rt_literals[k].off, rt_literals[k].lit, rt_literals[k].len))
            return 1;
    return 0;
}

static const unsigned char rt_trigger[256] = {
    ['-'] = RT_T_DASH, ['G'] = RT_T_LIT, ['k'] = RT_T_LIT, ['y'] = RT_T_Y, ['A'] = RT_T_A, ['_'] = RT_T_UND,
    ['x'] = RT_T_X, ['b'] = RT_T_B, ['B'] = RT_T_B, [':'] = RT_T_COLON, ['='] = RT_T_EQ, ['@'] = RT_T_AT,
};

static inline int rt_detect_maybe(const char *s, Py_ssize_t n, unsigned en)
{
    const unsigned char *u = (const unsigned char *)s;
    int assign = 0, colons = 0;
    if (n < 6 || (en & RT_DET_ALL) == 0) /* scan() skips values under 6 characters */
        return 0;
    const unsigned char *t = rt_trigger;
    for (Py_ssize_t i = 0; i < n; i++) {
        /* most bytes trigger nothing: skip them eight at a time without a branch per byte */
        while (i + 8 <= n && !(t[u[i]] | t[u[i + 1]] | t[u[i + 2]] | t[u[i + 3]] | t[u[i + 4]] | t[u[i + 5]]
                               | t[u[i + 6]] | t[u[i + 7]]))
            i += 8;
        while (i < n && !t[u[i]])
            i++;
        if (i >= n)
            break;
        switch (t[u[i]]) {
        case RT_T_DASH:
            if ((en & RT_DET_PRIVATE_KEY) && rt_at(s, n, i, "-----BEGIN", 10))
                return 1;
            break;
        case RT_T_LIT:
            if (rt_literal_at(s, n, i, en))
                return 1;
            break;
        case RT_T_Y:
            if ((en & RT_DET_JWT) && i > 0 && u[i - 1] == 'e' && i + 1 < n && u[i + 1] == 'J'
                && !(i > 1 && (rt_alnum(u[i - 2]) || u[i - 2] == '_' || u[i - 2] == '-')))
                return 1;
            if (rt_literal_at(s, n, i, en))
                return 1;
            break;
        case RT_T_A:
            if (rt_literal_at(s, n, i, en))
                return 1;
            if ((en & RT_DET_AWS_ACCESS_KEY) && n - i >= 20
                && (rt_at(s, n, i, "AKIA", 4) || rt_at(s, n, i, "ASIA", 4) || rt_at(s, n, i, "ABIA", 4)
                    || rt_at(s, n, i, "ACCA", 4))) {
                Py_ssize_t k = i + 4;
                while (k < i + 20 && (rt_digit(u[k]) || (u[k] >= 'A' && u[k] <= 'Z')))
                    k++;
                if (k == i + 20)
                    return 1;
            }
            break;
        case RT_T_UND:
            if ((en & RT_DET_GITHUB_TOKEN)
                && i >= 3 && u[i - 3] == 'g' && u[i - 2] == 'h' && memchr("pousr", u[i - 1], 5) != NULL)
                return 1;
            if ((en & RT_DET_STRIPE_KEY)
                && i >= 2 && u[i - 1] == 'k' && (u[i - 2] == 's' || u[i - 2] == 'r')
                && (rt_at(s, n, i + 1, "live_", 5) || rt_at(s, n, i + 1, "test_", 5)))
                return 1;
            if (rt_literal_at(s, n, i, en))
                return 1;
            break;
        case RT_T_X:
            if ((en & RT_DET_SLACK_TOKEN) && rt_at(s, n, i, "xox", 3) && i + 4 < n
                && memchr("abposrce", u[i + 3], 8) != NULL && u[i + 4] == '-')
                return 1;
            if (rt_literal_at(s, n, i, en))
                return 1;
            break;
        case RT_T_B:
            if (((en & RT_DET_BEARER_TOKEN) && rt_bearer_at(s, n, i))
                || ((en & RT_DET_BASIC_AUTH) && rt_basic_at(s, n, i)))
                return 1;
            break;
        case RT_T_COLON:
            colons++;
            if ((en & RT_DET_URL_CREDENTIALS) && rt_at(s, n, i, "://", 3) && rt_url_creds_at(s, n, i + 3))
                return 1;
            /* fall through */
        case RT_T_EQ:
            assign = 1;
            if ((en & RT_DET_SECRET_ASSIGNMENT) && rt_assignment_at(s, n, i))
                return 1;
            break;
        case RT_T_AT:
            if ((en & RT_DET_EMAIL) && rt_email_at(s, n, i))
                return 1;
            break;
        }
    }
    if ((en & RT_DET_AWS_SECRET_KEY) && assign && n >= 44 && rt_aws_secret_maybe(s, n))
        return 1;
    if ((en & (RT_DET_PAYMENT_CARD | RT_DET_US_SSN)) && rt_digit_regions(s, n, en))
        return 1;
    if ((en & RT_DET_IPV4) && rt_ipv4_maybe(s, n))
        return 1;
    if ((en & RT_DET_IPV6) && colons >= 2 && rt_ipv6_maybe(s, n))
        return 1;
    return 0;
}

/* ---- URL sanitizer: URLSanitizer().url (no allowed query parameters), ASCII only ------------------------------ */

#define RT_MASK "REDACTED"
#define RT_PUT(b, s, n)                                                                                      \
    do {                                                                                                     \
        if (rtbuf_put((b), (s), (n)) < 0)                                                                    \
            return -1;                                                                                       \
    } while (0)
#define RT_PUTS(b, lit) RT_PUT(b, lit, (Py_ssize_t)(sizeof(lit) - 1))

static inline int rt_hex(unsigned char c) { return rt_digit(c) || (unsigned char)((c | 0x20) - 'a') < 6; }

static inline Py_ssize_t rt_find(const char *s, Py_ssize_t a, Py_ssize_t b, char c)
{
    const char *p = b > a ? memchr(s + a, c, (size_t)(b - a)) : NULL;
    return p ? p - s : -1;
}

/* sanitizers.looks_like_token(s[a:b]) */
static int rt_looks_like_token(const char *s, Py_ssize_t a, Py_ssize_t b)
{
    const unsigned char *u = (const unsigned char *)s;
    Py_ssize_t n = b - a, upper = 0, lower = 0, digit = 0;
    int hex = 1, dash_dot = 0;
    if (n < 20)
        return 0;
    for (Py_ssize_t i = a; i < b; i++) {
        unsigned char c = u[i];
        if (c >= 'a' && c <= 'z')
            lower++;
        else if (c >= 'A' && c <= 'Z')
            upper++;
        else if (rt_digit(c))
            digit++;
        else if (c == '-' || c == '.')
            dash_dot = 1;
        else if (c != '_' && c != '+' && c != '=' && c != '~' && c != '%')
            return 0;
        hex &= rt_hex(c);
    }
    if (n == 36 && s[a + 8] == '-' && s[a + 13] == '-' && s[a + 18] == '-' && s[a + 23] == '-') {
        int uuid = 1;
        for (Py_ssize_t i = 0; i < 36; i++)
            if (i != 8 && i != 13 && i != 18 && i != 23)
                uuid &= rt_hex(u[a + i]);
        if (uuid)
            return 0;
    }
    if (n >= 32 && hex)
        return 1;
    if (upper && lower && digit)
        return 1;
    return n >= 24 && digit >= 4 && upper + lower >= 4 && !dash_dot;
}

/* URLSanitizer.query(s[a:b], sep) */
static int rt_url_query(const char *s, Py_ssize_t a, Py_ssize_t b, char sep, RtBuf *out)
{
    if (a >= b)
        return 0;
    Py_ssize_t p = a;
    for (;;) {
        Py_ssize_t e = rt_find(s, p, b, sep);
        if (e < 0)
            e = b;
        Py_ssize_t eq = rt_find(s, p, e, '=');
        if (eq >= 0 && eq + 1 < e) {
            RT_PUT(out, s + p, eq + 1 - p);
            RT_PUTS(out, RT_MASK);
        } else if (eq < 0 && rt_looks_like_token(s, p, e)) {
            RT_PUTS(out, RT_MASK);
        } else {
            RT_PUT(out, s + p, e - p);
        }
        if (e == b)
            return 0;
        RT_PUT(out, &sep, 1);
        p = e + 1;
    }
}

/* URLSanitizer.path(s[a:b]) */
static int rt_url_path(const char *s, Py_ssize_t a, Py_ssize_t b, RtBuf *out)
{
    if (b - a < 20 && rt_find(s, a, b, ';') < 0) {
        RT_PUT(out, s + a, b - a);
        return 0;
    }
    Py_ssize_t p = a;
    for (;;) {
        Py_ssize_t e = rt_find(s, p, b, '/');
        if (e < 0)
            e = b;
        Py_ssize_t semi = rt_find(s, p, e, ';');
        if (semi >= 0) {
            if (rt_looks_like_token(s, p, semi))
                RT_PUTS(out, RT_MASK);
            else
                RT_PUT(out, s + p, semi - p);
            RT_PUTS(out, ";");
            if (rt_url_query(s, semi + 1, e, ';', out) < 0)
                return -1;
        } else if (rt_looks_like_token(s, p, e)) {
            RT_PUTS(out, RT_MASK);
        } else {
            RT_PUT(out, s + p, e - p);
        }
        if (e == b)
            return 0;
        RT_PUTS(out, "/");
        p = e + 1;
    }
}

static inline int rt_finish(const char *s, Py_ssize_t n, RtBuf *out)
{
    if (out->len == n && (n == 0 || memcmp(out->data, s, (size_t)n) == 0))
        return 0;
    return 1;
}

static inline int rt_ascii(const char *s, Py_ssize_t n)
{
    uint64_t acc = 0, w;
    Py_ssize_t k = 0;
    for (; k + 8 <= n; k += 8) {
        memcpy(&w, s + k, 8);
        acc |= w;
    }
    for (; k < n; k++)
        acc |= (unsigned char)s[k];
    return (acc & 0x8080808080808080ull) == 0;
}

static inline int rt_sanitize_url(const char *s, Py_ssize_t n, RtBuf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    out->len = 0;
    if (!rt_ascii(s, n))
        return 2;
    Py_ssize_t i = -1, rest = 0;
    for (Py_ssize_t k = rt_find(s, 0, n, ':'); k >= 0; k = rt_find(s, k + 1, n, ':'))
        if (k + 2 < n && s[k + 1] == '/' && s[k + 2] == '/') {
            i = k;
            break;
        }
    int head = 0;
    int web = (i == 5 && memcmp(s, "https", 5) == 0) || (i == 4 && memcmp(s, "http", 4) == 0);
    if (!web && i > 0 && i <= 32 && rt_alpha(u[0])) {
        web = 1;
        for (Py_ssize_t k = 1; k < i; k++)
            if (!(rt_alnum(u[k]) || u[k] == '+' || u[k] == '.' || u[k] == '-'))
                web = 0;
    }
    if (web) {
        head = 1;
        rest = i + 3;
    } else if (n >= 2 && s[0] == '/' && s[1] == '/') {
        head = 1;
        rest = 2;
    }
    RT_PUT(out, s, rest);
    if (head) {
        Py_ssize_t end = rt_find(s, rest, n, '/');
        Py_ssize_t at = -1;
        for (Py_ssize_t k = rest; k < (end < 0 ? n : end); k++)
            if (s[k] == '@')
                at = k;
        if (at >= 0) {
            if (rt_find(s, rest, at, ':') >= 0)
                RT_PUTS(out, RT_MASK ":" RT_MASK "@");
            else
                RT_PUTS(out, RT_MASK "@");
            rest = at + 1;
        }
    }
    Py_ssize_t hash = rt_find(s, rest, n, '#');
    Py_ssize_t r_end = hash < 0 ? n : hash;
    Py_ssize_t q = rt_find(s, rest, r_end, '?');
    Py_ssize_t p_end = q < 0 ? r_end : q;
    if (head) {
        Py_ssize_t slash = rt_find(s, rest, p_end, '/');
        Py_ssize_t host_end = slash < 0 ? p_end : slash;
        RT_PUT(out, s + rest, host_end - rest);
        rest = host_end;
    }
    if (rt_url_path(s, rest, p_end, out) < 0)
        return -1;
    if (q >= 0) {
        RT_PUTS(out, "?");
        if (rt_url_query(s, q + 1, r_end, '&', out) < 0)
            return -1;
    }
    if (hash >= 0) {
        RT_PUTS(out, "#");
        if (rt_find(s, hash + 1, n, '=') >= 0) {
            if (rt_url_query(s, hash + 1, n, '&', out) < 0)
                return -1;
        } else if (rt_looks_like_token(s, hash + 1, n)) {
            RT_PUTS(out, RT_MASK);
        } else {
            RT_PUT(out, s + hash + 1, n - hash - 1);
        }
    }
    return rt_finish(s, n, out);
}

/* ---- SQL sanitizer: sanitize_statement(s, {"sql"}), that is sanitizers._SQL.sub(_sql_token, s) --------------- */
/* (_SQL_SIMPLE, used when there are no comments, dollar or double quotes and no digit after a ".", gives the same
 * result as _SQL by construction.) Byte-exact for UTF-8: every class involved is ASCII or "anything but X". */

static inline int rt_ident_char(unsigned char c)
{
    return rt_alnum(c) || c == '_' || c == '$' || c == '@' || c == '#' || c == ':';
}

/* the bytes _SQL's alternatives start with */
static const unsigned char rt_sql_start[256] = {
    ['-'] = 1, ['/'] = 1, ['\''] = 1, ['$'] = 1, ['"'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
};

static inline int rt_sanitize_sql(const char *s, Py_ssize_t n, RtBuf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    Py_ssize_t i = 0, copied = 0; /* s[copied:i] is pending output */
    out->len = 0;
    for (;;) {
        while (i < n && !rt_sql_start[u[i]])
            i++;
        if (i >= n)
            break;
        unsigned char c = u[i];
        Py_ssize_t e = -1; /* end of a token starting at i */
        int keep = 0;
        if (c == '-' && i + 1 < n && u[i + 1] == '-') {
            e = rt_find(s, i, n, '\n');
            if (e < 0)
                e = n;
            RT_PUT(out, s + copied, i - copied);
            copied = i = e; /* removed */
            continue;
        } else if (c == '/' && i + 1 < n && u[i + 1] == '*') {
            e = n;
            for (Py_ssize_t k = i + 2; k + 1 < n; k++)
                if (u[k] == '*' && u[k + 1] == '/') {
                    e = k + 2;
                    break;
                }
            RT_PUT(out, s + copied, i - copied);
            copied = i = e;
            continue;
        } else if (c == '\'') {
            Py_ssize_t k = i + 1;
            for (;;) {
                if (k >= n) {
                    e = n;
                    break;
                }
                if (u[k] == '\\') {
                    if (k + 1 >= n)
                        return 2; /* the regex backtracks to the last '' here: leave that to Python */
                    k += 2;
                } else if (u[k] == '\'') {
                    if (k + 1 < n && u[k + 1] == '\'') {
                        k += 2;
                    } else {
                        e = k + 1;
                        break;
                    }
                } else {
                    k++;
                }
            }
        } else if (c == '$') {
            Py_ssize_t k = i + 1;
            while (k < n && (rt_alpha(u[k]) || u[k] == '_'))
                k++;
            if (k < n && u[k] == '$') {
                Py_ssize_t tag = k + 1 - i; /* "$tag$" */
                if (tag > 66)
                    return 2; /* keep the search for the closing tag linear */
                e = n;
                for (Py_ssize_t m = k + 1; m + tag <= n; m++)
                    if (u[m] == '$' && memcmp(s + m, s + i, (size_t)tag) == 0) {
                        e = m + tag;
                        break;
                    }
            }
        } else if (c == '"') {
            Py_ssize_t k = i + 1;
            e = n;
            while (k < n) {
                if (u[k] == '"') {
                    if (k + 1 < n && u[k + 1] == '"') {
                        k += 2;
                        continue;
                    }
                    e = k + 1;
                    break;
                }
                k++;
            }
            /* "identifier" stays: "[A-Za-z_][A-Za-z0-9_$]{0,62}" */
            Py_ssize_t len = e - i;
            if (len >= 3 && len <= 65 && u[e - 1] == '"' && (rt_alpha(u[i + 1]) || u[i + 1] == '_')) {
                keep = 1;
                for (Py_ssize_t m = i + 2; m < e - 1; m++)
                    if (!(rt_alnum(u[m]) || u[m] == '_' || u[m] == '$'))
                        keep = 0;
            }
        } else if (rt_digit(c)) {
            e = i + 1;
            while (e < n && (rt_alnum(u[e]) || u[e] == '_' || u[e] == '.'))
                e++;
            keep = i > 0 && rt_ident_char(u[i - 1]);
        }
        if (e < 0) {
            i++;
            continue;
        }
        if (!keep) {
            RT_PUT(out, s + copied, i - copied);
            RT_PUTS(out, "?");
            copied = e;
        }
        i = e;
    }
    RT_PUT(out, s + copied, n - copied);
    return rt_finish(s, n, out);
}

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
