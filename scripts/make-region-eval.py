#!/usr/bin/env python3
"""Builds eval/geo-regions-sms.tsv: labelled SMS that name an admin-1 region
(a county, state, département, gobol, província, province, departamento,
region or muhafazah), not a town, as field staff write them.

The columns of eval/geo-sms.tsv (`ishara eval geo` reads both), plus a
sixth, `language`, the template's language, for the per-language
breakdown; the geonameid column is left empty because the label is the
region itself.

Positive rows: 32-38 per country over 10 countries (KE, NG, HT, SO, MZ, CD,
CO, PH, ET, YE), the country's regions taken in turn from a shuffled list so
that every usable region appears. About 65 % carry a unit word in the SMS's
language ("Turkana county", "kaunti ya Garissa", "département du
Nord-Ouest", "gobolka Bari", "província de Cabo Delgado", "departamento del
Cauca", "rehiyon ng Bicol", "muhafazat Ibb"); the rest name the region bare
("dans le Nord-Ouest", "en el Cauca", "em Sofala", "Kano"). Yemeni rows are
Arabic written in Latin letters, as in make-geo-eval.py.

Region names come from GeoNames admin1CodesASCII.txt: the name, the ASCII
name, and short forms without a trailing generic word ("Nairobi Area" ->
"Nairobi", "Abuja Federal Capital Territory" -> "Abuja", "Soqatra
Governorate" -> "Soqatra", "Bogota D.C." -> "Bogota") or the leading
"Muhafazat" ("Muhafazat Hadramawt" -> "Hadramawt"). A name that two or more
admin-1 codes of one country share (the old Congolese provinces, Ethiopia's
SNNPR, "Maputo" for Maputo City) is never emitted; a region left without a
name is skipped, as is any name without Latin letters.

SMS noise as in make-geo-eval.py: ~40 % lower case, ~10 % upper case,
accents dropped half the time, one typo in ~15 % of region names of 7+
letters. Senders are numbers of the region's country, ~5 % of another one
(a roaming SIM).

Negative rows (~60) carry unit or direction words but name no region ("the
county offices are closed", "le nord du pays"): expected country and admin-1
are empty.

Deterministic (fixed seed); Python 3.11 standard library only. The small
helpers are copied from make-geo-eval.py rather than imported so that this
set does not change when that script does.

    python3 scripts/make-region-eval.py /work/shared/data > eval/geo-regions-sms.tsv

An optional second argument changes the seed, for a held-out set. A summary
goes to standard error.
"""

import importlib.util
import random
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

# The same typo and accent noise as the town set: one definition, in
# make-geo-eval.py (a script name with hyphens, so loaded by path).
_spec = importlib.util.spec_from_file_location(
    "make_geo_eval", Path(__file__).with_name("make-geo-eval.py")
)
_geo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_geo)
strip_accents = _geo.strip_accents
typo = _geo.typo

SEED = 20251203
ROWS_PER_COUNTRY = (32, 38)
P_UNIT = 0.66  # a few regions never take a unit word; overall ~65 %
P_FOREIGN_SENDER = 0.05

# Country: calling code, (language, weight) of its SMS.
COUNTRIES = {
    "KE": ("254", [("en", 0.6), ("sw", 0.4)]),
    "NG": ("234", [("en", 1.0)]),
    "HT": ("509", [("fr", 1.0)]),
    "SO": ("252", [("so", 0.6), ("en", 0.4)]),
    "MZ": ("258", [("pt", 1.0)]),
    "CD": ("243", [("fr", 0.6), ("sw", 0.4)]),
    "CO": ("57", [("es", 1.0)]),
    "PH": ("63", [("en", 0.5), ("tl", 0.5)]),
    "ET": ("251", [("en", 1.0)]),
    "YE": ("967", [("ar", 1.0)]),
}

# Other countries a roaming SIM may come from.
ROAMING = {"UG": "256", "TZ": "255", "GB": "44", "FR": "33", "DE": "49"}

# English unit word written after the name, per country.
EN_UNIT = {"KE": "county", "NG": "state", "SO": "region", "ET": "region", "PH": "region"}

