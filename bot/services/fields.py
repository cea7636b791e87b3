"""Normalisers shared by the Slack modals and the REST API: phones, websites, emails, company names."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import urlsplit

import phonenumbers

FREE_MAIL_DOMAINS = frozenset(
    """gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.fr ymail.com hotmail.com hotmail.co.uk
    hotmail.fr outlook.com live.com msn.com aol.com icloud.com me.com mac.com proton.me protonmail.com
    gmx.com gmx.de gmx.net web.de mail.com yandex.com yandex.ru zoho.com fastmail.com hey.com
    qq.com 163.com 126.com rediffmail.com libero.it orange.fr free.fr laposte.net t-online.de
    btinternet.com comcast.net verizon.net att.net sbcglobal.net""".split()
)

LEGAL_SUFFIXES = frozenset(
    """inc incorporated llc ltd limited gmbh corp corporation co company plc sa sas sarl ag bv nv
    srl spa pty pte llp lp oy ab as kk kg ug se sl and""".split()
)

_COUNTRY_ALIASES = {
    "usa": "US",
    "united states of america": "US",
    "america": "US",
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "uae": "AE",
    "south korea": "KR",
    "russia": "RU",
    "czech republic": "CZ",
}


@lru_cache(maxsize=1)
def _regions_by_name() -> dict[str, str]:
    """English country name -> region code, from phonenumbers' own metadata. The geocoder is imported here,
    on first need: its data costs about 100 MB of memory."""
    from phonenumbers import geocoder

    names: dict[str, str] = {}
    for region in phonenumbers.SUPPORTED_REGIONS:
        example = phonenumbers.example_number(region)
        if example is not None:
            name = geocoder.country_name_for_number(example, "en")
            if name:
                names[name.casefold()] = region
    return names


def region_for_country(country: str | None) -> str | None:
    """ "Germany", "DE", "usa" -> a phonenumbers region code, or None when unknown."""
    if not country:
        return None
    text = country.strip()
    if len(text) == 2 and text.upper() in phonenumbers.SUPPORTED_REGIONS:
        return text.upper()
    folded = text.casefold()
    return _COUNTRY_ALIASES.get(folded) or _regions_by_name().get(folded)


def normalize_phone(raw: str, country: str | None) -> str:
    """Parse a phone number and return it in E.164; ValueError with a user-facing message otherwise."""
    region = region_for_country(country)
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        hint = "" if region else " Use the international format, e.g. +44 20 7946 0958."
        raise ValueError(f"That is not a phone number.{hint}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("That phone number is not valid (check the digits and the country code).")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


# Whitespace, control characters, and what ends or splits Slack link markup or an HTML attribute.
_URL_BREAKERS = re.compile(r"[\s\x00-\x1f\x7f<>|\"'`\\]")


def normalize_website(raw: str) -> str:
    """`acme.com` -> `https://acme.com`; rejects anything that is not an http(s) URL with a real host."""
    text = raw.strip()
    if _URL_BREAKERS.search(text):  # would break out of Slack's <url|label> link markup (or a PDF's)
        raise ValueError("Enter a website address such as https://acme.com (no spaces, <, >, | or quotes).")
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:  # e.g. an unbalanced [ in the host
        host, parts = "", None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not _HOST.match(host):
        raise ValueError("Enter a website address such as https://acme.com.")
    return text


def website_domain(url: str | None) -> str | None:
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.") or None


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


def company_domain(email: str) -> str | None:
    """The email's domain when it identifies a company (not gmail.com and the like)."""
    domain = email_domain(email)
    return None if domain in FREE_MAIL_DOMAINS else domain


_DOTTED = re.compile(r"\b[a-z](?:\.[a-z])+\b\.?")


def normalize_company_name(name: str) -> str:
    """Case, accents, punctuation and trailing legal suffixes removed: "ACME, Inc." -> "acme"."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    text = text.replace("&", " and ")
    # Dotted abbreviations are one word: "L.L.C." -> "llc", "S.A." -> "sa", "P.L.C." -> "plc".
    text = _DOTTED.sub(lambda match: match.group(0).replace(".", ""), text)
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    if words and words[0] == "the" and len(words) > 1:
        words.pop(0)
    return " ".join(words)
