"""Structure-aware sanitizers: URLs (query values, userinfo, token-like path segments) and database statements
(SQL literals, Redis/Valkey/Memcached arguments, MongoDB/Elasticsearch/OpenSearch JSON values)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

# What the OpenTelemetry semantic conventions prescribe for credentials and sensitive query values in url.full.
URL_MASK = "REDACTED"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+=.~%]+")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_URL_IN_TEXT = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]{0,30}://|/)[^\s\"'<>]*")


def looks_like_token(seg: str) -> bool:
    """Whether a path segment (or key part) looks like a random credential rather than a name or an id.

    Random tokens mix upper case, lower case and digits, or are long hex strings; slugs (`my-first-post`),
    numbers, UUIDs and dates do not qualify."""
    n = len(seg)
    if n < 20 or _TOKEN_CHARS.fullmatch(seg) is None:
        return False
    if _UUID.fullmatch(seg) is not None:
        return False
    if n >= 32 and _HEX.fullmatch(seg) is not None:
        return True
    upper = lower = digit = 0
    for c in seg:
        if "a" <= c <= "z":
            lower += 1
        elif "A" <= c <= "Z":
            upper += 1
        elif "0" <= c <= "9":
            digit += 1
    if upper and lower and digit:
        return True
    # base64/base62 without a digit is rare for real tokens but common for long words: require both kinds
    return n >= 24 and digit >= 4 and (upper + lower) >= 4 and "-" not in seg and "." not in seg


class URLSanitizer:
    """Masks userinfo, query and fragment parameter values, and token-like path segments."""

    def __init__(self, allowed_query_params: Collection[str] = ()) -> None:
        self._allowed = frozenset(allowed_query_params)

    def url(self, s: str) -> str:
        head = ""
        rest = s
        i = s.find("://")
        # http(s) first: the scheme regex is the slow path
        web = (i == 5 and s.startswith("https")) or (i == 4 and s.startswith("http"))
        if web or (0 < i <= 32 and _SCHEME.fullmatch(s, 0, i) is not None):
            head, rest = s[: i + 3], s[i + 3 :]
        elif s.startswith("//"):
            head, rest = "//", s[2:]
        if head:
            # the authority ends at the first "/"; its userinfo ends at the last "@" in it, so a "?" or "#" in a
            # password cannot cut the URL short
            end = rest.find("/")
            authority = rest if end < 0 else rest[:end]
            at = authority.rfind("@")
            if at >= 0:
                userinfo = authority[:at]
                head += f"{URL_MASK}:{URL_MASK}@" if ":" in userinfo else f"{URL_MASK}@"
                rest = rest[at + 1 :]
        rest, hash_, frag = rest.partition("#")
        path, qmark, query = rest.partition("?")
        if head:
            end = path.find("/")
            host, path = (path, "") if end < 0 else (path[:end], path[end:])
            head += host
        out = head + self.path(path)
        if qmark:
            out += "?" + self.query(query)
        if hash_:
            out += "#" + (self.query(frag) if "=" in frag else (URL_MASK if looks_like_token(frag) else frag))
        return out

    def path(self, p: str) -> str:
        if len(p) < 20 and ";" not in p:
            return p
        segs = p.split("/")
        changed = False
        for i, seg in enumerate(segs):
            if ";" in seg:  # matrix parameters such as ;jsessionid=...
                head, _, params = seg.partition(";")
                new = (URL_MASK if looks_like_token(head) else head) + ";" + self.query(params, ";")
            elif looks_like_token(seg):
                new = URL_MASK
            else:
                continue
            if new != seg:
                segs[i] = new
                changed = True
        return "/".join(segs) if changed else p

    def query(self, q: str, sep: str = "&") -> str:
        if not q:
            return q
        parts = q.split(sep)
        for i, part in enumerate(parts):
            name, eq, value = part.partition("=")
            if eq:
                if value and name not in self._allowed:
                    parts[i] = f"{name}={URL_MASK}"
            elif looks_like_token(name):
                parts[i] = URL_MASK
        return sep.join(parts)

    def text(self, s: str) -> str:
        """URLs and paths inside free text, such as a span name `GET /reset/<token>?u=x`."""
        if "/" not in s:
            return s
        return _URL_IN_TEXT.sub(lambda m: self.url(m.group(0)), s)


# ---- databases -------------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


# Every alternative starts with one of  - / ' $ " 0-9  so the regex engine skips other characters quickly; a
# digit inside an identifier (t1, utf8mb4) or a placeholder ($1, :1, @p1) is recognised in `_sql_token`.
_SQL = re.compile(
    r"--[^\n]*|/\*.*?(?:\*/|\Z)"
    r"|'(?:[^'\\]|''|\\.)*(?:'|\Z)"
    r"|\$(?P<tag>[A-Za-z_]*)\$.*?(?:\$(?P=tag)\$|\Z)"
    r"|\"(?:[^\"]|\"\")*(?:\"|\Z)"
    r"|[0-9][0-9A-Za-z_.]*",
    re.S,
)
_IDENT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$@#:")
_SQL_IDENT = re.compile(r"\"[A-Za-z_][A-Za-z0-9_$]{0,62}\"")
SQL_KEYWORDS = frozenset(
    _words(
        "SELECT INSERT UPDATE DELETE WITH MERGE UPSERT REPLACE CALL EXEC EXECUTE CREATE ALTER DROP TRUNCATE GRANT "
        "REVOKE BEGIN COMMIT ROLLBACK SAVEPOINT RELEASE SHOW DESCRIBE DESC EXPLAIN VALUES USE SET DECLARE PREPARE "
        "COPY LOCK ANALYZE VACUUM LOAD DO HANDLER START END ABORT LISTEN NOTIFY FETCH MOVE CLOSE COMMENT"
    )
)


def _sql_token(m: re.Match[str]) -> str:
    text = m.group(0)
    c = text[0]
    if c in "-/":  # comments go
        return ""
    if c == '"':
        # "column" is an identifier in standard SQL; anything else between double quotes may be a MySQL string
        return text if _SQL_IDENT.fullmatch(text) else "?"
    if "0" <= c <= "9":
        start = m.start()
        if start and m.string[start - 1] in _IDENT_CHARS:
            return text  # part of an identifier or a placeholder
    return "?"


# Without comments, dollar quotes, double quotes and a digit right after a "." (the common case), `_SQL`'s tokens
# are string literals and numbers, and `_sql_token` keeps a number only after an identifier character: the same
# as a lookbehind, so one substitution in C does it. The lookbehind follows the first digit so that each branch
# starts with a character set the engine can skip to.
_SQL_SIMPLE = re.compile(r"'(?:[^'\\]|''|\\.)*(?:'|\Z)|[0-9](?<![A-Za-z0-9_@#:][0-9])[0-9A-Za-z_.]*", re.S)
_DOT_DIGIT = re.compile(r"\.[0-9]")


def sanitize_sql(s: str) -> str:
    """Literals become `?`; comments are removed."""
    if "--" in s or "/*" in s or "$" in s or '"' in s or _DOT_DIGIT.search(s) is not None:
        return _SQL.sub(_sql_token, s)
    return _SQL_SIMPLE.sub("?", s)


_REDIS_ALL_ARGS = frozenset({"AUTH", "HELLO", "MIGRATE", "ACL", "CONFIG", "EVAL", "EVALSHA", "EVAL_RO", "FCALL"})
_REDIS_SUBCOMMAND = frozenset(
    _words(
        "CLIENT CLUSTER COMMAND CONFIG DEBUG MEMORY MODULE OBJECT SCRIPT SLOWLOG XINFO XGROUP ACL FUNCTION LATENCY "
        "PUBSUB"
    )
)
_REDIS_NAMES = _words(
    "APPEND AUTH BITCOUNT BITFIELD BITOP BITPOS BLMOVE BLPOP BRPOP BRPOPLPUSH BZPOPMAX BZPOPMIN COPY "
    "DBSIZE DECR DECRBY DEL DISCARD DUMP ECHO EVAL EVALSHA EXEC EXISTS EXPIRE EXPIREAT FLUSHALL "
    "FLUSHDB GEOADD GEODIST GEOHASH GEOPOS GEORADIUS GEOSEARCH GET GETBIT GETDEL GETEX GETRANGE "
    "GETSET HDEL HELLO HEXISTS HGET HGETALL HINCRBY HINCRBYFLOAT HKEYS HLEN HMGET HMSET HRANDFIELD "
    "HSCAN HSET HSETNX HSTRLEN HVALS INCR INCRBY INCRBYFLOAT INFO KEYS LINDEX LINSERT LLEN LMOVE LPOP "
    "LPOS LPUSH LPUSHX LRANGE LREM LSET LTRIM MGET MIGRATE MOVE MSET MSETNX MULTI PERSIST PEXPIRE "
    "PEXPIREAT PFADD PFCOUNT PFMERGE PING PSETEX PSUBSCRIBE PTTL PUBLISH PUNSUBSCRIBE QUIT RANDOMKEY "
    "RENAME RENAMENX RESTORE RPOP RPOPLPUSH RPUSH RPUSHX SADD SCAN SCARD SDIFF SDIFFSTORE SELECT SET "
    "SETBIT SETEX SETNX SETRANGE SINTER SINTERSTORE SISMEMBER SMEMBERS SMISMEMBER SMOVE SORT SPOP "
    "SRANDMEMBER SREM SSCAN STRLEN SUBSCRIBE SUNION SUNIONSTORE SWAPDB TIME TOUCH TTL TYPE UNLINK "
    "UNSUBSCRIBE UNWATCH WATCH XACK XADD XCLAIM XDEL XLEN XPENDING XRANGE XREAD XREADGROUP XREVRANGE "
    "XTRIM ZADD ZCARD ZCOUNT ZINCRBY ZINTERSTORE ZLEXCOUNT ZPOPMAX ZPOPMIN ZRANGE ZRANGEBYLEX "
    "ZRANGEBYSCORE ZRANK ZREM ZREMRANGEBYLEX ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREVRANGE "
    "ZREVRANGEBYSCORE ZREVRANK ZSCAN ZSCORE ZUNIONSTORE"
)
REDIS_COMMANDS = frozenset(_REDIS_NAMES) | _REDIS_SUBCOMMAND
MEMCACHED_COMMANDS = frozenset(
    _words(
        "get gets gat gats set add replace append prepend cas delete incr decr touch flush_all stats version "
        "verbosity mg ms md ma mn"
    )
)
_ARGS = re.compile(r"\"(?:[^\"\\]|\\.)*(?:\"|\Z)|'(?:[^'\\]|\\.)*(?:'|\Z)|\S+")


def _mask_key(key: str) -> str:
    if len(key) < 20:
        return key
    parts = re.split(r"([:/.|#])", key)
    return "".join("?" if looks_like_token(p) else p for p in parts)


_STORAGE = frozenset({"set", "add", "replace", "append", "prepend", "cas"})


def sanitize_command(s: str) -> str:
    """Redis/Valkey/Memcached: the command (and sub-command) and the first key stay, other arguments become `?`;
    every argument of AUTH, HELLO, CONFIG, ACL, MIGRATE and scripts becomes `?`. One command per line; a line
    that is not a known command (such as a Memcached data block) becomes `?`."""
    out = []
    data_next = False
    for line in s.splitlines():
        args = _ARGS.findall(line)
        if not args:
            out.append(line)
            continue
        cmd = args[0]
        up = cmd.upper()
        if data_next or (up not in REDIS_COMMANDS and cmd not in MEMCACHED_COMMANDS):
            out.append("?")
            data_next = False
            continue
        keep = [cmd]
        rest = args[1:]
        if up in _REDIS_SUBCOMMAND and rest:
            keep.append(rest[0])
            rest = rest[1:]
        if up not in _REDIS_ALL_ARGS and rest:
            keep.append(_mask_key(rest[0]))
            rest = rest[1:]
        keep.extend("?" for _ in rest)
        out.append(" ".join(keep))
        # a Memcached storage command (lower case, flags/exptime/bytes) is followed by its data line
        data_next = cmd in _STORAGE and len(args) >= 5
    return "\n".join(out)


_JSON = re.compile(
    r"(?P<k>\"(?:[^\"\\]|\\.)*\"(?=\s*:))"
    r"|(?P<s>\"(?:[^\"\\]|\\.)*(?:\"|\Z)|'(?:[^'\\]|\\.)*(?:'|\Z))"
    r"|(?P<n>(?<![A-Za-z0-9_$])-?(?:[0-9]+(?:\.[0-9]+)?(?:[eE][+\-]?[0-9]+)?)(?![A-Za-z0-9_]))"
    r"|(?P<b>(?<![A-Za-z0-9_$])(?:true|false)(?![A-Za-z0-9_]))",
    re.S,
)


def _json_token(m: re.Match[str]) -> str:
    return m.group(0) if m.lastgroup == "k" else "?"


def sanitize_json(s: str) -> str:
    """MongoDB, Elasticsearch, OpenSearch: keys and operators stay, every value becomes `?`."""
    return _JSON.sub(_json_token, s)


def classify(s: str) -> str:
    """sql, command (Redis/Valkey/Memcached) or json, from the statement itself."""
    t = s.lstrip(" \t\r\n(")
    if not t:
        return "sql"
    if t[0] in "{[" or t.startswith("db."):
        return "json"
    words = t.split(None, 1)
    if not words:  # only whitespace that lstrip's set leaves (e.g. U+00A0)
        return "sql"
    first = words[0].rstrip(";")
    up = first.upper()
    if up in SQL_KEYWORDS:
        if up == "SET" and ("=" not in t and " TO " not in t.upper() and "NAMES" not in t.upper()):
            return "command"
        return "sql"
    if up in REDIS_COMMANDS or first in MEMCACHED_COMMANDS:
        return "command"
    return "sql"


Sanitizer = Callable[[str], str]
SANITIZERS: dict[str, Sanitizer] = {"sql": sanitize_sql, "command": sanitize_command, "json": sanitize_json}
# db_sanitizer sub-keys (the Collector's) and the statement kind each one handles
SYSTEM_KINDS = {
    "sql": "sql",
    "redis": "command",
    "valkey": "command",
    "memcached": "command",
    "mongo": "json",
    "opensearch": "json",
    "es": "json",
}


def sanitize_statement(s: str, kinds: Collection[str]) -> str:
    """Sanitize with the sanitizer for the statement's kind, when enabled for the key; otherwise with the first
    enabled one (an unknown statement is still stripped of literals)."""
    kind = classify(s)
    if kind not in kinds:
        kind = "sql" if "sql" in kinds else next(iter(sorted(kinds)))
    return SANITIZERS[kind](s)


def sql_span_name(name: str) -> str:
    """A span name that is a whole SQL statement (some instrumentations do that) loses its literals; a name like
    `SELECT shop.orders` (the semantic conventions' form) has none and stays."""
    t = name.lstrip()
    head = t.split(None, 1)[0].upper() if t else ""
    if head not in SQL_KEYWORDS or not any(c in t for c in "'\"=(<>$"):
        return name
    return sanitize_sql(name)