# Trailing generic words dropped for the short form, longest first.
GENERIC_TRAILING = [
    "Federal Capital Territory",
    "Capital Territory",
    "Capital District",
    "Governorate",
    "Department",
    "Province",
    "District",
    "Region",
    "State",
    "Area",
    "City",
    "D.C.",
]
GENERIC_LEADING = ["Muhafazat "]
# A form holding one of these words does not take a unit word.
GENERIC_WORDS = {w.lower() for w in "area district region province state city governorate department territory d.c. muhafazat".split()}

# Regions whose names do not take a unit word naturally (chartered cities,
# capital districts, names that already are one).
NO_UNIT = {"PH.NCR", "PH.14", "ET.44", "ET.48", "YE.26", "CO.34", "MZ.11"}

# Article class of a region's name in French ("m": du / dans le / au, "v":
# de l' / dans l', "f": de la / dans la, "pl": des / dans les, "0": de / à).
FR_GENDER = {
    "HT.03": "m", "HT.06": "v", "HT.09": "m", "HT.11": "v", "HT.12": "m",
    "HT.13": "m", "HT.14": "f", "HT.15": "pl",
    "CD.06": "0", "CD.08": "m", "CD.10": "m", "CD.11": "m", "CD.12": "m",
}
FR_DE = {"m": "du ", "v": "de l'", "f": "de la ", "pl": "des ", "0": "de "}
FR_DANS = {"m": "dans le ", "v": "dans l'", "f": "dans la ", "pl": "dans les ", "0": "à "}
FR_AU = {"m": "au ", "v": "en ", "f": "en ", "pl": "aux ", "0": "à "}
# Spanish: "m" takes "del" ("departamento del Cauca", "en el Cauca").
ES_MASC = {"CO.04", "CO.08", "CO.09", "CO.10", "CO.11", "CO.14", "CO.15", "CO.16", "CO.19",
           "CO.22", "CO.23", "CO.28", "CO.29", "CO.31", "CO.32", "CO.38"}
# Portuguese: "província da Zambézia", "no Niassa".
PT_GENDER = {"MZ.09": "f", "MZ.07": "m"}
PT_DE = {"m": "do ", "f": "da ", "0": "de "}
PT_EM = {"m": "no ", "f": "na ", "0": "em "}

