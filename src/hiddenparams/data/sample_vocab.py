"""The sample generator's vocabulary: the cue tables (each cue's effect on the six keys and its phrases, in English
and four other languages), the sentence templates, and the noise material (emojis, near-duplicate edits).

`sample.py` draws from these tables; docs/SAMPLE_DATA.md describes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..schema import KEYS

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
