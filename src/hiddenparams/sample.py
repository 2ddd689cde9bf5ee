"""Synthetic music requests with labels from a documented latent model (the embedded default dataset).

Every request is composed from parts. Each part is a `Cue` with a latent effect on the six keys:

- an occasion or activity (workout, studying, grandmother's 80th birthday, falling asleep, ...), said either as a
  phrase ("for my grandmother's 80th birthday") or as a situation ("It's my grandma's 80th on Saturday");
- a genre or instrument (acoustic guitar, synthwave, string quartet, lo-fi, jazz trio, EDM, ...);
- a mood adjective (mellow, upbeat, dark, cozy, ...);
- an era or memory cue ("like the 80s", "songs from my childhood", "brand new releases only");
- a tempo phrase ("nothing too fast", "around 140 bpm").

Every part is optional, with presence rates `PRESENCE`. The labels of a request are

    clip(round(BASE + sum of the effects of its parts + noise), 0, 10)

where noise is Gaussian with standard deviation `NOISE_SD`, drawn per text (a fixed table indexed by the CRC-32 of
the text before case and final punctuation) so that a text that recurs by chance gets the same labels instead of a
spurious conflict. Then, in order:

- label noise: `LABEL_NOISE_RATE` of rows get one random key shifted by 2..4 either way (clipped);
- non-English: `FOREIGN_RATE` of rows are Spanish, French, German or Portuguese, from cues that have a translation;
- surface noise: lower case (`LOWER_RATE`), upper case (`UPPER_RATE`), an emoji (`EMOJI_RATE`), one typo, a swapped
  or dropped letter (`TYPO_RATE`); none of these changes the labels;
- duplicates: `NEAR_DUP_RATE` of rows copy an earlier row's text with a small word edit (same labels), and
  `REPEAT_RATE` copy it exactly up to case and punctuation; a fifth of those repeats carry a label one step off on
  one key, as two annotators would disagree, so the split stage sees real duplicates, near-duplicates and conflicts.

Everything is drawn from `numpy.random.default_rng(seed)` in whole columns, so one million rows take seconds and a
given (n, seed) always gives the same rows. The occasions carry most of the indirect meaning: "to fall asleep"
lowers energy, a grandparent's birthday raises nostalgia and warmth, although neither names a parameter.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from .schema import KEYS, MAX_VALUE, MIN_VALUE

BASE = 5.0
NOISE_SD = 0.6
PRESENCE = {"occasion": 0.85, "genre": 0.65, "mood": 0.6, "era": 0.35, "tempo": 0.25}
SITUATION_RATE = 0.3  # of the rows whose occasion has situation sentences
LABEL_NOISE_RATE = 0.03
FOREIGN_RATE = 0.03
LOWER_RATE = 0.12
UPPER_RATE = 0.015
EMOJI_RATE = 0.04
TYPO_RATE = 0.05
NEAR_DUP_RATE = 0.02
REPEAT_RATE = 0.01
REPEAT_CONFLICT_SHARE = 0.2

LANGS = ("es", "fr", "de", "pt")


def fx(**effects: float) -> tuple[float, ...]:
    """An effect vector in schema key order, written by key name so a table cannot drift from `KEYS`."""
    unknown = set(effects) - set(KEYS)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; expected some of {KEYS}")
    return tuple(float(effects.get(k, 0.0)) for k in KEYS)


@dataclass(frozen=True)
class Cue:
    effect: tuple[float, ...]
    phrases: tuple[str, ...]  # English paraphrases; one is drawn per row
    intl: dict[str, str] = field(default_factory=dict)  # language -> phrase; absent languages never use this cue
    situations: tuple[str, ...] = ()  # whole sentences that imply the occasion without its phrase


def _everywhere(word: str, de: str | None = None) -> dict[str, str]:
    """Genre names that other languages borrow unchanged (German capitalises nouns)."""
    return {"es": word, "fr": word, "de": de or word, "pt": word}


OCCASIONS: tuple[Cue, ...] = (
    Cue(fx(energy=4, brightness=1, acousticness=-2, warmth=-1),
        ("for my workout", "for the gym", "to lift weights to", "for a HIIT session", "for leg day"),
        {"es": "para el gimnasio", "fr": "pour la salle de sport", "de": "fürs Fitnessstudio",
         "pt": "para a academia"},
        ("I'm hitting the gym in ten minutes", "Leg day today and I need motivation",
         "About to start a brutal HIIT class")),
    Cue(fx(energy=4, brightness=2, acousticness=-1),
        ("for my morning run", "to run a 10k to", "for jogging in the park", "for a long run"),
        {"es": "para correr", "fr": "pour courir", "de": "zum Joggen", "pt": "para correr"},
        ("Going for a run before work", "Training for a half marathon")),
    Cue(fx(energy=-2, complexity=-1, warmth=1),
        ("while I study", "for studying", "to revise for exams to", "for a late-night study session"),
        {"es": "para estudiar", "fr": "pour réviser", "de": "zum Lernen", "pt": "para estudar"},
        ("I have finals next week", "Cramming for a chemistry exam tonight")),
    Cue(fx(energy=-1, complexity=-2, acousticness=-2, brightness=-1),
        ("while I code", "for deep focus coding", "for a long programming session", "to debug to"),
        {"de": "zum Programmieren", "fr": "pour coder", "es": "para programar", "pt": "para programar"},
        ("I need to get through a pile of code tonight", "Big deadline at work and I need to focus")),
    Cue(fx(warmth=3, energy=-1, complexity=1, acousticness=1),
        ("for a dinner party", "for dinner with friends", "to play while we cook for guests"),
        {"es": "para una cena con amigos", "fr": "pour un dîner entre amis", "de": "für ein Abendessen mit Freunden",
         "pt": "para um jantar com amigos"},
        ("We're hosting eight people for dinner", "Having friends over for dinner on Friday")),
    Cue(fx(nostalgia=4, warmth=3, acousticness=1, energy=-1),
        ("for my grandmother's 80th birthday", "for grandma's 80th birthday party", "for my nan's 80th",
         "for my grandfather's 90th birthday"),
        {"es": "para el cumpleaños 80 de mi abuela", "fr": "pour les 80 ans de ma grand-mère",
         "de": "zum 80. Geburtstag meiner Oma", "pt": "para o aniversário de 80 anos da minha avó"},
        ("It's my grandmother's 80th birthday on Saturday",
         "My grandpa turns 90 next week and the whole family is coming")),
    Cue(fx(energy=-2, warmth=2, brightness=-2, acousticness=2, nostalgia=1),
        ("for a rainy Sunday", "for a grey rainy afternoon", "for a lazy rainy day indoors"),
        {"es": "para un domingo lluvioso", "fr": "pour un dimanche pluvieux", "de": "für einen verregneten Sonntag",
         "pt": "para um domingo chuvoso"},
        ("It's pouring outside and it's Sunday", "Rainy afternoon, tea in hand")),
    Cue(fx(energy=2, brightness=2, nostalgia=1),
        ("for a road trip", "for a long drive down the coast", "for driving with the windows down"),
        {"es": "para un viaje por carretera", "fr": "pour un road trip", "de": "für einen Roadtrip",
         "pt": "para uma viagem de carro"},
        ("We're driving to the coast tomorrow", "Five hours in the car with my best friends")),
    Cue(fx(warmth=3, brightness=2, energy=1, nostalgia=1),
        ("for our wedding", "for my sister's wedding reception", "for the first dance at a wedding"),
        {"es": "para nuestra boda", "fr": "pour notre mariage", "de": "für unsere Hochzeit",
         "pt": "para o nosso casamento"},
        ("My best friend is getting married in June", "We're planning the music for our wedding")),
    Cue(fx(energy=-5, brightness=-2, complexity=-2, acousticness=2, warmth=1),
        ("to fall asleep to", "for falling asleep", "to help me sleep", "for bedtime"),
        {"es": "para dormir", "fr": "pour m'endormir", "de": "zum Einschlafen", "pt": "para dormir"},
        ("I can't sleep", "Trying to fall asleep but my brain won't stop")),
    Cue(fx(energy=4, brightness=2, acousticness=-3, complexity=-1),
        ("for a house party", "to get a party started", "for pre-drinks with friends"),
        {"es": "para una fiesta en casa", "fr": "pour une fête à la maison", "de": "für eine Hausparty",
         "pt": "para uma festa em casa"},
        ("Throwing a party at my place tonight", "Friends are coming over to pregame")),
    Cue(fx(energy=-4, acousticness=2, complexity=-2, warmth=1),
        ("for yoga", "for a meditation session", "for morning stretching"),
        {"es": "para hacer yoga", "fr": "pour le yoga", "de": "für Yoga", "pt": "para meditar"},
        ("Starting a ten minute meditation",)),
    Cue(fx(energy=2, brightness=2, complexity=-1),
        ("for cleaning the house", "to do chores to", "for a Saturday clean-up")),
    Cue(fx(complexity=1),
        ("for my commute", "for the train to work", "for the bus ride home")),
    Cue(fx(energy=-3, brightness=-3, warmth=2, nostalgia=3, acousticness=2),
        ("for a memorial service", "for my grandfather's funeral", "to remember my dad"),
        {"es": "para un funeral", "fr": "pour des funérailles", "de": "für eine Trauerfeier",
         "pt": "para um funeral"},
        ("We're saying goodbye to my uncle this weekend",)),
    Cue(fx(nostalgia=4, warmth=2, energy=1),
        ("for a high school reunion", "for a night with old school friends", "for a reunion with my college roommates"),
        situations=("Twenty years since we graduated and the whole class is meeting up",)),
    Cue(fx(warmth=2, energy=-1),
        ("while I cook dinner", "for cooking on a weeknight", "for making pasta")),
    Cue(fx(energy=-3, complexity=1, acousticness=2),
        ("for reading a novel", "to read to", "for a quiet evening with a book"),
        {"es": "para leer", "fr": "pour lire", "de": "zum Lesen", "pt": "para ler"}),
    Cue(fx(energy=3, brightness=4, complexity=-3),
        ("for my son's 6th birthday party", "for a kids' party", "for my daughter's birthday"),
        situations=("My kid turns six and twenty children are coming",)),
    Cue(fx(brightness=-3, warmth=-1, acousticness=-2, nostalgia=1),
        ("for a late-night drive through the city", "for driving home at 2am", "for a night drive")),
    Cue(fx(energy=-1, warmth=3, brightness=2, acousticness=2),
        ("for a slow Sunday morning with coffee", "for breakfast on the balcony", "for my morning coffee"),
        {"es": "para el café de la mañana", "fr": "pour le café du matin", "de": "zum Morgenkaffee",
         "pt": "para o café da manhã"}),
    Cue(fx(energy=2, acousticness=-3, complexity=1),
        ("for gaming", "for a late-night gaming session", "for a Minecraft marathon")),
    Cue(fx(brightness=4, energy=2, warmth=1),
        ("for a beach day", "for a summer barbecue", "for a pool party"),
        {"es": "para un día de playa", "fr": "pour une journée à la plage", "de": "für einen Strandtag",
         "pt": "para um dia de praia"}),
    Cue(fx(nostalgia=3, warmth=3, brightness=2),
        ("for Christmas Eve with the family", "for decorating the tree", "for the holidays at my parents'"),
        {"es": "para Nochebuena", "fr": "pour le réveillon de Noël", "de": "für Heiligabend",
         "pt": "para a ceia de Natal"}),
    Cue(fx(energy=-2, brightness=-3, warmth=-1, nostalgia=2),
        ("after a breakup", "for getting over my ex", "for crying in the car"),
        situations=("She left last week and I just want to wallow",)),
)

GENRES: tuple[Cue, ...] = (
    Cue(fx(acousticness=4, warmth=2, energy=-1),
        ("acoustic guitar songs", "songs with acoustic guitar", "fingerpicked guitar music", "acoustic guitar stuff"),
        {"es": "guitarra acústica", "fr": "de la guitare acoustique", "de": "Akustikgitarre", "pt": "violão"}),
    Cue(fx(acousticness=-4, nostalgia=2, brightness=1, energy=1),
        ("synthwave", "retro synth music", "synthwave tracks"), _everywhere("synthwave", "Synthwave")),
    Cue(fx(acousticness=4, complexity=3, warmth=1, energy=-1),
        ("string quartet music", "a string quartet", "chamber strings"),
        {"es": "cuarteto de cuerdas", "fr": "un quatuor à cordes", "de": "Streichquartett",
         "pt": "quarteto de cordas"}),
    Cue(fx(energy=-2, acousticness=-1, complexity=-2, warmth=2),
        ("lo-fi", "lofi hip hop beats", "lo-fi beats"), _everywhere("lo-fi", "Lo-Fi")),
    Cue(fx(complexity=3, warmth=2, acousticness=3),
        ("jazz trio", "piano trio jazz", "small-combo jazz"), _everywhere("jazz", "Jazz")),
    Cue(fx(energy=4, acousticness=-5, brightness=2, complexity=-1),
        ("EDM", "big room EDM", "festival EDM bangers"), _everywhere("EDM")),
    Cue(fx(energy=3, acousticness=-5, warmth=-2, brightness=-1),
        ("techno", "Berlin techno", "minimal techno"), _everywhere("techno", "Techno")),
    Cue(fx(acousticness=4, energy=-2, complexity=1, warmth=1),
        ("solo piano", "piano pieces", "quiet piano music"),
        {"es": "piano solo", "fr": "du piano solo", "de": "Klaviermusik", "pt": "piano solo"}),
    Cue(fx(acousticness=3, warmth=2, nostalgia=1),
        ("folk", "indie folk", "folk songs"), _everywhere("folk", "Folk")),
    Cue(fx(energy=2, nostalgia=2, acousticness=-1),
        ("classic rock", "rock anthems", "guitar rock"), _everywhere("rock", "Rock")),
    Cue(fx(complexity=4, energy=1),
        ("prog rock", "progressive rock", "prog with odd time signatures")),
    Cue(fx(brightness=2, complexity=-2, energy=1),
        ("pop", "pop songs", "chart pop"), _everywhere("pop", "Pop")),
    Cue(fx(energy=-3, acousticness=-2, complexity=-1, brightness=-1),
        ("ambient", "ambient soundscapes", "ambient drones"), _everywhere("ambient", "Ambient")),
    Cue(fx(warmth=3, acousticness=3, brightness=1, complexity=1),
        ("bossa nova", "Brazilian bossa nova"), _everywhere("bossa nova", "Bossa Nova")),
    Cue(fx(warmth=3, nostalgia=3, energy=1),
        ("Motown", "old soul records", "classic soul"), _everywhere("soul", "Soul")),
    Cue(fx(energy=5, brightness=-2, warmth=-2, acousticness=-2, complexity=2),
        ("metal", "heavy metal", "thrash metal"), _everywhere("metal", "Metal")),
    Cue(fx(energy=3, brightness=3, nostalgia=2, acousticness=-2),
        ("disco", "disco classics", "funky disco"), _everywhere("disco", "Disco")),
    Cue(fx(complexity=3, acousticness=2, energy=1),
        ("orchestral film scores", "epic orchestral music", "movie soundtracks")),
    Cue(fx(warmth=2, brightness=2),
        ("reggae", "roots reggae"), _everywhere("reggae", "Reggae")),
    Cue(fx(energy=4, complexity=-2, acousticness=-2),
        ("punk", "pop punk", "fast punk songs")),
    Cue(fx(energy=5, acousticness=-4, complexity=1),
        ("drum and bass", "liquid dnb", "jungle")),
    Cue(fx(acousticness=5, energy=1, complexity=1, nostalgia=1),
        ("bluegrass", "banjo and fiddle music")),
)

MOODS: tuple[Cue, ...] = (
    Cue(fx(energy=-2, warmth=1), ("mellow", "laid-back", "easygoing"),
        {"es": "tranquilo", "fr": "de doux", "de": "Ruhiges", "pt": "tranquilo"}),
    Cue(fx(energy=3, brightness=2), ("upbeat", "peppy", "bouncy"),
        {"es": "animado", "fr": "d'entraînant", "de": "Flottes", "pt": "animado"}),
    Cue(fx(warmth=3, energy=-1), ("cozy", "snug", "homey"),
        {"es": "acogedor", "fr": "de chaleureux", "de": "Gemütliches", "pt": "aconchegante"}),
    Cue(fx(brightness=-4, warmth=-1), ("dark", "brooding", "gloomy"),
        {"es": "oscuro", "fr": "de sombre", "de": "Düsteres", "pt": "sombrio"}),
    Cue(fx(brightness=4, warmth=1), ("sunny", "cheerful", "bright"),
        {"es": "alegre", "fr": "de joyeux", "de": "Fröhliches", "pt": "alegre"}),
    Cue(fx(brightness=-3, energy=-2, nostalgia=1), ("melancholic", "sad", "wistful"),
        {"es": "melancólico", "fr": "de mélancolique", "de": "Melancholisches", "pt": "melancólico"}),
    Cue(fx(energy=-1, complexity=1, brightness=1), ("dreamy", "hazy", "floaty")),
    Cue(fx(energy=3, complexity=1), ("intense", "powerful", "driving")),
    Cue(fx(energy=-2), ("chill", "relaxed", "calm"),
        {"es": "relajado", "fr": "de calme", "de": "Entspanntes", "pt": "relaxante"}),
    Cue(fx(warmth=3, energy=-1, brightness=1), ("romantic", "tender", "sweet")),
    Cue(fx(complexity=3), ("intricate", "complex", "technical")),
    Cue(fx(complexity=-3), ("simple", "stripped-back", "uncomplicated")),
    Cue(fx(warmth=-3), ("cold", "icy", "clinical")),
    Cue(fx(energy=4, warmth=-2, brightness=-1), ("aggressive", "angry", "hard-hitting")),
    Cue(fx(energy=-3, warmth=1), ("gentle", "soft", "soothing")),
    Cue(fx(energy=3, brightness=3), ("euphoric", "feel-good", "joyful")),
    Cue(fx(nostalgia=2, brightness=-1), ("bittersweet", "sentimental")),
    Cue(fx(complexity=-2, energy=-1), ("minimal", "sparse")),
)

ERAS: tuple[Cue, ...] = (
    Cue(fx(nostalgia=3), ("like the 80s", "that sounds like the eighties", "with an 80s vibe"),
        {"es": "como los años 80", "fr": "comme dans les années 80", "de": "wie in den 80ern",
         "pt": "como nos anos 80"}),
    Cue(fx(nostalgia=4, warmth=1, acousticness=1), ("from the 70s", "straight out of the seventies"),
        {"es": "de los años 70", "fr": "des années 70", "de": "aus den 70ern", "pt": "dos anos 70"}),
    Cue(fx(nostalgia=2), ("from the 90s", "that feels very nineties")),
    Cue(fx(nostalgia=5, warmth=1), ("like the songs from my childhood", "that reminds me of being a kid",
                                    "like what we sang as kids"),
        {"es": "como las canciones de mi infancia", "fr": "comme les chansons de mon enfance",
         "de": "wie die Lieder meiner Kindheit", "pt": "como as músicas da minha infância"}),
    Cue(fx(nostalgia=4, acousticness=1, warmth=1), ("like the records my parents played", "like my dad's old vinyl")),
    Cue(fx(nostalgia=2), ("with an old-school feel", "old-school style")),
    Cue(fx(nostalgia=-4), ("but only brand new releases", "from this year only", "nothing older than last month"),
        {"es": "solo lanzamientos nuevos", "fr": "que des nouveautés", "de": "nur neue Sachen",
         "pt": "só lançamentos novos"}),
    Cue(fx(nostalgia=-3, acousticness=-2, brightness=1), ("that sounds futuristic", "from the future")),
    Cue(fx(nostalgia=-2), ("that I've never heard before", "by artists I don't know yet")),
    Cue(fx(nostalgia=3), ("like an old movie soundtrack", "like a black-and-white film")),
    Cue(fx(nostalgia=4), ("that reminds me of summer camp", "like back in high school")),
)

TEMPOS: tuple[Cue, ...] = (
    Cue(fx(energy=2), (", fast tempo", ", fast please", " with a fast tempo"),
        {"es": ", rápido", "fr": ", rapide", "de": ", schnell", "pt": ", rápido"}),
    Cue(fx(energy=-2), (", slow tempo", ", slow please", " and slow"),
        {"es": ", lento", "fr": ", lent", "de": ", langsam", "pt": ", lento"}),
    Cue(fx(energy=1), (", around 120 bpm", " at about 120 bpm")),
    Cue(fx(energy=3), (", around 140 bpm", ", really high tempo")),
    Cue(fx(energy=-1), (", nothing too fast", ", not too fast")),
    Cue(fx(energy=2), (" with a driving beat", " with a punchy beat")),
    Cue(fx(energy=-1, acousticness=1), (", no drums", " without drums")),
)

SLOTS: tuple[tuple[str, tuple[Cue, ...]], ...] = (
    ("occasion", OCCASIONS), ("genre", GENRES), ("mood", MOODS), ("era", ERAS), ("tempo", TEMPOS),
)

OPENERS = (
    "play me", "play", "put on", "I need", "I want", "can you find", "can you play", "could you put on", "find me",
    "give me", "looking for", "recommend", "queue up", "I'd love", "suggest", "any ideas for", "hit me with",
)
NOUNS = ("music", "songs", "tunes", "tracks", "something")
ENDS = ("", "", ".", ".", "!", "?", " please", " pls", "...", " thanks")
# {o} opener, {m} music phrase (mood + genre), {c} occasion phrase, {e} era, {t} tempo (carries its own comma).
TEMPLATES = (
    "{o} {m} {e} {c}{t}",
    "{o} {m} {c} {e}{t}",
    "{c}: {m} {e}{t}",
    "{c}, {o} {m} {e}{t}",
    "what's good {c}? thinking {m} {e}{t}",
    "{m} {c} {e}{t}",
    "I'm in the mood for {m} {e} {c}{t}",
    "make me a playlist of {m} {c} {e}{t}",
    "need a playlist {c}. {m} {e}{t}",
    "hey, {o} {m} {e} {c}{t}",
    "something {c}, maybe {m} {e}{t}",
    "what should I listen to {c}? I like {m} {e}{t}",
)
# Used instead of TEMPLATES when the occasion is told as a situation sentence {s}.
SITUATION_TEMPLATES = (
    "{s}. {o} {m} {e}{t}",
    "{s} - {o} {m} {e}{t}",
    "{s}, any ideas? maybe {m} {e}{t}",
    "{s}. what should I put on? {m} {e}{t}",
    "{s} so {o} {m} {e}{t}",
)
# Non-English rows: {m} is a genre or the language's word for music; the mood {d} follows as its own clause.
FOREIGN = {
    "es": (("pon", "quiero", "necesito", "¿me recomiendas", "busco"), "música", "algo",
           ("{o} {m} {c}, {d} {e}{t}", "{o} {m} {c} {e}{t}", "canción {c}, {m}{t}")),
    "fr": (("mets", "je veux", "j'ai besoin de", "tu peux me trouver", "je cherche"), "de la musique", "quelque chose",
           ("{o} {m} {c}, {d} {e}{t}", "{o} {m} {c} {e}{t}", "musique {c} : {m} {e}{t}")),
    "de": (("spiel", "ich brauche", "ich suche", "kannst du mir", "gib mir"), "Musik", "etwas",
           ("{o} {m} {c}, {d} {e}{t}", "{o} {m} {c} {e}{t}", "Musik {c}: {m} {e}{t}")),
    "pt": (("toca", "quero", "preciso de", "me recomenda", "procuro"), "música", "algo",
           ("{o} {m} {c}, {d} {e}{t}", "{o} {m} {c} {e}{t}", "música {c}, {m} {e}{t}")),
}
EMOJIS = ("🎶", "🎧", "🙏", "✨", "😊", "🔥", "☕", "🌧️", "🎂", "💃", "😴", "🚗")
NEAR_DUP_PREFIXES = ("hey ", "ok so ", "pls ", "hi! ", "quick one: ")
NEAR_DUP_SUFFIXES = (" please", " thanks", " for me", " tonight", " asap", " if possible")
REPEAT_ENDINGS = ("", "!", ".", "?")


def _effects(cues: tuple[Cue, ...]) -> np.ndarray:
    """Effect matrix with an all-zero last row, the index of an absent part."""
    return np.array([c.effect for c in cues] + [fx()], dtype=np.float64)


def _phrase_table(cues: tuple[Cue, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every English phrase of a slot in one object array, with each cue's offset and count; the absent part is ''."""
    phrases = [p for c in cues for p in c.phrases] + [""]
    counts = np.array([len(c.phrases) for c in cues] + [1])
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return np.array(phrases, dtype=object), offsets, counts