# Templates. en, sw, so, tl and ar use one slot {r}, the region phrase
# (with or without its unit word). fr, es and pt use {in} (locative, with
# its preposition), {of} (genitive, with its preposition) and {r} (bare).
TEMPLATES = {
    "en": [
        "Cholera cases rising in {r}, we need ORS and chlorine tabs",
        "{r}: 60 households displaced after the river burst its banks",
        "Main road in {r} washed away, our trucks cannot pass",
        "no food distribution in {r} for 2 weeks pls escalate",
        "Measles confirmed in {r}, 14 children admitted since Friday",
        "Team reached {r} today, about 300 families need shelter",
        "Gunmen raided villages in {r} overnight, people fleeing on foot",
        "Drought in {r} getting worse, goats and cattle dying",
        "Urgent: all clinics in {r} out of malaria drugs",
        "pls send tarpaulins to {r}, many sleeping in the open",
        "Heavy rains in {r} since Sunday, 3 bridges down",
        "{r} update: water trucking needed, boreholes dry",
        "Hunger is serious in {r}, mothers skipping meals",
    ],
    "sw": [
        "Mafuriko makubwa {r}, familia 40 hazina mahali pa kulala",
        "Kipindupindu kimezuka {r}, watu 15 wamelazwa hospitalini",
        "Hakuna chakula {r} kwa siku 4, tafadhali tusaidieni",
        "Mvua kubwa {r} imeharibu barabara, magari hayapiti",
        "Wakimbizi wengi wamefika {r} usiku wa jana",
        "Surua imeenea {r}, watoto wanahitaji chanjo haraka",
        "{r}: maji ya kunywa yameisha, tunaomba msaada",
        "Ukame {r} umeua mifugo mingi mwezi huu",
        "Mapigano {r} yamefanya familia 50 kukimbia makwao",
        "Zahanati zote {r} hazina dawa za malaria",
    ],
    "so": [
        "Daad xoogan ayaa ku dhuftay {r}, qoysas badan ayaa barakacay",
        "Abaarta {r} way sii xumaanaysaa, xoolihii way dhimanayaan",
        "Shuban biyood ayaa ka dillaacay {r}, 9 qof ayaa dhintay",
        "{r}: cunto ma jirto 3 maalmood, fadlan na caawiya",
        "Jadeecada ayaa ku faaftay carruurta {r}",
        "Dagaal ayaa ka dhacay {r} xalay, dad badan ayaa cararay",
        "Waddooyinka {r} way go'an yihiin, gaadiid ma socdaan",
        "Biyo la'aan ayaa ka jirta {r}, ceelashii way engegeen",
        "Kooxdeenu waxay gaartay {r} maanta, 120 qoys ayaa u baahan hoy",
        "Fadlan dawo u soo dira isbitaalada {r}",
    ],
    "tl": [
        "Malakas na baha sa {r}, maraming pamilya ang lumikas",
        "Wala nang pagkain ang mga evacuees sa {r}, pakitulong po",
        "May kaso ng kolera sa {r}, 8 na ang naospital",
        "Sarado ang mga kalsada sa {r} dahil sa landslide",
        "{r}: 35 pamilya ang nawalan ng bahay dahil sa bagyo",
        "Kumakalat ang tigdas sa {r}, kailangan ng bakuna",
        "Kulang ang tubig na maiinom sa {r}, agad po sana",
        "Nagkaroon ng bakbakan sa {r}, lumikas ang mga residente",
        "Nawawala pa ang 4 na mangingisda sa {r}",
        "Update mula sa {r}: 12 bahay ang nasira ng lindol",
    ],
    "ar": [
        "siyul jarifa fi {r}, usar kathira bila ma'wa",
        "intishar al kolera fi {r}, 20 haala jadida al yawm",
        "la yujad ta'am fi {r} mundhu 5 ayyam, arju al musaada",
        "{r}: nuzuh 60 usra ba'd al ishtibakat",
        "al turuq fi {r} maqtu'a, al shahinat waqifa",
        "al hasba tantashir bayn al atfal fi {r}",
        "qasf 'ala {r} al sabah, wa mafqudin taht al anqad",
        "inqita' al miyah fi {r} mundhu usbu'",
        "min fadlakum irsalu khiyam ila {r}",
        "al mustashfayat fi {r} bila adwiya, al wad' sayyi'",
    ],
    "fr": [
        "Inondations {in}, plus de 200 maisons sous l'eau",
        "Cas de choléra en hausse {in}, besoin de chlore et de SRO",
        "Les routes {of} sont coupées depuis la pluie de mardi",
        "Svp envoyez des bâches {in}, 45 familles dorment dehors",
        "Rougeole confirmée {in}, 10 enfants hospitalisés",
        "Affrontements armés {in} hier soir, la population fuit",
        "Pas de distribution de vivres {in} depuis 3 semaines",
        "Les centres de santé {of} manquent de médicaments, urgent",
        "Sécheresse {in}, les récoltes sont perdues",
        "Notre équipe est arrivée {in}, 300 ménages à assister",
        "{r} : le pont principal a été emporté cette nuit",
        "Plus d'eau potable {in}, les puits sont à sec",
    ],
    "es": [
        "Inundaciones {in}, más de 80 familias damnificadas",
        "Combates entre grupos armados {in}, la gente está saliendo",
        "Derrumbes bloquean las vías {of} desde el martes",
        "x favor manden mercados {in}, 3 días sin comida",
        "Brote de sarampión {in}, 14 niños afectados",
        "Desplazamiento masivo {in}: 120 familias en el coliseo",
        "Los hospitales {of} no tienen insumos, urgente",
        "Sequía {in}, el ganado se está muriendo",
        "Creciente deja veredas incomunicadas {in}",
        "{r}: confinamiento de comunidades por los combates",
        "Casos de dengue en aumento {in}, no hay camas",
        "Sin agua potable {in} hace una semana",
    ],
    "pt": [
        "Cheias {in}, centenas de famílias desalojadas",
        "Surto de cólera {in}, 25 casos novos hoje",
        "Ataques de insurgentes {in}, a população foge para o mato",
        "As estradas {of} estão intransitáveis depois da chuva",
        "Precisamos de tendas {in}, 60 famílias ao relento",
        "Sarampo confirmado {in}, 9 crianças internadas",
        "Seca {in}: as machambas secaram e há fome",
        "O ciclone destruiu escolas e casas {in}",
        "{r}: centros de acomodação sem água potável",
        "Falta comida {in} há 5 dias, socorro",
        "Hospitais {of} sem medicamentos, pf enviem ajuda",
    ],
}

