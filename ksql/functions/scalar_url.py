"""URL functions: parameter encoding and the URL_EXTRACT_* family.

The extractors parse with ``java.net.URI`` rules (RFC 2396), so an input such as ``a b`` or
``http://x/%zz`` is invalid (the function fails and yields NULL), an authority that is not a valid
``[user@]host[:port]`` has no host or port, and extracted components are percent-decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote

from ksql.errors import KsqlFunctionException
from ksql.functions.registry import Overload, ScalarFunction, register_scalar
from ksql.sqltypes import INTEGER, STRING

CATEGORY = "URL"

# Character classes of RFC 2396 as java.net.URI applies them (non-ASCII "other" chars are legal
# everywhere except in the scheme and host).
_ALNUM = "A-Za-z0-9"
_UNRESERVED = _ALNUM + r"\-_.!~*'()"
_RESERVED = r";/?:@&=+$,\[\]"
_ESCAPED = r"%[0-9A-Fa-f]{2}"
_OTHER = r"[^\x00-\x7f\s\x80-\x9f]"


def _chars(allowed: str) -> re.Pattern[str]:
    return re.compile(rf"(?:[{allowed}]|{_ESCAPED}|{_OTHER})*")


_URIC = _chars(_UNRESERVED + _RESERVED)
_PATH = _chars(_UNRESERVED + r":@&=+$,;/")
_USERINFO = _chars(_UNRESERVED + r";:&=+$,")
_REG_NAME = _chars(_UNRESERVED + r"$,;:@&=+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?:{_LABEL}\.)*(?P<top>{_LABEL})\.?")
_IPV4 = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+(?:%[^\]]+)?\]")


@dataclass(frozen=True)
class Uri:
    scheme: str | None
    host: str | None
    port: int
    path: str | None
    query: str | None
    fragment: str | None


def _fail(url: str) -> KsqlFunctionException:
    return KsqlFunctionException(f"URL input has invalid syntax: {url}")


def _valid_host(host: str) -> bool:
    if _IPV6.fullmatch(host):
        return True
    m = _IPV4.fullmatch(host)
    if m:
        return all(int(g) <= 255 for g in m.groups())
    m = _HOSTNAME.fullmatch(host)
    return bool(m) and m.group("top")[0].isalpha()  # type: ignore[union-attr]


def _server(authority: str) -> tuple[str, int] | None:
    """Host and port of a server-based authority, or None if it is registry-based."""
    rest = authority
    if "@" in rest:
        userinfo, rest = rest.rsplit("@", 1)
        if not _USERINFO.fullmatch(userinfo):
            return None
    if rest.startswith("["):
        end = rest.find("]")
        host, tail = (rest[: end + 1], rest[end + 1 :]) if end > 0 else (rest, "")
    else:
        host, sep, port_text = rest.partition(":")
        tail = sep + port_text
    if not host or not _valid_host(host):
        return None
    port = -1
    if tail:
        if not tail.startswith(":") or not re.fullmatch(r"\d*", tail[1:]):
            return None
        if tail[1:]:
            port = int(tail[1:])
            if port > 2**31 - 1:
                return None
    return host, port


def parse_uri(url: str) -> Uri:
    """Parse like ``new java.net.URI(url)``; KsqlFunctionException on a syntax error."""
    text, hash_sign, fragment_raw = url.partition("#")
    fragment = fragment_raw if hash_sign else None
    if fragment is not None and not _URIC.fullmatch(fragment):
        raise _fail(url)
    scheme = None
    colon = re.match(r"[^/?#:]*:", text)
    if colon:
        scheme = text[: colon.end() - 1]
        if not _SCHEME.fullmatch(scheme):
            raise _fail(url)
        text = text[colon.end() :]
        if not text:
            raise _fail(url)
        if not text.startswith("/"):  # opaque, e.g. mailto:someone
            if not _URIC.fullmatch(text):
                raise _fail(url)
            return Uri(scheme, None, -1, None, None, _decode(fragment))
    elif not text and fragment is None:
        return Uri(None, None, -1, "", None, None)
    host, port = None, -1
    if text.startswith("//"):
        end = re.search(r"[/?]", text[2:])
        cut = end.start() + 2 if end else len(text)
        authority, text = text[2:cut], text[cut:]
        if authority:
            server = _server(authority)
            if server is not None:
                host, port = server
            elif not _REG_NAME.fullmatch(authority):
                raise _fail(url)
        elif not text:
            raise _fail(url)  # "Expected authority"
    path, q_sign, query_raw = text.partition("?")
    query = query_raw if q_sign else None
    if not _PATH.fullmatch(path) or (query is not None and not _URIC.fullmatch(query)):
        raise _fail(url)
    return Uri(scheme, host, port, _decode(path), _decode(query), _decode(fragment))


def _decode(part: str | None) -> str | None:
    if part is None or "%" not in part:
        return part
    return unquote(part, encoding="utf-8", errors="replace")


def _extract(pick: Any) -> Any:
    def call(url: str | None) -> Any:
        return None if url is None else pick(parse_uri(url))

    return call


def extract_parameter(url: str | None, name: str | None) -> str | None:
    if url is None:
        return None
    query = parse_uri(url).query
    if query is None:
        return None
    for param in query.split("&"):
        key, eq, value = param.partition("=")
        if key == name:
            return value if eq else ""
    return None


# ----------------------------------------------------------------------------------------------
# Parameter encoding (application/x-www-form-urlencoded)
# ----------------------------------------------------------------------------------------------

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def encode_param(value: str | None) -> str | None:
    if value is None:
        return None
    # safe set is letters, digits and "-_.*"; space becomes '+'
    return quote_plus(value, safe="*", encoding="utf-8", errors="surrogatepass").replace("~", "%7E")


def decode_param(value: str | None) -> str | None:
    if value is None:
        return None
    if _BAD_ESCAPE.search(value):
        raise KsqlFunctionException(f"URLDecoder: Illegal hex characters in escape (%) pattern: {value}")
    return unquote(value.replace("+", " "), encoding="utf-8", errors="replace")


def _register() -> None:
    def fn(name: str, description: str, overloads: list[Overload]) -> None:
        register_scalar(ScalarFunction(name, CATEGORY, description, overloads))

    fn("URL_ENCODE_PARAM", "Escapes a value for use as a URL query parameter.", [
        Overload([STRING], STRING, encode_param),
    ])
    fn("URL_DECODE_PARAM", "Unescapes a URL-param-encoded value.", [
        Overload([STRING], STRING, decode_param),
    ])
    fn("URL_EXTRACT_FRAGMENT", "Returns the decoded fragment of a URL.", [
        Overload([STRING], STRING, _extract(lambda u: u.fragment)),
    ])
    fn("URL_EXTRACT_HOST", "Returns the host of a URL.", [
        Overload([STRING], STRING, _extract(lambda u: u.host)),
    ])
    fn("URL_EXTRACT_PARAMETER", "Returns the decoded value of a query parameter of a URL.", [
        Overload([STRING, STRING], STRING, extract_parameter),
    ])
    fn("URL_EXTRACT_PATH", "Returns the decoded path of a URL.", [
        Overload([STRING], STRING, _extract(lambda u: u.path)),
    ])
    fn("URL_EXTRACT_PORT", "Returns the explicit port of a URL, or NULL.", [
        Overload([STRING], INTEGER, _extract(lambda u: None if u.port < 0 else u.port)),
    ])
    fn("URL_EXTRACT_PROTOCOL", "Returns the protocol (scheme) of a URL.", [
        Overload([STRING], STRING, _extract(lambda u: u.scheme)),
    ])
    fn("URL_EXTRACT_QUERY", "Returns the decoded query string of a URL.", [
        Overload([STRING], STRING, _extract(lambda u: u.query)),
    ])


_register()