@cache
def _text_noise() -> np.ndarray:
    """Fixed Gaussian noise, one row per CRC-32 bucket: the same text gets the same noise under every seed."""
    return np.random.default_rng(20240611).normal(0.0, NOISE_SD, size=(1 << 16, len(KEYS)))


def _typo(text: str, u_pos: float, swap: bool) -> str:
    letters = [i for i, ch in enumerate(text[:-1]) if ch.isalpha() and text[i + 1].isalpha()]
    if not letters:
        return text
    i = letters[int(u_pos * len(letters))]
    if swap:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:i] + text[i + 1 :]


def _tidy(text: str) -> str:
    text = " ".join(text.split())
    for loose, tight in ((" ,", ","), (" .", "."), (" ?", "?"), (" :", ":"), (",,", ",")):
        text = text.replace(loose, tight)
    return text.strip(" ,:")


def _generate(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Texts and integer labels (n x 6) of n requests."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)

    def uniform() -> np.ndarray:
        return rng.random(n)

    def pick(k: int) -> np.ndarray:
        return (uniform() * k).astype(np.int64)

    lang = np.where(uniform() < FOREIGN_RATE, pick(len(LANGS)), -1)
    foreign = lang >= 0

    index: dict[str, np.ndarray] = {}
    english: dict[str, list[str]] = {}
    latent = np.full((n, len(KEYS)), BASE)
    for slot, cues in SLOTS:
        idx = pick(len(cues))
        for li, code in enumerate(LANGS):
            rows = lang == li
            eligible = np.array([i for i, c in enumerate(cues) if code in c.intl])
            idx[rows] = eligible[pick(len(eligible))[rows]]
        idx = np.where(uniform() < PRESENCE[slot], idx, len(cues))
        index[slot] = idx
        latent += _effects(cues)[idx]
        phrases, offsets, counts = _phrase_table(cues)
        english[slot] = phrases[offsets[idx] + (uniform() * counts[idx]).astype(np.int64)].tolist()

    has_situations = np.array([bool(c.situations) for c in OCCASIONS] + [False])
    situation = (uniform() < SITUATION_RATE) & has_situations[index["occasion"]] & ~foreign
    occ_list = index["occasion"].tolist()
    u_situation = uniform().tolist()
    # Kept as uniforms: English and foreign rows index lists of different lengths with them.
    u_template, u_opener = uniform().tolist(), uniform().tolist()
    noun, end = pick(len(NOUNS)).tolist(), pick(len(ENDS)).tolist()
    u_case = uniform().tolist()
    emoji = np.where(uniform() < EMOJI_RATE, pick(len(EMOJIS)), -1).tolist()
    typo = (uniform() < TYPO_RATE).tolist()
    u_typo_pos, typo_swap = uniform().tolist(), (uniform() < 0.5).tolist()
    u_dup = uniform()
    dup = np.where(u_dup < NEAR_DUP_RATE, 1, np.where(u_dup < NEAR_DUP_RATE + REPEAT_RATE, 2, 0))
    dup[:1] = 0  # the first row has nothing to copy
    source = (uniform() * np.arange(n)).astype(np.int64).tolist()
    edit = pick(len(NEAR_DUP_PREFIXES) + len(NEAR_DUP_SUFFIXES)).tolist()
    slot_lists = [english[s] for s, _ in SLOTS]
    lang_list, situation_list, dup_list = lang.tolist(), situation.tolist(), dup.tolist()
    parts = {s: index[s].tolist() for s, _ in SLOTS}

    texts: list[str] = []
    clean_keys = np.empty(n, dtype=np.int64)
    for i in range(n):
        if dup_list[i]:
            text = _copy(texts[source[i]], dup_list[i], edit[i])
            texts.append(text)
            clean_keys[i] = -1
            continue
        if lang_list[i] >= 0:
            text = _foreign_text(LANGS[lang_list[i]], {s: parts[s][i] for s, _ in SLOTS}, u_opener[i], u_template[i])
        else:
            c, g, md, e, t = (lst[i] for lst in slot_lists)
            if md and g:
                m = f"{md} {g}"
            elif md:
                m = f"{NOUNS[noun[i]]} {md}" if NOUNS[noun[i]] == "something" else f"{md} {NOUNS[noun[i]]}"
            else:
                m = g or NOUNS[noun[i]]
            o = OPENERS[int(u_opener[i] * len(OPENERS))]
            if situation_list[i]:
                situations = OCCASIONS[occ_list[i]].situations
                s = situations[int(u_situation[i] * len(situations))]
                tpl = SITUATION_TEMPLATES[int(u_template[i] * len(SITUATION_TEMPLATES))]
                text = tpl.format(s=s, o=o, m=m, e=e, t=t)
            else:
                text = TEMPLATES[int(u_template[i] * len(TEMPLATES))].format(o=o, m=m, c=c, e=e, t=t)
            text = _tidy(text)
        # Keyed before case and final punctuation, which the split's normalisation ignores too.
        clean_keys[i] = zlib.crc32(text.casefold().encode()) & 0xFFFF
        if lang_list[i] < 0:
            text += ENDS[end[i]]
        text = text[0].upper() + text[1:]
        if u_case[i] < LOWER_RATE:
            text = text.lower()
        elif u_case[i] > 1.0 - UPPER_RATE:
            text = text.upper()
        if emoji[i] >= 0:
            text = f"{text} {EMOJIS[emoji[i]]}"
        if typo[i]:
            text = _typo(text, u_typo_pos[i], typo_swap[i])
        texts.append(text)

    original = clean_keys >= 0
    noisy = latent + np.where(original[:, None], _text_noise()[np.maximum(clean_keys, 0)], 0.0)
    labels = np.clip(np.rint(noisy), MIN_VALUE, MAX_VALUE).astype(np.int64)
    flip = (uniform() < LABEL_NOISE_RATE) & original
    key = pick(len(KEYS))
    shift = (pick(3) + 2) * np.where(uniform() < 0.5, -1, 1)
    labels[flip, key[flip]] = np.clip(labels[flip, key[flip]] + shift[flip], MIN_VALUE, MAX_VALUE)

    conflict = (uniform() < REPEAT_CONFLICT_SHARE).tolist()
    step = np.where(uniform() < 0.5, -1, 1).tolist()
    key_list = key.tolist()
    for i in np.flatnonzero(dup).tolist():  # in row order, so a copy of a copy sees its source's final labels
        labels[i] = labels[source[i]]
        if dup_list[i] == 2 and conflict[i]:
            k = key_list[i]
            v = labels[i, k]
            labels[i, k] = v + step[i] if MIN_VALUE <= v + step[i] <= MAX_VALUE else v - step[i]
    return texts, labels


def _foreign_text(code: str, parts: dict[str, int], u_opener: float, u_template: float) -> str:
    openers, music, something, templates = FOREIGN[code]
    said = {s: (cues[parts[s]].intl[code] if parts[s] < len(cues) else "") for s, cues in SLOTS}
    mood = said["mood"]
    d = f"{something} {mood}" if mood else ""
    text = templates[int(u_template * len(templates))].format(
        o=openers[int(u_opener * len(openers))], m=said["genre"] or music, c=said["occasion"], d=d, e=said["era"],
        t=said["tempo"],
    )
    if code == "es" and text.startswith("¿"):
        text += "?"
    return _tidy(text)


def _copy(text: str, kind: int, edit: int) -> str:
    """A near-duplicate (kind 1: one small word edit) or a repeat (kind 2: same words, other case or punctuation)."""
    if kind == 1:
        if edit < len(NEAR_DUP_PREFIXES):
            return NEAR_DUP_PREFIXES[edit] + text
        return text.rstrip(".!?") + NEAR_DUP_SUFFIXES[edit - len(NEAR_DUP_PREFIXES)]
    variant = edit % 4
    if variant == 0:
        return text.lower()
    return text.rstrip(".!?") + REPEAT_ENDINGS[variant]


def generate_rows(n: int, seed: int = 0) -> list[dict]:
    """`n` canonical rows `{"id", "request_text", "hidden_params"}` with ids `s000001`...; fixed by (n, seed)."""
    texts, labels = _generate(n, seed)
    return [
        {"id": f"s{i + 1:06d}", "request_text": text, "hidden_params": dict(zip(KEYS, row))}
        for i, (text, row) in enumerate(zip(texts, labels.tolist()))
    ]


def generate_texts(n: int, seed: int = 0) -> list[str]:
    """The request texts of `generate_rows(n, seed)`, without labels (for plain language-model pre-training).

    Use a seed other than the labelled data's so that pre-training text and evaluation text are drawn apart.
    """
    return _generate(n, seed)[0]
