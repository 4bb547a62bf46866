/* The URL and SQL sanitizers (rt_sanitize_url, rt_sanitize_sql), part of redact_text.h: include that, not this. */
#ifndef EDGETEL_REDACT_TEXT_SANITIZE_H
#define EDGETEL_REDACT_TEXT_SANITIZE_H

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

#endif
