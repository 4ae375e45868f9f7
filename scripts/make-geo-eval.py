#!/usr/bin/env python3
"""Builds eval/geo-sms.tsv, the labelled SMS that `ishara eval geo` scores.

Positive rows name a town of 5,000+ people from GeoNames cities1000.txt in
a sentence of one of the country's languages, sent from a number of that
country, with SMS noise: lower or upper case, accents dropped, one typo in
longer names, alternate names. Negative rows name no place: crisis
sentences without a place, everyday phrases (word pairs of the language
identification corpus) and ordinary words that are also town names.

Deterministic (fixed seed); Python 3.11 standard library only.

    python3 scripts/make-geo-eval.py /work/shared/data > eval/geo-sms.tsv

An optional second argument changes the seed, for a held-out set.
"""

import random
import sys
import unicodedata
from pathlib import Path

SEED = 20251125
MIN_POPULATION = 5000
PER_COUNTRY = 160

# Country: calling code, languages of the templates.
COUNTRIES = {
    "KE": ("254", ["en", "sw"]),
    "UG": ("256", ["en", "sw"]),
    "SO": ("252", ["so", "en"]),
    "NG": ("234", ["en"]),
    "CD": ("243", ["fr", "sw"]),
    "HT": ("509", ["fr"]),
    "PH": ("63", ["en", "tl"]),
    "BD": ("880", ["en"]),
    "IN": ("91", ["en"]),
    "PK": ("92", ["en"]),
    "YE": ("967", ["ar", "en"]),
    "SY": ("963", ["ar", "fr"]),
    "MZ": ("258", ["pt"]),
    "ET": ("251", ["en"]),
    "CO": ("57", ["es"]),
}

TEMPLATES = {
    "en": [
        "Flooding in {p}, many families need help",
        "Please send water to {p} we have nothing",
        "{p}: the bridge is down and the road is cut",
        "Cholera cases reported at {p} health centre",
        "We are stuck in {p} since yesterday, no food",
        "fire at the market in {p} pls help",
        "Need doctors in {p} urgently, many sick children",
        "Landslide near {p} this morning, people missing",
        "Is help coming to {p}? water is rising",
        "My family is in {p} and we cannot reach them",
    ],
    "sw": [
        "Mafuriko {p}, tunahitaji msaada",
        "Tafadhali tuma maji {p} hatuna kitu",
        "Daraja la {p} limevunjika",
        "Kipindupindu kimeripotiwa {p}",
        "Tumekwama {p} tangu jana, hakuna chakula",
        "Moto sokoni {p} tusaidieni",
        "Watu wengi wagonjwa huko {p}",
        "Maji yamefika {p} usiku huu",
    ],
    "fr": [
        "Inondation a {p}, beaucoup de familles sans abri",
        "Svp envoyez de l'eau a {p}",
        "Le pont de {p} est tombe",
        "Cas de cholera signales a {p}",
        "Nous sommes bloques a {p} depuis hier",
        "Incendie au marche de {p} aidez nous",
        "Besoin de medecins a {p} urgent",
        "Glissement de terrain pres de {p} ce matin",
    ],
    "es": [
        "Inundacion en {p}, muchas familias necesitan ayuda",
        "Por favor manden agua a {p}",
        "El puente de {p} se cayo",
        "Casos de colera en {p}",
        "Estamos atrapados en {p} desde ayer",
        "Incendio en el mercado de {p}, ayuda",
        "Necesitamos medicos en {p} urgente",
        "Deslizamiento cerca de {p} esta manana",
    ],
    "pt": [
        "Cheias em {p}, muitas familias precisam de ajuda",
        "Por favor mandem agua para {p}",
        "A ponte de {p} caiu",
        "Casos de colera em {p}",
        "Estamos presos em {p} desde ontem",
        "Incendio no mercado de {p}, socorro",
        "Precisamos de medicos em {p} urgente",
    ],
    "ar": [
        "fayadan fi {p}, nahtaj musaada",
        "min fadlak arsil mayya ila {p}",
        "al jisr fi {p} inhar",
        "halat kolera fi {p}",
        "nahnu aaliqun fi {p} mundhu ams",
        "hariq fi souq {p} saeduna",
    ],
    "so": [
        "Daad ayaa ka dhacay {p}, waxaan u baahanahay caawimo",
        "Fadlan biyo u soo dira {p}",
        "Buundada {p} way dumtay",
        "Daacuun ayaa laga helay {p}",
        "Waxaan ku go'doonsanahay {p} shalay ilaa hadda",
    ],
    "tl": [
        "Baha sa {p}, kailangan namin ng tulong",
        "Pakiusap magpadala ng tubig sa {p}",
        "Bumagsak ang tulay sa {p}",
        "May kolera sa {p}",
        "Stranded kami sa {p} mula kahapon",
    ],
}

