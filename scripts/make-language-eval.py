#!/usr/bin/env python3
"""Builds eval/language-sms.tsv: short crisis SMS labelled by language
(ISO 639-1: en, fr, es, pt, ar, sw, so, tl).

Each row is the kind of message field staff or people in a crisis send: 4-20
words, abbreviations ("pls", "svp", "x favor", "pf", "po"), numbers ("40
families", "3 dead"), codes ("CHW-04", "ward 7", "ref 22B") and usually one
or two real towns of the sender's country (GeoNames cities1000.txt, 5,000+
people, name or ASCII name, a typo in ~20 % of names of 6+ letters). Town
names that look like another language are the point: English from the
Philippines or Somalia naming Tagalog- or Somali-looking towns, Spanish from
Colombia beside Portuguese from Mozambique. Arabic rows are in Arabic
script; their towns are the Arabic-script alternate name of GeoNames half
the time when there is one, else the Latin name, as people mix them.

Home country per language: en from KE, NG, PH, SO, UG, BD; fr from HT, CD;
es from CO; pt from MZ; ar from YE, SY; sw from KE (some CD, UG); so from
SO; tl from PH. The sender is a number of the home country, except ~8 % a
number of a country that does not speak the language (an aid worker's
foreign SIM; the towns stay those of the home country) and ~5 % no sender.
Noise: ~30 % of texts lower case; accents dropped from ~40 % of French,
Spanish and Portuguese texts, as phones without accented keys send them.

Templates are written for this set (18 per language), not taken from
make-geo-eval.py or the language identification corpus.

Deterministic (fixed seed); Python 3.11 standard library only.

    python3 scripts/make-language-eval.py /work/shared/data > eval/language-sms.tsv

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

SEED = 20251204
MIN_POPULATION = 5000
ROWS = {"en": 120, "fr": 120, "es": 120, "pt": 120, "ar": 100, "sw": 120, "so": 120, "tl": 120}
P_FOREIGN_SENDER = 0.08
P_NO_SENDER = 0.05
P_LOWER = 0.30
P_TYPO = 0.20
P_STRIP_ACCENTS = 0.40  # fr, es, pt
P_ARABIC_NAME = 0.5
P_ARABIC_DIGITS = 0.25

# Home countries of each language's senders, with weights.
HOMES = {
    "en": [("KE", 1), ("NG", 1), ("PH", 1), ("SO", 1), ("UG", 1), ("BD", 1)],
    "fr": [("HT", 1), ("CD", 1)],
    "es": [("CO", 1)],
    "pt": [("MZ", 1)],
    "ar": [("YE", 1), ("SY", 1)],
    "sw": [("KE", 0.7), ("CD", 0.15), ("UG", 0.15)],
    "so": [("SO", 1)],
    "tl": [("PH", 1)],
}

# Calling code and the languages (of the eight) spoken there, for picking
# a foreign SIM whose country does not speak the SMS's language.
PHONES = {
    "KE": ("254", {"en", "sw"}),
    "UG": ("256", {"en", "sw"}),
    "NG": ("234", {"en"}),
    "PH": ("63", {"en", "tl"}),
    "SO": ("252", {"so", "ar", "en"}),
    "BD": ("880", {"en"}),
    "HT": ("509", {"fr"}),
    "CD": ("243", {"fr", "sw"}),
    "CO": ("57", {"es"}),
    "MZ": ("258", {"pt"}),
    "YE": ("967", {"ar"}),
    "SY": ("963", {"ar", "fr"}),
    "GB": ("44", {"en"}),
    "FR": ("33", {"fr"}),
    "DE": ("49", set()),
    "NO": ("47", set()),
    "IT": ("39", set()),
    "ES": ("34", {"es"}),
    "IN": ("91", {"en"}),
}

# Slots: {p}, {q} two different towns; {n} 5-90; {m} 2-15; {c} two-digit code.
TEMPLATES = {
    "en": [
        "Floods hit {p} last night, {n} families need shelter pls",
        "CHW-{c} reports {m} cholera cases in {p}, need ORS urgently",
        "Road {p} to {q} cut by landslide, trucks stuck since 2 days",
        "3 dead, {n} injured after fire at {p} market. send help",
        "pls confirm if food convoy left {p}? ppl in {q} have nothing",
        "Measles in {p} ward {m}, kids not vaccinated, need team asap",
        "Armed men attacked {p} at dawn, {n} HH fled to {q}",
        "No clean water in {p} since Monday, borehole broken",
        "{m} fishermen from {p} missing since the storm. any news?",
        "IDPs arriving in {p} from {q}, approx {n} people, no tents",
        "Ref {c}B: clinic at {p} out of malaria drugs",
        "Water rising fast near {p} bridge, pls evacuate the school",
        "We are {n} ppl stranded at {p} junction, no food no water",
        "Update from {p}: rains stopped but {m} houses collapsed",
        "Need body bags and lime in {p}, cholera deaths now {m}",
        "Heavy fighting near {p} again, NGO staff moved to {q}",
        "kindly send a team to {p}, many kids with diarrhoea and fever",
        "Any news of the boy missing from {p}? family still waiting",
    ],
    "fr": [
        "Inondation à {p} cette nuit, {n} familles sans abri svp aidez",
        "ASC-{c} : {m} cas de choléra à {p}, on manque de SRO",
        "La route {p}-{q} est coupée, les camions bloqués depuis 2 jours",
        "3 morts et {n} blessés dans l'incendie du marché de {p}",
        "Svp le convoi est-il parti de {p}? rien reçu à {q}",
        "Rougeole à {p}, beaucoup d'enfants non vaccinés, envoyez une équipe",
        "Des hommes armés ont attaqué {p}, {n} ménages ont fui vers {q}",
        "Pas d'eau potable à {p} depuis lundi, le forage est en panne",
        "{m} pêcheurs de {p} disparus depuis la tempête, aucune nouvelle",
        "Les déplacés arrivent à {p} en provenance de {q}, environ {n} personnes",
        "Réf {c}B : le centre de santé de {p} n'a plus de médicaments",
        "L'eau monte vite près du pont de {p}, évacuez l'école svp",
        "Nous sommes {n} bloqués à {p}, ni nourriture ni eau",
        "Éboulement sur la colline de {p}, {m} maisons détruites",
        "Tirs entendus à {p} ce matin, le personnel ONG replié à {q}",
        "Merci d'envoyer une équipe à {p}, beaucoup d'enfants avec diarrhée",
        "Toujours sans nouvelles des {m} élèves disparus à {p}",
        "Besoin urgent de bâches et kits d'hygiène à {p}, {n} ménages",
    ],
    "es": [
        "Se desbordó el río en {p}, {n} familias damnificadas, x favor ayuda",
        "Enfrentamientos cerca de {p}, la gente se está desplazando hacia {q}",
        "Vía {p} - {q} cerrada por derrumbe desde hace 2 días",
        "Incendio en un barrio de {p}, {m} casas quemadas y 3 heridos",
        "porfa confirmen si salió el camión de mercados de {p}, a {q} no ha llegado nada",
        "Brote de sarampión en {p}, {m} niños sin vacuna, urge brigada",
        "{n} familias desplazadas llegaron a {p} anoche, sin albergue",
        "Sin agua potable en {p} desde el lunes, el acueducto está dañado",
        "Desaparecidos {m} pescadores de {p} desde la creciente",
        "Confinamiento en veredas de {p}, la comunidad no puede salir por minas",
        "Ref {c}B: el puesto de salud de {p} no tiene sueros",
        "Creciente súbita en {p}, x favor evacuar la escuela ya",
        "Somos {n} personas atrapadas en {p}, sin comida ni agua",
        "Reporte {p}: paró la lluvia pero {m} viviendas colapsadas",
        "Casos de dengue en aumento en {p}, el hospital está lleno",
        "Amenazas a líderes en {p}, {m} familias salieron hacia {q}",
        "Necesitamos kits de aseo y colchonetas en {p} urgente",
        "Se cayó el puente entre {p} y {q}, los niños no pueden ir a la escuela",
    ],
    "pt": [
        "Cheias em {p} esta noite, {n} famílias sem abrigo, pf ajudem",
        "APE-{c}: {m} casos de cólera em {p}, falta SRO",
        "Estrada {p}-{q} cortada, camiões parados há 2 dias",
        "3 mortos e {n} feridos no incêndio do mercado de {p}",
        "pf confirmem se a coluna saiu de {p}? nada chegou a {q}",
        "Sarampo em {p}, muitas crianças sem vacina, mandem equipa",
        "Insurgentes atacaram {p} de madrugada, {n} famílias fugiram para {q}",
        "Sem água potável em {p} desde segunda, o furo avariou",
        "{m} pescadores de {p} desaparecidos desde o ciclone",
        "Deslocados a chegar a {p} vindos de {q}, cerca de {n} pessoas",
        "Ref {c}B: o centro de saúde de {p} está sem medicamentos",
        "A água está a subir perto da ponte de {p}, evacuem a escola",
        "Somos {n} pessoas isoladas em {p}, sem comida nem água",
        "Ponto de situação {p}: parou de chover mas {m} casas caíram",
        "Fome em {p}, as machambas secaram e não há milho",
        "Precisamos de lonas e baldes em {p}, {n} agregados familiares",
        "Ainda sem notícias da criança desaparecida em {p}",
        "Centro de acomodação de {p} cheio, pessoas a dormir ao relento",
    ],
    "sw": [
        "Mafuriko yamefika {p} usiku, familia {n} hazina makao tafadhali saidieni",
        "CHV-{c}: wagonjwa {m} wa kipindupindu {p}, hatuna ORS",
        "Barabara ya {p} kwenda {q} imekatika, malori yamekwama siku 2",
        "Watu 3 wamekufa na {n} wamejeruhiwa moto ulipoteketeza soko la {p}",
        "tafadhali thibitisha kama gari la chakula limeondoka {p}, huku {q} hatuna kitu",
        "Surua imezuka {p}, watoto wengi hawajachanjwa",
        "Watu wenye silaha wameshambulia {p} alfajiri, familia {n} zimekimbilia {q}",
        "Hakuna maji safi {p} tangu Jumatatu, kisima kimeharibika",
        "Wavuvi {m} wa {p} hawajarudi tangu dhoruba, tunaomba msaada wa kuwatafuta",
        "Wakimbizi wa ndani wanawasili {p} kutoka {q}, takriban watu {n}",
        "Kumb. {c}B: zahanati ya {p} imeishiwa dawa za malaria",
        "Maji yanapanda haraka karibu na daraja la {p}, ondoeni wanafunzi shuleni",
        "Tuko watu {n} tumekwama {p}, hatuna chakula wala maji",
        "Habari kutoka {p}: mvua imekoma lakini nyumba {m} zimeanguka",
        "Njaa imezidi {p}, mifugo inakufa kwa ukame",
        "Mapigano yamezuka tena karibu na {p}, wafanyakazi wamehamia {q}",
        "Mtoto aliyepotea {p} bado hajapatikana, wazazi wanaomba msaada",
        "Tunahitaji mablanketi na vyandarua {p}, kaya {n}",
    ],
    "so": [
        "Daad ayaa galay {p} xalay, {n} qoys ayaa hoy la'aan ah, fadlan caawiya",
        "CHW-{c}: {m} xaaladood oo daacuun ah ayaa laga helay {p}, ORS ma jiro",
        "Waddada {p} iyo {q} way go'an tahay, gaadiidku 2 maalmood ayay xayiran yihiin",
        "3 qof ayaa dhintay {n} kalena way dhaawacmeen dabkii suuqa {p}",
        "fadlan xaqiiji in gaariga cuntada uu ka dhaqaaqay {p}, {q} waxba ma gaarin",
        "Jadeeco ayaa ka dillaacday {p}, carruur badan lama tallaalin",
        "Rag hubeysan ayaa weeraray {p} waaberigii, {n} qoys ayaa u cararay {q}",
        "Biyo nadiif ah ma jiraan {p} tan iyo Isniintii, ceelkii wuu xumaaday",
        "{m} kalluumeysato ah oo ka yimid {p} ayaa maqan tan iyo duufaanta",
        "Barakacayaal ayaa soo gaaraya {p} iyagoo ka yimid {q}, qiyaastii {n} qof",
        "Ref {c}B: xarunta caafimaadka {p} dawooyinkii way ka dhammaadeen",
        "Biyuhu si degdeg ah ayay u kacayaan buundada {p} agteeda, ardayda ka saara dugsiga",
        "Waxaan nahay {n} qof oo ku xayiran {p}, cunto iyo biyo midna ma haysano",
        "Warbixin {p}: roobkii wuu joogsaday laakiin {m} guri ayaa dumay",
        "Abaartu way sii xumaatay {p}, xoolihii way le'anayaan",
        "Dagaal ayaa mar kale ka qarxay {p} agteeda, shaqaalihii waxay u guureen {q}",
        "Wiilkii ka lumay {p} weli lama helin, qoyskiisa ayaa codsanaya caawimo",
        "Waxaan u baahanahay buste iyo gogol {p}, {n} qoys",
    ],
    "tl": [
        "Binaha ang {p} kagabi, {n} pamilya walang matirhan, pakitulungan po",
        "BHW-{c}: {m} kaso ng kolera sa {p}, kulang ang ORS",
        "Sarado ang daan mula {p} papuntang {q} dahil sa landslide, 2 araw na",
        "3 patay at {n} sugatan sa sunog sa palengke ng {p}",
        "pa-confirm po kung umalis na ang relief truck sa {p}, wala pang dumating sa {q}",
        "May tigdas sa {p}, maraming bata ang hindi pa nabakunahan",
        "Nilusob ng armadong grupo ang {p} madaling-araw, {n} pamilya tumakas papuntang {q}",
        "Walang malinis na tubig sa {p} simula Lunes, sira ang poso",
        "Nawawala pa ang {m} mangingisda mula {p} simula nung bagyo",
        "Dumarating ang mga bakwit sa {p} galing {q}, mga {n} katao",
        "Ref {c}B: ubos na ang gamot sa health center ng {p}",
        "Mabilis tumataas ang tubig malapit sa tulay ng {p}, ilikas ang mga bata sa eskwela",
        "{n} kami dito sa {p}, walang pagkain at walang tubig",
        "Update sa {p}: tumigil na ang ulan pero {m} bahay ang gumuho",
        "Gutom na ang mga tao sa evacuation center ng {p}, ubos na ang bigas",
        "May bakbakan ulit malapit sa {p}, lumipat ang staff sa {q}",
        "Hindi pa rin nakikita ang batang nawala sa {p}, tulong po",
        "Kailangan ng kumot at banig sa {p}, {n} pamilya",
    ],
    "ar": [
        "سيول جرفت منازل في {p} الليلة، {n} عائلة بلا مأوى، ساعدونا",
        "{m} حالات كوليرا في {p}، لا يوجد محلول إرواء",
        "الطريق بين {p} و{q} مقطوع منذ يومين، الشاحنات عالقة",
        "3 قتلى و{n} جرحى في حريق سوق {p}",
        "ارجو التأكد هل خرجت قافلة الغذاء من {p}؟ لم يصل شيء إلى {q}",
        "انتشار الحصبة في {p}، أطفال كثيرون غير مطعمين",
        "مسلحون هاجموا {p} فجرا، {n} أسرة نزحت إلى {q}",
        "لا توجد مياه نظيفة في {p} منذ الاثنين، البئر معطلة",
        "{m} صيادين من {p} مفقودين منذ العاصفة",
        "نازحون يصلون إلى {p} قادمين من {q}، حوالي {n} شخص",
        "مرجع {c}B: المركز الصحي في {p} بدون أدوية",
        "المياه ترتفع بسرعة قرب جسر {p}، أخلوا المدرسة",
        "نحن {n} شخص محاصرون في {p} بلا طعام ولا ماء",
        "تحديث من {p}: توقف المطر لكن {m} بيوت انهارت",
        "قصف على {p} صباح اليوم، والفرق انتقلت إلى {q}",
        "الطفل المفقود في {p} لم يعثر عليه بعد، الأهل ينتظرون",
        "نحتاج بطانيات وخيام في {p} بشكل عاجل، {n} أسرة",
        "انقطاع الكهرباء والماء في {p} منذ أسبوع، المستشفى يعمل بالمولد",
    ],
}

# Letters of Persian, Urdu and other languages written in Arabic script:
# an alternate name holding one is not taken as an Arabic one.
NON_ARABIC_LETTERS = set("پچژگکیۀہھےٹڈڑںۃۓڤ")
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")




def is_latin(s):
    return all(not c.isalpha() or ord(c) < 0x250 or 0x1E00 <= ord(c) <= 0x1EFF for c in s)


def is_arabic_name(s):
    return (
        any(c.isalpha() for c in s)
        and all(c == " " or 0x0621 <= ord(c) <= 0x064A or 0x064B <= ord(c) <= 0x0652 for c in s)
        and not NON_ARABIC_LETTERS & set(s)
    )




def phone(rng, country):
    code = PHONES[country][0]
    return "+" + code + "".join(rng.choice("0123456789") for _ in range(12 - len(code)))


def load_towns(data, countries):
    towns = defaultdict(list)
    with open(data / "geonames" / "cities1000.txt", encoding="utf-8") as f:
        for line in f:
            row = line.rstrip("\n").split("\t")
            if row[8] in countries and int(row[14] or 0) >= MIN_POPULATION:
                arabic = [a for a in row[3].split(",") if is_arabic_name(a)]
                towns[row[8]].append((int(row[0]), row[1], row[2], arabic[0] if arabic else ""))
    for rows in towns.values():
        rows.sort()
    return towns


def town_name(rng, town, lang):
    _, name, ascii_name, arabic = town
    if lang == "ar" and arabic and rng.random() < P_ARABIC_NAME:
        return arabic
    text = name if rng.random() < 0.5 else ascii_name
    if not is_latin(text):
        text = ascii_name
    if sum(c.isalpha() for c in text) >= 6 and rng.random() < P_TYPO:
        text = typo(rng, text)
    return text


class Cycler:
    """Templates of a language in a shuffled order, reshuffled when used up."""

    def __init__(self, rng, items):
        self.rng, self.items, self.queue = rng, list(items), []

    def next(self):
        if not self.queue:
            self.queue = self.items[:]
            self.rng.shuffle(self.queue)
        return self.queue.pop()


def sender(rng, lang, home):
    """(number, country of the number or '' when there is none)."""
    r = rng.random()
    if r < P_NO_SENDER:
        return "", ""
    if r < P_NO_SENDER + P_FOREIGN_SENDER:
        foreign = sorted(c for c, (_, langs) in PHONES.items() if lang not in langs)
        country = rng.choice(foreign)
        return phone(rng, country), country
    return phone(rng, home), home


def main():
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data")
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else SEED)
    homes = {c for pairs in HOMES.values() for c, _ in pairs}
    towns = load_towns(data, homes)
    out = ["sender\ttext\texpected_language"]
    per_lang, per_sender, per_lang_sender = Counter(), Counter(), defaultdict(Counter)
    foreign_rows, words = Counter(), []
    seen = set()
    for lang, count in ROWS.items():
        cycler = Cycler(rng, TEMPLATES[lang])
        countries, weights = zip(*HOMES[lang])
        for _ in range(count):
            for _ in range(20):  # draw again when the text is already in the set
                home = rng.choices(countries, weights)[0]
                p, q = rng.sample(towns[home], 2)
                slots = {
                    "p": town_name(rng, p, lang),
                    "q": town_name(rng, q, lang),
                    "n": str(rng.randint(5, 90)),
                    "m": str(rng.randint(2, 15)),
                    "c": f"{rng.randint(1, 40):02d}",
                }
                if lang == "ar" and rng.random() < P_ARABIC_DIGITS:
                    slots["n"] = slots["n"].translate(ARABIC_DIGITS)
                    slots["m"] = slots["m"].translate(ARABIC_DIGITS)
                sms = cycler.next().format_map(slots)
                if lang in ("fr", "es", "pt") and rng.random() < P_STRIP_ACCENTS:
                    sms = strip_accents(sms)
                if rng.random() < P_LOWER:
                    sms = sms.lower()
                if sms.lower() not in seen:
                    break
            seen.add(sms.lower())
            assert "\t" not in sms and "\n" not in sms
            number, country = sender(rng, lang, home)
            out.append(f"{number}\t{sms}\t{lang}")
            words.append(len(sms.split()))
            per_lang[lang] += 1
            per_sender[country or "(none)"] += 1
            per_lang_sender[lang][country or "(none)"] += 1
            foreign_rows[lang] += bool(country) and country != home
    sys.stdout.write("\n".join(out) + "\n")

    err = sys.stderr
    total = sum(per_lang.values())
    print(f"{total} rows, {min(words)}-{max(words)} words (mean {sum(words) / len(words):.1f})", file=err)
    print("per language (rows: sender countries; foreign SIM rows):", file=err)
    for lang in ROWS:
        senders = ", ".join(f"{c} {n}" for c, n in per_lang_sender[lang].most_common())
        print(f"  {lang}: {per_lang[lang]:3d}: {senders}; foreign {foreign_rows[lang]}", file=err)
    print("per sender country: " + ", ".join(f"{c} {n}" for c, n in sorted(per_sender.items())), file=err)


if __name__ == "__main__":
    main()