# Negative rows: unit or direction words, no region.
NEGATIVES = {
    "en": [
        "County health offices closed today, staff on strike",
        "No beds left at the state hospital, patients on the floor",
        "Road going north washed away, use the other route",
        "Provincial team came today with 2 boxes of vaccines",
        "Regional coordinator says trucks leave tomorrow",
        "We moved to the east side of the camp, water is better there",
        "County government promised food but nothing yet",
        "South of the river 20 houses flooded",
        "State officials visited the IDP camp, no help given",
        "Western part of town has no power since Monday",
        "The district commissioner wants a list of all families",
        "pls share the region wide cholera figures with our team",
        "Upper side of the village cut off by landslide",
        "Central market burnt down, traders lost everything",
    ],
    "sw": [
        "Ofisi za kaunti zimefungwa leo, hakuna huduma",
        "Barabara ya kuelekea kaskazini imekatika kabisa",
        "Serikali ya kaunti bado haijaleta chakula",
        "Upande wa mashariki wa kambi hakuna maji",
        "Mkoa mzima umekumbwa na ukame mwaka huu",
        "Watu wa kusini mwa mto wamehamia shuleni",
        "Afisa wa jimbo amefika kambini leo asubuhi",
    ],
    "fr": [
        "Le nord du pays est sans eau depuis une semaine",
        "La direction départementale de santé est fermée aujourd'hui",
        "La route vers le sud est coupée par la rivière",
        "L'équipe provinciale est arrivée avec les vaccins",
        "Côté ouest du camp, les latrines débordent",
        "Le bureau du département n'a pas reçu la liste des sinistrés",
        "Réunion au chef-lieu de la province demain à 9h",
        "Toute la région est privée d'électricité",
    ],
    "so": [
        "Xafiiska gobolka waa xiran yahay maanta",
        "Waddada waqooyi u socota way go'an tahay",
        "Gobolka oo dhan roob ma helin muddo 6 bilood ah",
        "Qoysaska koonfurta webiga ayaa u guuray dugsiga",
        "Qaybta bariga ee magaalada biyo ma leh",
        "Maamulka gobolka ayaa ballan qaaday cunto",
        "Dhinaca galbeed ee xerada dab ayaa ka kacay",
    ],
    "pt": [
        "A direção provincial de saúde está fechada hoje",
        "A estrada para o norte está cortada desde ontem",
        "O governo da província ainda não mandou ajuda",
        "Zona sul do bairro sem água há 3 dias",
        "A equipa provincial chegou com vacinas",
        "Toda a região centro está sem energia",
    ],
    "es": [
        "Toda la región sin luz desde anoche",
        "La gobernación del departamento no ha respondido",
        "La vía hacia el norte está cerrada por derrumbe",
        "Secretaría departamental de salud sin vacunas",
        "En el sur del municipio hay familias sin agua",
        "El comité departamental se reúne mañana a las 8",
        "Zona oriente del barrio inundada",
    ],
    "tl": [
        "Sarado ang opisina ng probinsya ngayon",
        "Hindi madaanan ang daan papuntang hilaga",
        "Wala pang tulong galing sa rehiyon",
        "Sa timog na bahagi ng bayan walang kuryente",
        "Dumating na ang team ng lalawigan kaninang umaga",
        "Buong rehiyon ay binaha, hintay kami ng update",
    ],
    "ar": [
        "maktab al muhafaza mughlaq al yawm",
        "al tariq ila al shamal maqtu'",
        "al muhafiz wa'ad bi musaada lakin la shay'",
        "janub al madina bila kahraba mundhu ams",
        "al jiha al sharqiya min al mukhayyam bila miyah",
        "kull al muhafaza bila wuqud",
    ],
}
# Countries whose numbers send the negatives of a language.
NEGATIVE_SENDERS = {
    "en": ["KE", "NG", "SO", "PH", "ET"],
    "sw": ["KE", "CD"],
    "fr": ["HT", "CD"],
    "so": ["SO"],
    "pt": ["MZ"],
    "es": ["CO"],
    "tl": ["PH"],
    "ar": ["YE"],
}




def has_latin_letter(s):
    return any(c.isalpha() and (ord(c) < 0x250 or 0x1E00 <= ord(c) <= 0x1EFF) for c in s)