NEGATIVES = {
    "en": [
        "Please help us, we have no water and no food",
        "The bridge is down, we cannot cross",
        "Many children are sick, we need medicine",
        "Mark my words, the rain will come again tonight",
        "We are safe now, thank you for the help",
        "Meet me at the bar after work",
        "Fire in the market this morning, two shops burnt",
        "When will the truck with food arrive?",
        "My phone battery is low, call me later",
        "The man at the gate says the road is closed",
        "Nice work, the water is clean again",
        "Hope you are well, we need blankets",
        "Reading this message? please reply",
        "Orange network is down since morning",
        "I lost my ID card during the flood",
    ],
    "sw": [
        "Tafadhali tusaidie, hatuna maji wala chakula",
        "Daraja limevunjika hatuwezi kuvuka",
        "Watoto wengi ni wagonjwa tunahitaji dawa",
        "Mvua kubwa imenyesha usiku wote",
        "Tuko salama sasa asante sana",
        "Moto umeteketeza nyumba tatu",
        "Lini chakula kitafika?",
        "Bado hatujapata msaada wowote",
    ],
    "fr": [
        "Aidez nous svp, pas d'eau ni de nourriture",
        "Le pont est tombe, on ne peut pas traverser",
        "Beaucoup d'enfants malades, il faut des medicaments",
        "Nous sommes en securite, merci",
        "Incendie au marche ce matin",
        "Quand arrive le camion de nourriture?",
    ],
    "es": [
        "Ayudenos por favor, no tenemos agua ni comida",
        "El puente se cayo, no podemos pasar",
        "Muchos ninos enfermos, necesitamos medicinas",
        "Estamos bien ahora, gracias",
        "Cuando llega la ayuda?",
    ],
    "pt": [
        "Ajudem por favor, nao temos agua nem comida",
        "A ponte caiu, nao podemos passar",
        "Muitas criancas doentes, precisamos de remedios",
        "Estamos bem agora, obrigado",
    ],
    "ar": [
        "saeduna min fadlak la yujad mayya",
        "nahnu bikhayr alhamdulillah",
        "al atfal mardaa nahtaj dawa",
    ],
    "so": [
        "Fadlan na caawiya, biyo iyo cunto ma haysano",
        "Carruur badan ayaa jiran",
        "Waan nabad qabnaa hadda, mahadsanid",
    ],
    "tl": [
        "Tulungan ninyo kami, wala kaming tubig",
        "Maraming bata ang may sakit",
        "Ligtas na kami ngayon, salamat",
    ],
}

# Word-pair files of the language identification corpus used for everyday
# phrases, per template language.
PAIR_FILES = {"en": "en", "sw": "sw", "fr": "fr", "es": "es", "pt": "pt", "so": "so", "tl": "tl"}


def strip_accents(s):
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))


def is_latin(s):
    return all(not c.isalpha() or ord(c) < 0x250 or 0x1E00 <= ord(c) <= 0x1EFF for c in s)


def typo(rng, name):
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    i = rng.choice(letters[1:])
    kind = rng.choice(["sub", "del", "ins", "swap"])
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    if kind == "sub":
        c = rng.choice([a for a in alphabet if a != name[i].lower()])
        return name[:i] + c + name[i + 1 :]
    if kind == "del":
        return name[:i] + name[i + 1 :]
    if kind == "ins":
        return name[:i] + rng.choice(alphabet) + name[i:]
    if i + 1 < len(name) and name[i + 1].isalpha() and name[i + 1] != name[i]:
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return name[:i] + name[i + 1 :]


def surface(rng, row):
    """The name as an SMS writer might type it."""
    name, ascii_name, alternates = row[1], row[2], row[3]
    alts = [
        a
        for a in alternates.split(",")
        if a
        and is_latin(a)
        and sum(c.isalpha() for c in a) >= 4
        and not a.islower()
        and not a.isupper()
        and not any(c.isdigit() for c in a)
        and strip_accents(a).lower() != strip_accents(name).lower()
    ]
    r = rng.random()
    if alts and r < 0.12:
        text = rng.choice(alts)
    elif r < 0.5:
        text = ascii_name
    else:
        text = name
    if rng.random() < 0.5:
        text = strip_accents(text)
    if sum(c.isalpha() for c in text) >= 6 and rng.random() < 0.25:
        text = typo(rng, text)
    return text


def case_noise(rng, sms):
    r = rng.random()
    if r < 0.45:
        return sms.lower()
    if r < 0.55:
        return sms.upper()
    return sms


def sender(rng, country):
    code = COUNTRIES[country][0]
    return "+" + code + "".join(rng.choice("0123456789") for _ in range(12 - len(code)))


def main():
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data")
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else SEED)
    towns = {c: [] for c in COUNTRIES}
    with open(data / "geonames" / "cities1000.txt", encoding="utf-8") as f:
        for line in f:
            row = line.rstrip("\n").split("\t")
            if row[8] in towns and int(row[14] or 0) >= MIN_POPULATION and row[10] not in ("", "00"):
                towns[row[8]].append(row)
    out = ["sender\ttext\texpected_country\texpected_admin1\texpected_geonameid"]
    for country in sorted(COUNTRIES):
        rows = sorted(towns[country], key=lambda r: int(r[0]))
        sample = rng.sample(rows, min(PER_COUNTRY, len(rows)))
        for row in sample:
            lang = rng.choice(COUNTRIES[country][1])
            sms = rng.choice(TEMPLATES[lang]).format(p=surface(rng, row))
            sms = case_noise(rng, sms)
            out.append(f"{sender(rng, country)}\t{sms}\t{country}\t{country}.{row[10]}\t{row[0]}")
    negatives = []
    for country in sorted(COUNTRIES):
        for lang in COUNTRIES[country][1]:
            for sms in NEGATIVES[lang]:
                negatives.append((country, case_noise(rng, sms)))
            pair_file = data / "langid" / f"{PAIR_FILES.get(lang, 'en')}.word-pairs.txt"
            pairs = [l.strip() for l in pair_file.read_text(encoding="utf-8").splitlines() if l.strip()]
            for pair in rng.sample(pairs, 12):
                negatives.append((country, case_noise(rng, rng.choice(["", "pls ", "Please ", "Hi "]) + pair)))
    for country, sms in negatives:
        out.append(f"{sender(rng, country)}\t{sms}\t\t\t")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
