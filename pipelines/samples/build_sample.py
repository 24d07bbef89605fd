"""Builds ``sample.jsonl``, the small corpus the demo and the tests run on.

Every text here was written for Winnow and is released with the project (Apache-2.0); all names,
e-mail addresses, phone numbers and card numbers are invented. The corpus plants what each stage
should find: exact and near duplicates, PII, low-quality pages, several languages, identity
mentions, and malformed lines that must end in the quarantine.

Run ``python -m pipelines.samples.build_sample`` to rebuild the file after editing.
"""

import json
import os

ARTICLES = [
    ("garden", "Growing tomatoes on a small balcony is easier than most people expect. Choose a "
     "container that holds at least twenty litres of soil, because the roots need room and the "
     "pot must not dry out on a hot afternoon. Cherry varieties are the most forgiving: they ripen "
     "early, they tolerate wind, and a single plant can give several kilograms of fruit over the "
     "summer. Water in the morning rather than the evening, feed the plant every two weeks once the "
     "first flowers appear, and pinch out the side shoots so that the energy goes into the fruit. "
     "By August you will wonder why you ever bought tomatoes in plastic boxes."),
    ("bridge", "The old stone bridge at the edge of the town was built in the fourteenth century, "
     "when the river was the main road for timber and salt. Its seven arches are not all the same "
     "width, which puzzled engineers for a long time. A survey carried out in the last century "
     "showed that the builders had placed each pier on the firmest patch of gravel they could find, "
     "and adjusted the arches to match. The bridge has survived floods, ice and a great deal of "
     "traffic. Today only pedestrians and cyclists may cross it, and in the summer the town holds "
     "a small market on its wide central span."),
    ("bread", "A good loaf of bread needs only four ingredients: flour, water, salt and yeast. The "
     "difference between an ordinary loaf and an excellent one lies in time. When the dough rests "
     "slowly in a cool place, the yeast and the bacteria in the flour have time to develop flavour, "
     "and the gluten relaxes so that the crumb becomes open and light. Many home bakers now leave "
     "their dough in the refrigerator overnight and bake it the next morning. The crust turns deep "
     "brown, the kitchen smells wonderful, and the bread keeps fresh for several days without any "
     "additives at all."),
    ("comet", "Astronomers announced this week that a faint comet discovered in the spring will pass "
     "closest to the Sun in early December. It is not expected to become bright enough to see with "
     "the naked eye, but a pair of binoculars and a dark sky away from city lights should show it "
     "as a small fuzzy patch low in the western sky after sunset. The comet probably comes from the "
     "distant cloud of icy bodies that surrounds the solar system, and this may be its first visit "
     "to the inner planets. Observers are asked to report their sightings to help refine its orbit."),
    ("library", "The public library reopened on Monday after eight months of renovation. The new "
     "reading room has tall windows facing the park, long oak tables, and enough power sockets for "
     "everyone who brings a laptop. The children's section moved to the ground floor so that "
     "parents with prams no longer need the lift, and a quiet study area was added on the top floor. "
     "The library also extended its opening hours on weekdays until eight in the evening. Staff said "
     "that more than two thousand people visited on the first day, many of them borrowing books for "
     "the first time in years."),
    ("bees", "Honey bees communicate the location of flowers through a movement known as the waggle "
     "dance. A forager that has found a rich source of nectar returns to the hive and runs in a "
     "figure of eight on the vertical surface of the comb. The angle of the straight part of the "
     "dance relative to the vertical shows the direction of the food relative to the Sun, and the "
     "length of the waggle tells the distance. Other bees follow the dancer closely, learn the "
     "message, and fly out to the same field. The discovery of this language earned a Nobel Prize "
     "and still fascinates biologists today."),
    ("cycling", "Cycling to work has become much more popular in our city since the council opened "
     "a network of protected bike lanes along the main avenues. Surveys show that the number of "
     "daily bicycle trips has doubled in three years, and the share of women riding has grown even "
     "faster. Shop owners were worried at first that removing parking spaces would hurt their "
     "business, but most now report that their sales are stable or higher, because people on bikes "
     "stop more often and spend money locally. The next phase of the plan will connect the "
     "university and the train station."),
    ("chess", "Chess has enjoyed a remarkable revival over the past few years. Online platforms "
     "make it possible to find an opponent at any hour, and streaming channels turned strong "
     "players into popular entertainers. Schools have noticed the trend as well: many now run "
     "chess clubs after lessons, and teachers say the game helps pupils practise patience and "
     "careful planning. Beginners are often advised to learn a few simple principles rather than "
     "memorise long opening lines: control the centre, develop the pieces quickly, keep the king "
     "safe, and think about what the opponent wants to do next."),
    ("festival", "The annual folk festival drew musicians from more than twenty countries this "
     "year. Over three days the square in front of the cathedral hosted fiddlers from Ireland, "
     "singers from Georgia, a brass band from Serbia and a group of young drummers from Ghana. "
     "Organisers said the festival aims to show how much traditional music from different places "
     "has in common. Older residents, young families and visiting students danced side by side "
     "until late at night. The festival is free and funded by local businesses and volunteers, "
     "who also cooked food from many of the visiting countries."),
    ("clinic", "The new community clinic offers free health checks for older people every Tuesday "
     "and Thursday morning. Nurses measure blood pressure, check medication lists and talk with "
     "patients about diet, exercise and sleep. The clinic was founded by a group of retired doctors "
     "and is run almost entirely by volunteers. Its director said that many elderly residents live "
     "alone and postpone visits to their doctor, so a friendly place close to home can catch "
     "problems early. Transport is provided for people with disabilities who cannot travel on "
     "their own."),
    ("mosque", "Members of the local mosque, the church and the synagogue organised a joint food "
     "drive during the winter months. Volunteers from all three communities collected tinned food, "
     "warm clothes and blankets, and delivered them to families who had asked the city for help. "
     "The organisers said the project began with a simple conversation between neighbours and grew "
     "into a network of more than two hundred people. Muslim, Christian and Jewish volunteers "
     "worked in the same warehouse every Saturday, and several new friendships started among the "
     "shelves of rice and pasta."),
    ("workshop", "The coding workshop for girls aged twelve to sixteen filled all of its places "
     "within a day of being announced. Over six Saturdays the participants will build a small web "
     "application, learn the basics of version control and present their projects to parents and "
     "teachers at the end of the course. The instructors, most of them young women working as "
     "software engineers, said they wanted to show that programming is a creative activity and not "
     "only a matter of mathematics. Next year the organisers hope to open a second group for "
     "beginners of all genders."),
]

