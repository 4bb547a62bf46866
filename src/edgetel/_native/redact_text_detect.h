/* The detector prefilter (rt_detect_maybe), part of redact_text.h: include that header, not this one. */
#ifndef EDGETEL_REDACT_TEXT_DETECT_H
#define EDGETEL_REDACT_TEXT_DETECT_H

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

#endif
