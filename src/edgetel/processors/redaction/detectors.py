"""Built-in detectors of secrets and personal data in string values.

Every detector is guarded by a cheap substring test (`"@" in s`, `"eyJ" in s`, ...) so the common case, a value
with nothing to find, costs a handful of `in` checks and one digit-run regex. Only the matched part of a value
is replaced (an `Authorization: Bearer x` value keeps its scheme); the replacement never contains the secret.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterable

# name -> on by default; the order is the order detectors run in (long structures first)
DETECTORS: dict[str, bool] = {
    "private_key": True,
    "jwt": True,
    "bearer_token": True,
    "basic_auth": True,
    "url_credentials": True,
    "aws_access_key": True,
    "aws_secret_key": True,
    "github_token": True,
    "slack_token": True,
    "stripe_key": True,
    "google_api_key": True,
    "secret_assignment": True,
    "email": True,
    "payment_card": True,
    "us_ssn": True,
    "ipv4": False,
    "ipv6": False,
}

# what sanitizers and masks leave behind; matching it again would only relabel it
_MASK_TOKENS = frozenset({"REDACTED", "REDACTED:REDACTED", "****", "?"})

# (rule, secret text) -> replacement
Mask = Callable[[str, str], str]
_Check = Callable[[re.Match[str], str], bool]

_PEM = re.compile(
    r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.S,
)
# possessive runs and a start that is not inside a run keep long hostile values linear
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{6,}+\.[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]*+")
# DogStatsD clients turn the space of a tag value into "_": `auth:Bearer_xyz`
_BEARER = re.compile(r"(?i)(?<![A-Za-z0-9])bearer(\s+|_)([A-Za-z0-9\-._~+/]+=*)")
_BASIC = re.compile(r"(?i)(?<![A-Za-z0-9])basic\s+([A-Za-z0-9+/]{4,}={0,2})")
_AUTH_PREFIX = re.compile(r"(?i)authorization[\"']?\s*[:=]\s*[\"']?$")
_URL_CREDS = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,30}://([^\s/?#@\"'<>]{1,256})@")
_AWS_ID = re.compile(r"A(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16}(?![A-Z0-9])")
_AWS_SECRET = re.compile(
    r"(?i)aws[a-z0-9_.\-]{0,30}(?:secret|key)[a-z0-9_.\-]{0,20}[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
)
_GITHUB = re.compile(r"(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})")
_SLACK = re.compile(
    r"(?:xox[abposrce]-[0-9A-Za-z\-]{10,250}|xapp-[0-9]-[A-Za-z0-9\-]{10,250}"
    r"|hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_\-]{8,250})"
)
_STRIPE = re.compile(r"(?:[sr]k_(?:live|test)_[0-9A-Za-z]{10,250}|whsec_[0-9A-Za-z]{20,250})")
_GOOGLE = re.compile(r"(?:AIza[0-9A-Za-z_\-]{35}|GOCSPX-[0-9A-Za-z_\-]{20,40}|ya29\.[0-9A-Za-z_\-]{20,2048})")
_SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "credential")
# run on the lower-cased value: no IGNORECASE, so the engine can skip quickly to the first letter of a keyword
_ASSIGNMENT = re.compile(
    r"(?:password|passwd|passphrase|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|auth[_\-]?key"
    r"|private[_\-]?key|credentials?)[\"']?\s*[:=]\s*[\"']?([^\s\"'&,;<>]{3,})"
)
_EMAIL_DOMAIN = re.compile(r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9\-])")
_EMAIL_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_DIGIT_RUN = re.compile(r"[0-9][0-9 \-]{7,}[0-9]")
_CARD_GROUP = re.compile(r"[0-9]+")
_SSN = re.compile(r"(?<![0-9\-])(?!000|666|9[0-9][0-9])[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}(?![0-9]|-[0-9])")
_IPV4 = re.compile(
    r"(?<![0-9.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    r"(?!\.?[0-9])"
)
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3}|[0-9A-Fa-f]{0,4})(?![0-9A-Za-z:])"
)

# Attribute keys that name a credential (the whole value is masked), matched on the key's last segment.
SENSITIVE_KEY = re.compile(
    r"(?i)(?:^|[._\-\s/])(?:password|passwd|passphrase|pwd|secret|client[_\-]?secret|secret[_\-]?key"
    r"|(?:access|refresh|id|auth|bearer|session|csrf|xsrf|api)?[_\-]?token|api[_\-]?key|apikey|x[_\-]api[_\-]key"
    r"|access[_\-]?key|private[_\-]?key|authorization|proxy[_\-]authorization|cookie|set[_\-]cookie"
    r"|session[_\-]?id|sessionid|credentials?)$"
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        x = ord(ch) - 48
        if i & 1:
            x *= 2
            if x > 9:
                x -= 9
        total += x
    return total % 10 == 0


def issuer_ok(d: str) -> bool:
    """Whether a 13-19 digit string has the prefix and length of a payment card network."""
    n = len(d)
    p2, p3, p4, p6 = int(d[:2]), int(d[:3]), int(d[:4]), int(d[:6])
    if d[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if 2200 <= p4 <= 2204:  # Mir
        return 16 <= n <= 19
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925:  # Discover
        return 16 <= n <= 19
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):  # Diners Club
        return 14 <= n <= 19
    if 3528 <= p4 <= 3589:  # JCB
        return 16 <= n <= 19
    if p2 in (62, 81):  # UnionPay
        return 16 <= n <= 19
    return p2 == 50 or 56 <= p2 <= 69  # Maestro (13-19 here)


def _card_layout_ok(lens: list[int]) -> bool:
    """Printed card numbers are one run, groups of four (the last may be shorter), or 4-6-5 / 4-6-4; this
    also holds for every prefix of a valid layout, so a window stops growing as soon as it fails."""
    n = len(lens)
    if n == 1:
        return lens[0] == 4 or lens[0] >= 13
    if all(x == 4 for x in lens[:-1]) and lens[-1] <= 4:
        return True
    return lens[0] == 4 and lens[1] == 6 and (n == 2 or (n == 3 and lens[2] in (4, 5)))


def card_spans(s: str) -> list[tuple[int, int]]:
    """(start, end) of payment card numbers in `s`: 13-19 digits, optionally grouped by single spaces or dashes,
    with a card network's prefix and a valid Luhn check digit."""
    out: list[tuple[int, int]] = []
    for region in _DIGIT_RUN.finditer(s):
        groups = [(m.start(), m.end()) for m in _CARD_GROUP.finditer(s, region.start(), region.end())]
        i = 0
        while i < len(groups):
            digits = ""
            lens: list[int] = []
            best = -1
            for j in range(i, len(groups)):
                a, b = groups[j]
                if j > i and a - groups[j - 1][1] != 1:  # two separators in a row end a number
                    break
                lens.append(b - a)
                if not _card_layout_ok(lens):
                    break
                digits += s[a:b]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and issuer_ok(digits) and luhn_ok(digits):
                    best = j  # keep extending: the longest valid number wins
            if best >= 0:
                out.append((groups[i][0], groups[best][1]))
                i = best + 1
            else:
                i += 1
    return out