def case_noise(rng, sms):
    r = rng.random()
    if r < 0.40:
        return sms.lower()
    if r < 0.50:
        return sms.upper()
    return sms


def phone(rng, code):
    return "+" + code + "".join(rng.choice("0123456789") for _ in range(12 - len(code)))


def sender(rng, country):
    if rng.random() < P_FOREIGN_SENDER:
        others = sorted(c for c in COUNTRIES if c != country) + sorted(ROAMING)
        other = rng.choice(others)
        return phone(rng, COUNTRIES[other][0] if other in COUNTRIES else ROAMING[other]), True
    return phone(rng, COUNTRIES[country][0]), False


def fold(s):
    return " ".join(strip_accents(s).lower().replace("-", " ").split())


def short_forms(name):
    forms = []
    for lead in GENERIC_LEADING:
        if name.startswith(lead) and len(name) > len(lead) + 2:
            forms.append(name[len(lead) :])
    for word in GENERIC_TRAILING:
        if name.endswith(" " + word):
            short = name[: -len(word) - 1].rstrip(" ,")
            if sum(c.isalpha() for c in short) >= 3:
                forms.append(short)
            break
    return forms


def takes_unit(form):
    return not any(w.lower() in GENERIC_WORDS for w in form.replace(",", " ").split())


