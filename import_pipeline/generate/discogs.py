"""`import-pipeline generate discogs`: gzip dumps with the real element structure of Discogs dumps.

Modeled on the real samples (`shared/data/discogs/`): releases with artists (anv, join,
role, tracks), extraartists, labels with catno, formats with descriptions, tracklists with
sub-tracks, identifiers, videos, companies, genres and styles; artists with realname,
profile (with `&#13;`), urls, name variations, aliases, members and groups; labels with
contact info, sublabels and a parent label; masters with a main release, artists, genres,
styles, year and videos. Unicode and entities throughout, release dates like `1999-03-00`,
empty elements, `<master_id is_main_release="true">`. The older format (`images`, release
`status`) by default; `newer=True` writes the newer one.

Each record is generated from the seed and its id alone, so the same seed always gives
the same bytes. `month=1` with `changed` gives the next month's dump: that share of the
records changed, half that share gone, half that share new. Files are written one record
at a time (gzip level 1): memory does not grow with their size.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

try:
    from isal import igzip as fast_gzip
except ImportError:  # pragma: no cover
    fast_gzip = None  # type: ignore[assignment]

WORDS = ("Stockholm", "Östermalm", "Vasastaden", "Kungsholmen", "Södermalm", "Night", "Drive", "Groove", "Machine",
         "Deep", "House", "Techno", "Soul", "Café", "Über", "Señor", "Ñandú", "Žižkov", "Łódź", "東京", "Ⅻ", "Velvet",
         "Body", "Lush", "Into", "The", "Session", "Planet", "Dub", "Øresund", "Fjord", "Moving", "Cities")
GENRES = ("Electronic", "Rock", "Jazz", "Hip Hop", "Funk / Soul", "Pop", "Classical", "Reggae", "Latin")
STYLES = ("Deep House", "Techno", "Minimal", "Dub", "Ambient", "Acid Jazz", "Downtempo", "Breakbeat", "Trance")
FORMATS = (("Vinyl", ('12"', "33 ⅓ RPM")), ("CD", ("Album",)), ("Cassette", ("Compilation",)),
           ("File", ("MP3", "320 kbps")), ("Vinyl", ('7"', "45 RPM", "Single")))
ROLES = ("Written-By", "Producer", "Mastered By", "Music By [All Tracks By]", "Mixed By", "Vocals", "Design")
COUNTRIES = ("Sweden", "Germany", "US", "UK", "France", "Japan", "Netherlands", "Denmark", "Italy")
DUMP_TYPES = ("artists", "labels", "masters", "releases")


@dataclass(frozen=True)
class GeneratedDump:
    """One written dump file and how many records it holds."""

    path: Path
    dump_type: str
    records: int
    bytes: int


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def _text(value: str) -> str:
    return escape(value)


def _ids(count: int, month: int, changed: float, seed: int) -> Iterator[tuple[int, int]]:
    """(id, version) of each record of the month: month 1 drops `changed / 2` of them, changes
    `changed` of them (version 1) and adds `changed / 2` new ones after the last id."""
    for record_id in range(1, count + 1):
        if month == 0:
            yield record_id, 0
            continue
        draw = random.Random(seed * 7_919 + record_id).random()
        if draw < changed / 2:
            continue  # gone
        yield record_id, 1 if draw < changed * 1.5 else 0
    if month:
        for record_id in range(count + 1, count + 1 + round(count * changed / 2)):
            yield record_id, 0


def _artist_credit(rng: random.Random, artists: int, role: bool = False) -> str:
    artist_id = rng.randint(1, max(artists, 1))
    anv = _text(_words(rng, 1, 2)) if rng.random() < 0.2 else ""
    join = rng.choice(("", "", "&amp;", ",", "Feat."))
    role_text = _text(rng.choice(ROLES)) if role else ""
    tracks = f"A{rng.randint(1, 3)}" if role and rng.random() < 0.3 else ""
    return (f"<artist><id>{artist_id}</id><name>{_text(_words(rng, 1, 3))} ({artist_id})</name><anv>{anv}</anv>"
            f"<join>{join}</join><role>{role_text}</role><tracks>{tracks}</tracks></artist>")


def _videos(rng: random.Random, title: str) -> str:
    videos = "".join(
        f'<video duration="{rng.randint(60, 600)}" embed="true" src="https://www.youtube.com/watch?v='
        f'{rng.getrandbits(40):010x}"><title>{title} {n}</title><description>{title}</description></video>'
        for n in range(rng.randint(0, 4)))
    return f"<videos>{videos}</videos>" if videos else ""


def _images(rng: random.Random, newer: bool) -> str:
    if newer:
        return ""
    images = "".join(f'<image height="{rng.randint(100, 600)}" type="{"primary" if n == 0 else "secondary"}" '
                     f'uri="" uri150="" width="600"/>' for n in range(rng.randint(1, 4)))
    return f"<images>{images}</images>"


def release_xml(record_id: int, version: int, seed: int, *, artists: int, labels: int, masters: int,
                newer: bool = False) -> str:
    """One `<release>` element."""
    rng = random.Random(seed * 1_000_003 + record_id)
    title = _words(rng, 1, 4) + (" (Remastered)" if version else "")
    status = "" if newer else ' status="Accepted"'
    credits = "".join(_artist_credit(rng, artists) for _ in range(rng.choice((1, 1, 1, 2, 3))))
    extra = "".join(_artist_credit(rng, artists, role=True) for _ in range(rng.randint(0, 5)))
    label_id = rng.randint(1, max(labels, 1))
    catno = f"{''.join(rng.choice('ABCDEFGHKLMSX') for _ in range(3))}{rng.randint(1, 999):03d}"
    release_labels = "".join(
        f'<label catno={quoteattr(catno if n == 0 else "none")} id="{label_id + n}" '
        f'name={quoteattr(_words(rng, 1, 2))}/>' for n in range(rng.choice((1, 1, 2))))
    name, descriptions = rng.choice(FORMATS)
    format_descriptions = "".join(f"<description>{_text(d)}</description>" for d in descriptions)
    tracks = []
    for n in range(rng.randint(2, 12)):
        sub = ""
        if rng.random() < 0.05:
            sub = "<sub_tracks>" + "".join(
                f"<track><position>{n + 1}.{s}</position><title>{_text(_words(rng, 1, 3))}</title>"
                f"<duration></duration></track>" for s in range(1, 3)) + "</sub_tracks>"
        track_artists = f"<artists>{_artist_credit(rng, artists)}</artists>" if rng.random() < 0.1 else ""
        tracks.append(f"<track><position>{'ABCD'[n // 4]}{n % 4 + 1}</position>{track_artists}"
                      f"<title>{_text(_words(rng, 1, 4))}</title><duration>{rng.randint(1, 9)}:{rng.randint(0, 59):02d}"
                      f"</duration>{sub}</track>")
    identifiers = "".join(
        f'<identifier description="{"AB"[n % 2]}-Side Runout" type="Matrix / Runout" '
        f'value="{catno} {"AB"[n % 2]}{n}"/>' for n in range(rng.randint(0, 4)))
    if rng.random() < 0.3:
        identifiers += f'<identifier type="Barcode" value="{rng.randint(10**11, 10**12 - 1)}"/>'
    companies = "".join(
        f"<company><id>{rng.randint(1, 5000)}</id><name>{_text(_words(rng, 1, 3))}</name><catno></catno>"
        f"<entity_type>{rng.choice((13, 23, 29))}</entity_type><entity_type_name>Phonographic Copyright (p)"
        f"</entity_type_name><resource_url>https://api.discogs.com/labels/1</resource_url></company>"
        for _ in range(rng.randint(0, 3)))
    month = rng.choice(("00", "03", "11"))
    master = ""
    if rng.random() < 0.6:
        master = f'<master_id is_main_release="{"true" if rng.random() < 0.3 else "false"}">' \
                 f"{rng.randint(1, max(masters, 1))}</master_id>"
    notes = (f"<notes>{_text(_words(rng, 3, 20))}\n\nRecorded at the Globe Studio &amp; mastered in "
             f"{rng.choice(COUNTRIES)}</notes>") if rng.random() < 0.5 else ""
    genres = "".join(f"<genre>{_text(g)}</genre>" for g in rng.sample(GENRES, rng.randint(1, 2)))
    styles = "".join(f"<style>{_text(s)}</style>" for s in rng.sample(STYLES, rng.randint(0, 3)))
    return (
        f'<release id="{record_id}"{status}>{_images(rng, newer)}<artists>{credits}</artists>'
        f"<title>{_text(title)}</title><labels>{release_labels}</labels>"
        f"{f'<extraartists>{extra}</extraartists>' if extra else ''}"
        f'<formats><format name="{name}" qty="{rng.randint(1, 2)}" text="">'
        f"<descriptions>{format_descriptions}</descriptions></format></formats>"
        f"<genres>{genres}</genres>{f'<styles>{styles}</styles>' if styles else ''}"
        f"<country>{rng.choice(COUNTRIES)}</country><released>{rng.randint(1960, 2025)}-{month}-00</released>"
        f"{notes}<data_quality>{rng.choice(('Correct', 'Needs Vote', 'Complete and Correct'))}</data_quality>"
        f"{master}<tracklist>{''.join(tracks)}</tracklist>"
        f"{f'<identifiers>{identifiers}</identifiers>' if identifiers else ''}{_videos(rng, title)}"
        f"{f'<companies>{companies}</companies>' if companies else ''}</release>"
    )


def artist_xml(record_id: int, version: int, seed: int, *, artists: int, newer: bool = False) -> str:
    """One `<artist>` element."""
    rng = random.Random(seed * 2_000_003 + record_id)
    name = f"{_words(rng, 1, 3)} ({record_id})"
    profile = f"{_text(_words(rng, 2, 12))}&#13;\n{_text(_words(rng, 0, 6))}" if rng.random() < 0.5 else ""
    if version:
        profile += " Updated."
    urls = "".join(f"<url>https://example.org/{record_id}/{n}</url>" for n in range(rng.randint(0, 3)))
    variations = "".join(f"<name>{_text(_words(rng, 1, 2))}</name>" for _ in range(rng.randint(0, 3)))
    aliases = "".join(f'<name id="{rng.randint(1, max(artists, 1))}">{_text(_words(rng, 1, 2))}</name>'
                      for _ in range(rng.randint(0, 3)))
    members = ""
    if rng.random() < 0.15:
        ids = sorted({rng.randint(1, max(artists, 1)) for _ in range(rng.randint(2, 4))})
        members = "<members>" + "".join(f'<id>{m}</id><name id="{m}">{_text(_words(rng, 1, 2))}</name>'
                                        for m in ids) + "</members>"
    groups = "".join(f'<name id="{rng.randint(1, max(artists, 1))}">{_text(_words(rng, 1, 2))}</name>'
                     for _ in range(rng.randint(0, 2)))
    return (f"<artist>{_images(rng, newer)}<id>{record_id}</id><name>{_text(name)}</name>"
            f"<realname>{_text(_words(rng, 2, 3))}</realname><profile>{profile}</profile>"
            f"<data_quality>Needs Vote</data_quality>{f'<urls>{urls}</urls>' if urls else ''}"
            f"{f'<namevariations>{variations}</namevariations>' if variations else ''}"
            f"{f'<aliases>{aliases}</aliases>' if aliases else ''}{members}"
            f"{f'<groups>{groups}</groups>' if groups else ''}</artist>")


def label_xml(record_id: int, version: int, seed: int, *, labels: int, newer: bool = False) -> str:
    """One `<label>` element (sublabels nest `<label>` elements inside it)."""
    rng = random.Random(seed * 3_000_003 + record_id)
    contact = f"{_text(_words(rng, 1, 3))}&#13;\nP.O. Box {rng.randint(1, 99999)}&#13;\n{rng.choice(COUNTRIES)}"
    sublabels = "".join(f'<label id="{rng.randint(1, max(labels, 1))}">{_text(_words(rng, 1, 2))}</label>'
                        for _ in range(rng.randint(0, 3)))
    parent = f'<parentLabel id="{rng.randint(1, max(labels, 1))}">{_text(_words(rng, 1, 2))}</parentLabel>' \
        if rng.random() < 0.2 else ""
    profile = _text(_words(rng, 0, 10)) + (" Updated." if version else "")
    return (f"<label>{_images(rng, newer)}<id>{record_id}</id><name>{_text(_words(rng, 1, 3))} ({record_id})</name>"
            f"<contactinfo>{contact}</contactinfo><profile>{profile}</profile><data_quality>Correct</data_quality>"
            f"<urls><url>http://label{record_id}.example</url></urls>"
            f"{f'<sublabels>{sublabels}</sublabels>' if sublabels else ''}{parent}</label>")


def master_xml(record_id: int, version: int, seed: int, *, artists: int, releases: int, newer: bool = False) -> str:
    """One `<master>` element."""
    rng = random.Random(seed * 4_000_003 + record_id)
    title = _words(rng, 1, 4) + (" (Deluxe)" if version else "")
    credits = "".join(_artist_credit(rng, artists) for _ in range(rng.choice((1, 1, 2))))
    genres = "".join(f"<genre>{_text(g)}</genre>" for g in rng.sample(GENRES, rng.randint(1, 2)))
    styles = "".join(f"<style>{_text(s)}</style>" for s in rng.sample(STYLES, rng.randint(1, 3)))
    return (f'<master id="{record_id}"><main_release>{rng.randint(1, max(releases, 1))}</main_release>'
            f"{_images(rng, newer)}<artists>{credits}</artists><genres>{genres}</genres><styles>{styles}</styles>"
            f"<year>{rng.randint(1960, 2025)}</year><title>{_text(title)}</title><data_quality>Correct</data_quality>"
            f"{_videos(rng, title)}</master>")


def generate(out: Path, *, releases: int, artists: int | None = None, labels: int | None = None,
             masters: int | None = None, seed: int = 1, month: int = 0, changed: float = 0.01,
             newer: bool = False, date: str | None = None,
             types: tuple[str, ...] = DUMP_TYPES) -> list[GeneratedDump]:
    """Write `discogs_<date>_<type>.xml.gz` for the four types (or `types`) into `out`; return
    what was written.

    Defaults scale with `releases` as the real dumps do (artists half, labels and masters an
    eighth). `date` defaults to 2026-11-01 for month 0 and 2026-12-01 for month 1.
    """
    counts = {"releases": releases, "artists": artists if artists is not None else max(releases // 2, 1),
              "labels": labels if labels is not None else max(releases // 8, 1),
              "masters": masters if masters is not None else max(releases // 8, 1)}
    stamp = date or ("20261101" if month == 0 else "20261201")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for dump_type in types:
        path = out / f"discogs_{stamp}_{dump_type}.xml.gz"
        records = 0
        gzip_file = fast_gzip.IGzipFile if fast_gzip is not None else gzip.GzipFile
        with gzip_file(path, "wb", compresslevel=1, mtime=0) as gz:  # mtime 0: the same bytes every time
            gz.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<{dump_type}>\n'.encode())
            for record_id, version in _ids(counts[dump_type], month, changed, seed):
                if dump_type == "releases":
                    xml = release_xml(record_id, version, seed, artists=counts["artists"], labels=counts["labels"],
                                      masters=counts["masters"], newer=newer)
                elif dump_type == "artists":
                    xml = artist_xml(record_id, version, seed, artists=counts["artists"], newer=newer)
                elif dump_type == "labels":
                    xml = label_xml(record_id, version, seed, labels=counts["labels"], newer=newer)
                else:
                    xml = master_xml(record_id, version, seed, artists=counts["artists"],
                                     releases=counts["releases"], newer=newer)
                gz.write(xml.encode() + b"\n")
                records += 1
            gz.write(f"</{dump_type}>\n".encode())
        written.append(GeneratedDump(path, dump_type, records, path.stat().st_size))
    return written