def email_spans(s: str) -> list[tuple[int, int]]:
    """Addresses found from each `@`: the domain by regex, the local part by walking left (at most 64)."""
    out: list[tuple[int, int]] = []
    for m in _EMAIL_DOMAIN.finditer(s):
        at = i = m.start()
        while i > 0 and at - i < 64 and s[i - 1] in _EMAIL_LOCAL:
            i -= 1
        if i < at and s[i:at] not in _MASK_TOKENS:
            out.append((i, m.end()))
    return out


def _header_context(m: re.Match[str], s: str) -> bool:
    """The match is an Authorization header value: the whole value, or right after `authorization:`."""
    if m.start() == 0 and not s[m.end() :].strip():
        return True
    start = m.start()
    return _AUTH_PREFIX.search(s, max(0, start - 40), start) is not None


def _bearer_ok(m: re.Match[str], s: str) -> bool:
    tok = m.group(2)
    strong = len(tok) >= 20 or (len(tok) >= 8 and any(c.isdigit() for c in tok))
    if m.group(1) == "_":  # `bearer_token` is also a plain word: only a token that looks like one
        return strong
    return strong or _header_context(m, s)


def _basic_ok(m: re.Match[str], s: str) -> bool:
    if _header_context(m, s):
        return True
    tok = m.group(1)
    try:
        raw = base64.b64decode(tok + "=" * (-len(tok) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in raw


def _aws_id_ok(m: re.Match[str], s: str) -> bool:
    a = m.start()
    return a == 0 or not ("A" <= s[a - 1] <= "Z" or "0" <= s[a - 1] <= "9")


def _ipv6_ok(m: re.Match[str], s: str) -> bool:
    cand = m.group(0)
    if "::" not in cand and cand.count(":") < 7:
        return False
    try:
        ipaddress.IPv6Address(cand)
    except ValueError:
        return False
    return True


class Detectors:
    """The enabled built-in detectors, applied one after another to a string value."""

    def __init__(self, enabled: Iterable[str], mask: Mask) -> None:
        on = set(enabled)
        unknown = on - set(DETECTORS)
        if unknown:
            raise ValueError(f"unknown detectors: {sorted(unknown)}")
        self.enabled = frozenset(on)
        self._mask = mask
        self._pem = "private_key" in on
        self._jwt = "jwt" in on
        self._bearer = "bearer_token" in on
        self._basic = "basic_auth" in on
        self._url_creds = "url_credentials" in on
        self._aws_id = "aws_access_key" in on
        self._aws_secret = "aws_secret_key" in on
        self._github = "github_token" in on
        self._slack = "slack_token" in on
        self._stripe = "stripe_key" in on
        self._google = "google_api_key" in on
        self._assign = "secret_assignment" in on
        self._email = "email" in on
        self._card = "payment_card" in on
        self._ssn = "us_ssn" in on
        self._ipv4 = "ipv4" in on
        self._ipv6 = "ipv6" in on
        self._digits = self._card or self._ssn

    def scan(self, s: str, rules: list[str]) -> str:
        """`s` with every detected secret masked; the names of the detectors that matched are appended to
        `rules` (once per match)."""
        # The gates are plain substring tests on purpose: they are much cheaper than one combined regex.
        n = len(s)
        if n < 6:  # nothing we detect is that short
            return s
        if n < 13 and s.isdigit():  # an id or a count: too short for a card number, no separators
            return s
        if n >= 20:  # keys and tokens
            if self._pem and "PRIVATE KEY" in s and "-----BEGIN" in s:
                s = self._sub(_PEM, s, "private_key", rules)
            if self._jwt and "eyJ" in s:
                s = self._sub(_JWT, s, "jwt", rules)
            if self._aws_id and ("AKIA" in s or "ASIA" in s or "ABIA" in s or "ACCA" in s):
                s = self._sub(_AWS_ID, s, "aws_access_key", rules, 0, _aws_id_ok)
            if self._github and "_" in s and ("gh" in s or "github_pat_" in s):
                s = self._sub(_GITHUB, s, "github_token", rules)
            if self._slack and ("xox" in s or "xapp-" in s or "hooks.slack.com" in s):
                s = self._sub(_SLACK, s, "slack_token", rules)
            if self._stripe and ("k_live_" in s or "k_test_" in s or "whsec_" in s):
                s = self._sub(_STRIPE, s, "stripe_key", rules)
            if self._google and ("AIza" in s or "GOCSPX-" in s or "ya29." in s):
                s = self._sub(_GOOGLE, s, "google_api_key", rules)
        if self._bearer and ("earer" in s or "EARER" in s):
            s = self._sub(_BEARER, s, "bearer_token", rules, 2, _bearer_ok)
        if self._basic and ("asic" in s or "ASIC" in s):
            s = self._sub(_BASIC, s, "basic_auth", rules, 1, _basic_ok)
        if "@" in s:
            if self._url_creds and "://" in s:
                s = self._sub(_URL_CREDS, s, "url_credentials", rules, 1, _not_masked)
            if self._email:
                s = self._replace(s, email_spans(s), "email", rules)
        if ("=" in s or ":" in s) and (self._assign or self._aws_secret):
            low = s.lower()
            if self._aws_secret and "aws" in low:
                s = self._sub(_AWS_SECRET, s, "aws_secret_key", rules, 1)
                low = s.lower()
            if self._assign:
                for w in _SECRET_WORDS:
                    if w in low:
                        text = low if len(low) == len(s) else None
                        s = self._sub(_ASSIGNMENT, s, "secret_assignment", rules, 1, _not_masked, text)
                        break
        if self._digits and _DIGIT_RUN.search(s) is not None:
            if self._card:
                s = self._replace(s, card_spans(s), "payment_card", rules)
            if self._ssn and "-" in s:
                s = self._sub(_SSN, s, "us_ssn", rules)
        if self._ipv4 and "." in s:
            s = self._sub(_IPV4, s, "ipv4", rules)
        if self._ipv6 and s.count(":") >= 2:
            s = self._sub(_IPV6, s, "ipv6", rules, 0, _ipv6_ok)
        return s

    def _sub(
        self,
        rx: re.Pattern[str],
        s: str,
        rule: str,
        rules: list[str],
        group: int = 0,
        check: _Check | None = None,
        text: str | None = None,
    ) -> str:
        """Mask group `group` of every match of `rx` in `text` (a same-length form of `s`, default `s`)."""
        spans = []
        for m in rx.finditer(s if text is None else text):
            a, b = m.span(group)
            if a < 0 or a == b or (check is not None and not check(m, s)):
                continue
            spans.append((a, b))
        return self._replace(s, spans, rule, rules) if spans else s

    def _replace(self, s: str, spans: list[tuple[int, int]], rule: str, rules: list[str]) -> str:
        if not spans:
            return s
        parts: list[str] = []
        pos = 0
        for a, b in spans:
            parts.append(s[pos:a])
            parts.append(self._mask(rule, s[a:b]))
            pos = b
            rules.append(rule)
        parts.append(s[pos:])
        return "".join(parts)


def _not_masked(m: re.Match[str], s: str) -> bool:
    v = s[m.start(1) : m.end(1)]
    return v not in _MASK_TOKENS and not v.startswith("[redacted")