# A near-duplicate: the "bread" article with a few words changed.
NEAR_DUPLICATE = ARTICLES[2][1].replace("four ingredients", "four simple ingredients").replace(
    "wonderful", "marvellous").replace("several days", "a few days")

PII_DOCUMENTS = [
    "Dear customer, thank you for your order. If you have any questions about the delivery, "
    "please contact our support agent Maria Gonzalez by e-mail at maria.gonzalez@example.com or "
    "call her on +1 415 555 0134 between nine and five. For refunds we will need the card you paid "
    "with; the last order was charged to 4111 1111 1111 1111. Please do not reply to this automated "
    "message, because the mailbox is not monitored. We hope you enjoy your new garden furniture and "
    "look forward to seeing you again soon in one of our shops.",
    "Meeting notes from the neighbourhood association. Present were John Whitaker, the chair, and "
    "eleven residents. The treasurer reported that the account at IBAN DE89 3704 0044 0532 0130 00 "
    "holds enough funds for the summer party. Residents complained about noise from the server "
    "room at 192.168.14.27 in the basement of the office building, which hums all night. The next "
    "meeting will take place in the community hall on the first Monday of the month, and everyone "
    "is welcome to bring proposals for the autumn clean-up day.",
]

LOW_QUALITY = [
    "click here click here click here buy now buy now buy now cheap cheap cheap best price best "
    "price best price click here buy now",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut "
    "labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco.",
    "Home | About | Contact | Login\nHome | About | Contact | Login\nHome | About | Contact | Login\n"
    "Home | About | Contact | Login\nCopyright 2024 All rights reserved",
    "function(){ var x = {a: 1}; if (x) { return {b: 2}; } } {{{ }}} {} {} {}",
]

