"""Words as the ranking reads them: lower-case stems without stopwords, and the concepts
('@pupil') that staff words stand for."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_TOKEN = re.compile(r"[a-z0-9]+")
# Words that say nothing about which section a question is for; phrases still see them.
_STOPWORD_TEXT = """a an the and or but if of to in on at for from by with about as into onto
over under is am are was were be been being do does did doing have has had having can could
would should shall will may might must i me my mine we us our you your it its this that these
those there here what which who whom whose when where why how so too very just really quite
also any some all not no yes than then them they their he she him her his hers up out off get
got go going gone went s t ll re ve d m im ive id dont cant wont isnt arent wasnt didnt doesnt
shouldnt couldnt wouldnt ok okay please thanks hi hello one ask asked asking need want wanted
know think like let make made still even actually someone something thing bit lot anyone
anything everything mean meant suppose"""


# Four-letter words whose final s is not a plural.
_KEEP_S = frozenset(
    {"news", "does", "goes", "this", "thus", "has", "was", "yes", "bus", "gas", "plus"}
    | {"less", "miss", "boss", "loss", "pass"}
)


def _stem(token: str) -> str:
    if len(token) == 4 and token.endswith("s") and token not in _KEEP_S:
        return token if token.endswith(("ss", "us", "is")) else token[:-1]  # pics, kids, mums
    if len(token) <= 4 or token.isdigit():
        return token
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if suffix == "es" and token[-3:-2] not in ("s", "x", "z", "h"):
            continue  # sites -> site, but boxes -> box
        if token.endswith(suffix) and not token.endswith(("ss", "us", "is")):
            stem = token[: -len(suffix)] + keep
            if len(stem) >= 3:
                token = stem
                break
    if len(token) > 4 and token[-1] == token[-2] and token[-1] not in "aeioulsz":
        token = token[:-1]
    if len(token) > 4 and token.endswith("e"):
        token = token[:-1]
    return token


_STOPWORDS = frozenset(_STOPWORD_TEXT.split()) | {_stem(w) for w in _STOPWORD_TEXT.split()}


def tokens(text: str) -> list[str]:
    """Lower-case word stems; numbers become '#', apostrophes vanish ("don't" -> dont)."""
    lowered = text.casefold().replace("\u2019", "'").replace("'s ", " ").replace("'", "")
    out: list[str] = []
    for raw in _TOKEN.findall(lowered):
        if raw.isdigit():
            out.append("#")
        elif len(raw) <= 3 and raw[0] in "yk" and raw[1:].isdigit():
            out.append(raw[0] + "#")  # Y8, KS3
        else:
            out.append(_stem(raw))
    return out


class Analyzer:
    """Turns text into terms: word stems (stopwords dropped) and concept tags ('@pupil')."""

    def __init__(self, concepts: Mapping[str, Iterable[str]]) -> None:
        self._phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for concept, terms in concepts.items():
            for term in terms:
                sequence = tuple(tokens(term))
                if sequence:
                    self._phrases.setdefault(sequence[0], []).append((sequence, "@" + concept))
        for candidates in self._phrases.values():
            candidates.sort(key=lambda c: -len(c[0]))

    def terms(self, text: str) -> list[str]:
        words = tokens(text)
        found: list[str] = [w for w in words if (w not in _STOPWORDS and len(w) > 1) or w == "#"]
        seen: set[str] = set()
        covered_to = 0
        for index, word in enumerate(words):
            longest = 0
            for sequence, concept in self._phrases.get(word, ()):
                if len(sequence) < longest:
                    break
                end = index + len(sequence)
                # Inside a longer phrase already read ("social media"), a shorter one
                # ("media") is not a concept of its own.
                if end <= covered_to or tuple(words[index:end]) != sequence:
                    continue
                longest = len(sequence)
                if concept not in seen:
                    found.append(concept)
                    seen.add(concept)
            covered_to = max(covered_to, index + longest)
        return found

    def cue_terms(self, cue: str) -> list[str]:
        """A cue may name concepts directly ('@pupil @friend_request') or be plain words."""
        named = [part for part in cue.split() if part.startswith("@")]
        plain = " ".join(part for part in cue.split() if not part.startswith("@"))
        return named + (self.terms(plain) if plain else [])
