"""SMS segmentation: GSM-7 (160 / 153 per part) or UCS-2 (70 / 67 per part), as carriers bill it."""
from __future__ import annotations

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")
GSM7 = frozenset(GSM7_BASIC | GSM7_EXTENDED)
_NO_EXTENDED = frozenset(GSM7_BASIC)


def encoding_of(text: str) -> str:
    return "gsm7" if GSM7.issuperset(text) else "ucs2"


def segment_count(text: str) -> int:
    """How many SMS parts ``text`` needs. An empty text still costs one part."""
    if not text:
        return 1
    if encoding_of(text) == "gsm7":
        units = len(text)
        if not _NO_EXTENDED.issuperset(text):
            units += sum(text.count(c) for c in GSM7_EXTENDED)  # extended characters take an escape
        return 1 if units <= 160 else -(-units // 153)
    # UCS-2 counts UTF-16 code units: characters outside the BMP take two.
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)