OTHER_LANGUAGES = [
    ("de", "Der kleine Bahnhof am Rand des Dorfes wurde im letzten Jahr renoviert. Die Wartehalle "
     "hat jetzt große Fenster, Bänke aus Holz und eine Anzeige, die die Abfahrtszeiten der Züge "
     "zeigt. Viele Pendler fahren jeden Morgen mit dem Regionalzug in die Stadt, und am Wochenende "
     "kommen Wanderer, die von hier aus in die Berge gehen. Der Bürgermeister sagte, dass der "
     "Bahnhof für das Dorf sehr wichtig sei und dass man ihn noch lange erhalten wolle."),
    ("fr", "Le marché du samedi matin est le cœur de la vie du quartier. Dès sept heures, les "
     "maraîchers installent leurs étals de légumes, de fromages et de fleurs, et les habitants "
     "viennent faire leurs courses en prenant le temps de discuter. On y trouve aussi un "
     "boulanger qui vend un pain au levain très apprécié, et un petit café où l'on boit un "
     "expresso au soleil. Le marché existe depuis plus de cent ans et attire maintenant des "
     "visiteurs de toute la région."),
    ("es", "La biblioteca del barrio organiza cada semana un club de lectura para personas "
     "mayores. Los participantes leen una novela durante el mes y se reúnen los jueves por la tarde "
     "para comentar los capítulos, tomar un café y compartir recuerdos. La coordinadora explica que "
     "muchos de ellos vivían solos y que el club les ha dado una razón para salir de casa y conocer "
     "a otras personas. El próximo libro será una novela clásica elegida por votación entre todos "
     "los miembros del grupo."),
]

MALFORMED_LINES = [
    b"this line is not JSON at all",
    b'{"id": "broken-bytes", "text": "invalid \xff\xfe UTF-8 here"}',
    b'{"id": "no-text", "url": "https://example.org/empty"}',
    b'{"id": "number-text", "text": 12345}',
    b'{"id": "blank-text", "text": "   \\u200b  "}',
    b'["a", "JSON", "array"]',
    b'{"id": "truncated", "text": "this object never ends',
]


def documents():
    """Yields the sample's lines as bytes, in order."""
    number = 0

    def line(text, **fields):
        nonlocal number
        number += 1
        record = {"id": f"sample-{number:03d}", "text": text}
        record.update(fields)
        return json.dumps(record, ensure_ascii=False).encode("utf-8")

    for slug, text in ARTICLES:
        yield line(text, url=f"https://news.example.org/{slug}", source="sample-news",
                   metadata={"topic": slug})
    for text in PII_DOCUMENTS:
        yield line(text, url="https://mail.example.com/archive", source="sample-mail")
    for text in LOW_QUALITY:
        yield line(text, url="https://spam.example.net/page", source="sample-web")
    for language, text in OTHER_LANGUAGES:
        yield line(text, url=f"https://{language}.example.eu/", source="sample-news",
                   metadata={"lang": language})
    # Exact duplicates: the same article again from two mirrors, once with extra whitespace.
    yield line(ARTICLES[0][1], url="https://mirror.example.com/garden", source="sample-mirror")
    yield line("  " + ARTICLES[3][1].replace(". ", ".  ") + "\n",
               url="https://mirror.example.com/comet", source="sample-mirror")
    yield line(NEAR_DUPLICATE, url="https://mirror.example.com/bread", source="sample-mirror")
    yield b""  # a blank line: skipped, not a record
    yield from MALFORMED_LINES


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample.jsonl")
    with open(path, "wb") as handle:
        for payload in documents():
            handle.write(payload + b"\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
