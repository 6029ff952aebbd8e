"""A Discogs record element as a JSON document, by xmltodict's conventions, with lists kept as lists.

The conventions of the existing Discogs tooling (xmltodict): an attribute becomes `@name`;
text beside attributes or children becomes `#text`; an empty element becomes null; text is
stripped of surrounding whitespace; a child element that appears twice becomes a list. Its
one flaw is that a field's shape then depends on how many children one record happens to
have (one artist: an object; two: a list). Here the children that can repeat are lists
always, by `LIST_CHILDREN`: the one place the rule is written down.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from lxml import etree

#: Under each container element (by tag), the child tags that are always a list, even of one.
LIST_CHILDREN: dict[str, frozenset[str]] = {
    "aliases": frozenset({"name"}),
    "artists": frozenset({"artist"}),
    "companies": frozenset({"company"}),
    "descriptions": frozenset({"description"}),
    "extraartists": frozenset({"artist"}),
    "formats": frozenset({"format"}),
    "genres": frozenset({"genre"}),
    "groups": frozenset({"name"}),
    "identifiers": frozenset({"identifier"}),
    "images": frozenset({"image"}),
    "labels": frozenset({"label"}),
    "members": frozenset({"id", "name"}),
    "namevariations": frozenset({"name"}),
    "series": frozenset({"series"}),
    "styles": frozenset({"style"}),
    "sub_tracks": frozenset({"track"}),
    "sublabels": frozenset({"label"}),
    "tracklist": frozenset({"track"}),
    "urls": frozenset({"url"}),
    "videos": frozenset({"video"}),
}

#: The record element of each dump type.
RECORD_TAGS = {"artists": "artist", "labels": "label", "masters": "master", "releases": "release"}


def element_value(element: etree._Element) -> Any:
    """`element` as xmltodict would give it, with `LIST_CHILDREN` always lists.

    Comments and processing instructions must have been removed by the parser.
    """
    # The hot path of a dump import: most elements are leaves with text only.
    attributes = element.items()
    children = list(element)
    text = element.text
    if text is not None:
        text = text.strip()
    if not children and not attributes:
        return text or None
    value: dict[str, Any] = {"@" + name: attribute for name, attribute in attributes}
    always_lists = LIST_CHILDREN.get(element.tag)
    repeated: set[str] | None = None
    for child in children:
        tag: str = child.tag
        if len(child) or child.items():
            child_value = element_value(child)
        else:  # a leaf, inline: most elements are
            child_text = child.text
            child_value = (child_text.strip() or None) if child_text is not None else None
        if always_lists is not None and tag in always_lists:
            if tag in value:
                value[tag].append(child_value)
            else:
                value[tag] = [child_value]
        elif tag in value:
            if repeated is None:
                repeated = set()
            if tag not in repeated:
                value[tag] = [value[tag]]
                repeated.add(tag)
            value[tag].append(child_value)
        else:
            value[tag] = child_value
    if text:
        value["#text"] = text
    return value


def record_document(element: etree._Element) -> dict[str, Any]:
    """A record element as its document (always an object: a record has children)."""
    value = element_value(element)
    return value if isinstance(value, dict) else {"#text": value}


def record_id(dump_type: str, document: dict[str, Any]) -> str | None:
    """The record's id: the `id` attribute of masters and releases, the `<id>` child of artists
    and labels; None when it has none."""
    value = document.get("@id") if dump_type in ("masters", "releases") else document.get("id")
    return value if isinstance(value, str) and value else None


def canonical_json(document: Any) -> bytes:
    """`document` as canonical JSON: sorted keys, compact, UTF-8."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def document_hash(canonical: bytes) -> str:
    """The SHA-256 (hex) of a document's canonical JSON."""
    return hashlib.sha256(canonical).hexdigest()