def load_regions(data):
    """Usable regions per country: (code, [names]) with no name shared."""
    raw = defaultdict(list)
    with open(data / "geonames" / "admin1CodesASCII.txt", encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            country = cols[0].split(".")[0]
            if country in COUNTRIES:
                raw[country].append((cols[0], cols[1], cols[2]))
    regions, skipped = {}, defaultdict(list)
    for country, rows in raw.items():
        names = {}
        for code, name, ascii_name in rows:
            forms = []
            for n in (name, ascii_name, *short_forms(name), *short_forms(ascii_name)):
                if n and has_latin_letter(n) and n not in forms:
                    forms.append(n)
            names[code] = forms
        # A full name shared by two codes is dropped for both; a short form
        # is dropped when any other code has it as a full or short name
        # ("Maputo" stays MZ.04's, and is not a short form of Maputo City).
        full_owners, all_owners = defaultdict(set), defaultdict(set)
        for code, name, ascii_name in rows:
            for n in (name, ascii_name):
                full_owners[fold(n)].add(code)
        for code, forms in names.items():
            for n in forms:
                all_owners[fold(n)].add(code)
        full = {code: {fold(name), fold(ascii_name)} for code, name, ascii_name in rows}
        usable = []
        for code, forms in sorted(names.items()):
            kept = [
                n
                for n in forms
                if (len(full_owners[fold(n)]) == 1 if fold(n) in full[code] else len(all_owners[fold(n)]) == 1)
            ]
            if kept:
                usable.append((code, kept))
            else:
                skipped[country].append(code)
        regions[country] = usable
    return regions, skipped


def noisy_name(rng, form):
    if sum(c.isalpha() for c in form) >= 7 and rng.random() < 0.15:
        return typo(rng, form)
    return form


def phrases(rng, country, lang, code, name, unit):
    """Slots {r}, {in}, {of} for a template of `lang`."""
    if lang == "en":
        if unit:
            word = EN_UNIT[country]
            word = word.capitalize() if rng.random() < 0.5 else word
            return {"r": f"{name} {word}"}
        return {"r": name}
    if lang == "sw":
        if unit:
            if country == "CD":
                pre = "jimbo la" if rng.random() < 0.7 else "province ya"
            else:
                pre = "kaunti ya" if rng.random() < 0.8 else "county ya"
            return {"r": f"{pre} {name}"}
        return {"r": name}
    if lang == "so":
        return {"r": f"gobolka {name}" if unit else name}
    if lang == "tl":
        return {"r": f"rehiyon ng {name}" if unit else name}
    if lang == "ar":
        return {"r": f"muhafazat {name}" if unit else name}
    if lang == "fr":
        g = FR_GENDER.get(code, "0")
        de = FR_DE[g] + name
        if unit:
            if country == "HT":
                return {"r": f"département {de}", "in": f"dans le département {de}", "of": f"du département {de}"}
            return {"r": f"province {de}", "in": f"dans la province {de}", "of": f"de la province {de}"}
        where = FR_DANS if country == "HT" else FR_AU
        return {"r": name, "in": where[g] + name, "of": de}
    if lang == "es":
        masc = code in ES_MASC
        de = ("del " if masc else "de ") + name
        if unit:
            return {"r": f"departamento {de}", "in": f"en el departamento {de}", "of": f"del departamento {de}"}
        en = ("en el " if masc and rng.random() < 0.6 else "en ") + name
        return {"r": name, "in": en, "of": de}
    if lang == "pt":
        g = PT_GENDER.get(code, "0")
        de = PT_DE[g] + name
        if unit:
            return {"r": f"província {de}", "in": f"na província {de}", "of": f"da província {de}"}
        return {"r": name, "in": PT_EM[g] + name, "of": de}
    raise ValueError(lang)


class Cycler:
    """Templates of a language in a shuffled order, reshuffled when used up."""

    def __init__(self, rng, items):
        self.rng, self.items, self.queue = rng, list(items), []

    def next(self):
        if not self.queue:
            self.queue = self.items[:]
            self.rng.shuffle(self.queue)
        return self.queue.pop()


def finish(rng, sms):
    sms = sms[0].upper() + sms[1:]
    if rng.random() < 0.5:
        sms = strip_accents(sms)
    return case_noise(rng, sms)


def main():
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data")
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else SEED)
    regions, skipped = load_regions(data)
    cyclers = {lang: Cycler(rng, t) for lang, t in TEMPLATES.items()}
    out = ["sender\ttext\texpected_country\texpected_admin1\texpected_geonameid\tlanguage"]
    stats = {k: Counter() for k in ("country", "lang", "unit", "country_unit", "foreign", "regions")}
    seen = set()
    for country in COUNTRIES:
        usable = regions[country]
        n = rng.randint(*ROWS_PER_COUNTRY)
        order = []
        while len(order) < n:
            batch = usable[:]
            rng.shuffle(batch)
            order += batch
        langs, weights = zip(*COUNTRIES[country][1])
        for code, forms in order[:n]:
            for _ in range(20):  # draw again when the text is already in the set
                lang = rng.choices(langs, weights)[0]
                unit_forms = [f for f in forms if takes_unit(f)]
                unit = code not in NO_UNIT and bool(unit_forms) and rng.random() < P_UNIT
                form = rng.choice(unit_forms if unit else forms)
                name = noisy_name(rng, form)
                sms = cyclers[lang].next().format_map(phrases(rng, country, lang, code, name, unit))
                sms = finish(rng, sms)
                if sms.lower() not in seen:
                    break
            seen.add(sms.lower())
            number, foreign = sender(rng, country)
            assert "\t" not in sms and "\n" not in sms
            out.append(f"{number}\t{sms}\t{country}\t{code}\t\t{lang}")
            stats["country"][country] += 1
            stats["lang"][lang] += 1
            stats["unit"]["with unit word" if unit else "bare"] += 1
            stats["country_unit"][country] += unit
            stats["foreign"][country] += foreign
            stats["regions"][code] += 1
    negatives = 0
    for lang, sentences in NEGATIVES.items():
        for sms in sentences:
            country = rng.choice(NEGATIVE_SENDERS[lang])
            number, _ = sender(rng, country)
            out.append(f"{number}\t{finish(rng, sms)}\t\t\t\t{lang}")
            negatives += 1
            stats["lang"][lang + " (negative)"] += 1
    sys.stdout.write("\n".join(out) + "\n")

    err = sys.stderr
    positives = sum(stats["country"].values())
    print(f"{positives} region rows, {negatives} negative rows", file=err)
    print("per country (rows, with unit word, foreign sender, regions used/usable, skipped codes):", file=err)
    for country in COUNTRIES:
        used = len({c for c in stats["regions"] if c.startswith(country + ".")})
        print(
            f"  {country}: {stats['country'][country]:3d} rows, {stats['country_unit'][country]:2d} with unit, "
            f"{stats['foreign'][country]} foreign, regions {used}/{len(regions[country])}, "
            f"skipped {' '.join(skipped[country]) or '-'}",
            file=err,
        )
    print("per language: " + ", ".join(f"{k} {v}" for k, v in sorted(stats["lang"].items())), file=err)
    u = stats["unit"]
    print(
        f"unit word: {u['with unit word']} with ({100 * u['with unit word'] / positives:.0f} %), {u['bare']} bare",
        file=err,
    )


if __name__ == "__main__":
    main()
