"""A seeded evaluation set for the ``pii`` stage: text with PII planted at known offsets.

Two kinds of documents:

- **sentences**: one short templated sentence per planted value, for every supported entity type
  (with and without context words such as "phone" or "SSN" near the value);
- **pages**: 3-4 KB web-page-like documents (navigation, article text, comments, footer) composed
  for this set, with several values of different types planted in the running text.

Values come from Faker (https://faker.readthedocs.io) with a fixed seed, so the same call always
returns the same documents. Each :class:`EvalDocument` records where every value was planted
(``start``/``end`` offsets into its text), which lets an evaluation check that the value no longer
appears in the scrubbed output (span recall) and that the words around it survived.

Usage::

    from tests.eval.pii_eval_set import build_eval_set
    documents = build_eval_set()                    # sentences + pages
    for document in documents:
        for span in document.spans:
            assert document.text[span.start:span.end] == span.value
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random
import re
from typing import Callable, Dict, List, Sequence, Tuple

from faker import Faker

DEFAULT_SEED = 20261127

# The planted types. EMAIL_IN_URL is an e-mail address inside a URL (mailto: links, query
# strings, URL-encoded "%40"); a scrubber should report it as EMAIL_ADDRESS.
PERSON = "PERSON"
EMAIL = "EMAIL_ADDRESS"
EMAIL_IN_URL = "EMAIL_IN_URL"
PHONE = "PHONE_NUMBER"
CREDIT_CARD = "CREDIT_CARD"
IBAN = "IBAN_CODE"
SSN = "US_SSN"
IP = "IP_ADDRESS"
LOCATION = "LOCATION"
BANK = "US_BANK_NUMBER"
PLANTED_TYPES = (PERSON, EMAIL, EMAIL_IN_URL, PHONE, CREDIT_CARD, IBAN, SSN, IP, LOCATION, BANK)


@dataclasses.dataclass(frozen=True)
class PlantedSpan:
    """One planted value: its type, where it is, and the exact text planted."""
    entity_type: str
    start: int
    end: int
    value: str


@dataclasses.dataclass(frozen=True)
class EvalDocument:
    doc_id: str
    kind: str  # "sentence" | "page"
    text: str
    spans: Tuple[PlantedSpan, ...]


# --------------------------------------------------------------------------------------------
# Value generators
# --------------------------------------------------------------------------------------------

class _Values:
    """Draws PII values of each planted type from seeded Faker instances."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.us = Faker("en_US")
        self.us.seed_instance(seed)
        self.intl = {locale: Faker(locale) for locale in ("en_GB", "de_DE", "fr_FR", "es_ES",
                                                           "nl_NL", "it_IT")}
        for offset, faker in enumerate(self.intl.values(), start=1):
            faker.seed_instance(seed + offset)
        self._countries = [country for country in _COUNTRIES]

    def draw(self, entity_type: str) -> str:
        return getattr(self, "_" + entity_type.lower())()

    def _person(self) -> str:
        us, rng = self.us, self.rng
        first, last = us.first_name(), us.last_name()
        roll = rng.random()
        if roll < 0.55:
            return f"{first} {last}"
        if roll < 0.75:
            return f"{first} {us.random_uppercase_letter()}. {last}"
        if roll < 0.9:
            return f"{rng.choice(['Mr.', 'Ms.', 'Mrs.', 'Dr.'])} {first} {last}"
        # Non-US names too.
        other = self.intl[rng.choice(["de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"])]
        return f"{other.first_name()} {other.last_name()}"

    def _email_address(self) -> str:
        us, rng = self.us, self.rng
        roll = rng.random()
        if roll < 0.4:
            return us.email()
        if roll < 0.7:
            first, last = _ascii_name(us.first_name()), _ascii_name(us.last_name())
            return f"{first}.{last}@{us.free_email_domain()}".lower()
        if roll < 0.85:
            return us.company_email()
        return f"{us.user_name()}{rng.randint(1, 99)}@{us.domain_name(2)}"

    def _email_in_url(self) -> str:
        """The e-mail as it appears inside a URL (raw after mailto:, or %40-encoded)."""
        email = self._email_address()
        if self.rng.random() < 0.5:
            return email
        return email.replace("@", "%40")

    def _phone_number(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            return self.us.phone_number()
        if roll < 0.75:
            # Common US styles written by people rather than Faker.
            area, exchange, line = (rng.randint(201, 989), rng.randint(200, 999),
                                    rng.randint(0, 9999))
            style = rng.choice(["({a}) {e}-{l:04d}", "{a}-{e}-{l:04d}", "+1 {a} {e} {l:04d}",
                                "1-{a}-{e}-{l:04d}", "{a}.{e}.{l:04d}"])
            return style.format(a=area, e=exchange, l=line)
        locale = rng.choice(["en_GB", "de_DE", "fr_FR", "es_ES", "it_IT"])
        return self.intl[locale].phone_number()

    def _credit_card(self) -> str:
        rng = self.rng
        card_type = rng.choice(["visa16", "visa16", "mastercard", "mastercard", "amex",
                                "discover", "jcb16", "diners", "visa13"])
        number = self.us.credit_card_number(card_type)
        style = rng.random()
        if style < 0.45 or len(number) == 13:  # 13-digit Visa numbers have no usual grouping
            return number
        separator = " " if style < 0.8 else "-"
        if len(number) == 15:  # American Express prints 4-6-5
            groups = [number[:4], number[4:10], number[10:]]
        elif len(number) == 14:  # Diners Club prints 4-6-4
            groups = [number[:4], number[4:10], number[10:]]
        else:
            groups = [number[i:i + 4] for i in range(0, len(number), 4)]
        return separator.join(groups)

    def _iban_code(self) -> str:
        locale = self.rng.choice(["en_GB", "de_DE", "fr_FR", "es_ES", "nl_NL", "it_IT"])
        iban = self.intl[locale].iban()
        if self.rng.random() < 0.5:
            # The printed form: groups of four.
            return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
        return iban

    def _us_ssn(self) -> str:
        ssn = self.us.ssn()
        if self.rng.random() < 0.2:
            return ssn.replace("-", " ")
        return ssn

    def _ip_address(self) -> str:
        roll = self.rng.random()
        if roll < 0.45:
            return self.us.ipv4_public()
        if roll < 0.65:
            return self.us.ipv4_private()
        address = self.us.ipv6()
        if roll < 0.85:
            return str(ipaddress.IPv6Address(address))  # compressed form
        return address

    def _location(self) -> str:
        roll = self.rng.random()
        if roll < 0.3:
            return self.rng.choice(self._countries)
        if roll < 0.55:
            return self.us.state()
        if roll < 0.8:
            return self.intl["de_DE"].city()
        return self.intl["es_ES"].city()

    def _us_bank_number(self) -> str:
        digits = self.rng.randint(8, 17)
        return str(self.rng.randint(1, 9)) + "".join(
            str(self.rng.randint(0, 9)) for _ in range(digits - 1))


# Country names as people write them (Faker's list includes long official names).
_COUNTRIES = ["France", "Germany", "Canada", "Mexico", "Brazil", "Argentina", "Portugal",
              "Spain", "Italy", "Ireland", "Norway", "Sweden", "Poland", "Greece", "Turkey",
              "Egypt", "Kenya", "Nigeria", "India", "Japan", "Vietnam", "Australia",
              "New Zealand", "Chile", "Peru", "Colombia", "Austria", "Belgium", "Denmark",
              "Finland", "Hungary", "Romania", "Morocco", "Thailand", "Indonesia"]


def _ascii_name(name: str) -> str:
    return re.sub(r"[^A-Za-z]", "", name) or "user"


# --------------------------------------------------------------------------------------------
# Templated sentences: [[TYPE]] marks where a value is planted.
# --------------------------------------------------------------------------------------------

SENTENCE_TEMPLATES: Dict[str, Sequence[str]] = {
    PERSON: [
        "[[PERSON]] joined the team in March and now leads the data platform group.",
        "Thanks to [[PERSON]] for the photos from last weekend's match.",
        "Posted by [[PERSON]] in General Discussion.",
        "The award was presented to [[PERSON]] at the annual dinner.",
        "I met [[PERSON]] at the conference and we talked about compilers for an hour.",
        "Contact: [[PERSON]], Sales Manager",
        "Our new neighbour, [[PERSON]], brought over a tray of cookies.",
        "According to [[PERSON]], the bridge will reopen next month.",
        "Written by [[PERSON]] | 5 min read",
        "The meeting was chaired by [[PERSON]], who thanked everyone for coming.",
        "Please forward the signed form to [[PERSON]] before Friday.",
        "Happy birthday to our amazing coach [[PERSON]]!",
        "[[PERSON]] said the results would be published in the spring.",
    ],
    EMAIL: [
        "For questions, email [[EMAIL_ADDRESS]].",
        "Send your CV to [[EMAIL_ADDRESS]] with the subject line Application.",
        "Contact us: [[EMAIL_ADDRESS]]",
        "You can reach me at [[EMAIL_ADDRESS]] if the forum is down.",
        "Reply-To: [[EMAIL_ADDRESS]]",
        "Questions about your order? Write to [[EMAIL_ADDRESS]] and we will reply within a day.",
        "[[EMAIL_ADDRESS]] wrote: the patch fixes the crash on startup.",
        "Invoices go to [[EMAIL_ADDRESS]], not to the support address.",
        "My address changed to [[EMAIL_ADDRESS]] last week.",
        "(contact: [[EMAIL_ADDRESS]])",
    ],
    EMAIL_IN_URL: [
        "Unsubscribe: https://news.example-shop.com/unsubscribe?email=[[EMAIL_IN_URL]]&list=weekly",
        "Click <a href=\"mailto:[[EMAIL_IN_URL]]\">here</a> to write to the editor.",
        "Manage your preferences at https://accounts.example.org/prefs?user=[[EMAIL_IN_URL]]",
        "Reset link: https://app.example.net/reset?token=8f2a9c&login=[[EMAIL_IN_URL]]",
        "Write to mailto:[[EMAIL_IN_URL]] for press enquiries.",
        "Tracking pixel https://t.example.com/o.gif?r=[[EMAIL_IN_URL]]&c=spring-sale",
        "Profile page: https://forum.example.io/members/[[EMAIL_IN_URL]]/activity",
        "[Email the organisers](mailto:[[EMAIL_IN_URL]]?subject=Registration)",
    ],
    PHONE: [
        "Call us at [[PHONE_NUMBER]] between 9 am and 5 pm.",
        "Phone: [[PHONE_NUMBER]]",
        "For reservations ring [[PHONE_NUMBER]].",
        "My cell is [[PHONE_NUMBER]], text me when you arrive.",
        "Tel. [[PHONE_NUMBER]] | Fax available on request",
        "If you see anything suspicious, call [[PHONE_NUMBER]] immediately.",
        "Mobile number: [[PHONE_NUMBER]]",
        "The front desk can be reached on [[PHONE_NUMBER]] around the clock.",
        "Leave a message at [[PHONE_NUMBER]] and we will call you back.",
        "WhatsApp [[PHONE_NUMBER]] for a quote.",
        "Customer service hotline [[PHONE_NUMBER]] (toll charges may apply).",
        "Questions? [[PHONE_NUMBER]]",
    ],
    CREDIT_CARD: [
        "Card number: [[CREDIT_CARD]]",
        "I paid with my card [[CREDIT_CARD]] and the charge went through twice.",
        "Please charge the deposit to credit card [[CREDIT_CARD]].",
        "Visa ending... actually the full number is [[CREDIT_CARD]], exp 04/27.",
        "The customer read out [[CREDIT_CARD]] over the phone.",
        "CC: [[CREDIT_CARD]] CVV on file",
        "Payment method [[CREDIT_CARD]] was declined.",
        "Use [[CREDIT_CARD]] for the conference booking.",
    ],
    IBAN: [
        "IBAN: [[IBAN_CODE]]",
        "Please transfer the fee to [[IBAN_CODE]] by the end of the month.",
        "Bank details: account holder Riverside Club, IBAN [[IBAN_CODE]], BIC on request.",
        "Refunds are paid to the account [[IBAN_CODE]] that you gave us.",
        "Donations welcome: [[IBAN_CODE]]",
        "My new account number is [[IBAN_CODE]], please update your records.",
        "Pay the rent into [[IBAN_CODE]] on the first working day.",
        "Beneficiary account [[IBAN_CODE]]",
    ],
    SSN: [
        "SSN: [[US_SSN]]",
        "Her social security number is [[US_SSN]].",
        "Enter your SSN ([[US_SSN]]) on line 2 of the form.",
        "Employee record: social security [[US_SSN]], start date 2019.",
        "The applicant listed [[US_SSN]] as their Social Security number.",
        "SS# [[US_SSN]]",
        "Taxpayer identification: SSN [[US_SSN]]",
        "My ssn is [[US_SSN]] if you need it for the payroll form.",
    ],
    IP: [
        "Connection refused from [[IP_ADDRESS]] on port 22.",
        "The server at [[IP_ADDRESS]] stopped responding at 02:14.",
        "Set the DNS server to [[IP_ADDRESS]] and restart the router.",
        "Failed password for root from [[IP_ADDRESS]] port 51022 ssh2",
        "My IP is [[IP_ADDRESS]], can you whitelist it?",
        "Ping [[IP_ADDRESS]] to check the tunnel.",
        "client=[[IP_ADDRESS]] status=403 path=/admin",
        "The printer got the address [[IP_ADDRESS]] from DHCP.",
        "Blocked [[IP_ADDRESS]] after 50 failed logins.",
    ],
    LOCATION: [
        "We moved to [[LOCATION]] in 2015.",
        "The team flies to [[LOCATION]] next week for the tournament.",
        "She grew up in [[LOCATION]] before studying abroad.",
        "Shipping to [[LOCATION]] takes five to seven business days.",
        "Our second office is in [[LOCATION]].",
        "The festival returns to [[LOCATION]] this summer.",
        "He was born in [[LOCATION]] and still visits every year.",
        "Prices in [[LOCATION]] have gone up a lot since last year.",
        "[[LOCATION]] has some of the best hiking trails we have seen.",
        "[[LOCATION]] is where my grandparents met.",
        "[[LOCATION]] beat the favourites in the final last night.",
        "[[LOCATION]] looked stunning from the plane window.",
    ],
    BANK: [
        "Bank account number: [[US_BANK_NUMBER]]",
        "Deposit the check into account [[US_BANK_NUMBER]] at the credit union.",
        "Direct deposit: routing 021000021, account [[US_BANK_NUMBER]]",
        "My checking account is [[US_BANK_NUMBER]].",
        "Acct # [[US_BANK_NUMBER]]",
        "Wire the payment to bank account [[US_BANK_NUMBER]].",
    ],
}

# Planted values of these types must not be confused with their context: skip values that also
# occur in the template's own text.
_SLOT = re.compile(r"\[\[([A-Z_]+)\]\]")


def fill_template(template: str, values: _Values,
                  forbidden: Callable[[str], bool] = lambda value: False
                  ) -> Tuple[str, Tuple[PlantedSpan, ...]]:
    """Replaces every ``[[TYPE]]`` slot with a fresh value; returns the text and the spans."""
    parts: List[str] = []
    spans: List[PlantedSpan] = []
    position = 0
    length = 0
    for match in _SLOT.finditer(template):
        literal = template[position:match.start()]
        parts.append(literal)
        length += len(literal)
        entity_type = match.group(1)
        value = values.draw(entity_type)
        while forbidden(value):
            value = values.draw(entity_type)
        parts.append(value)
        spans.append(PlantedSpan(entity_type, length, length + len(value), value))
        length += len(value)
        position = match.end()
    parts.append(template[position:])
    return "".join(parts), tuple(spans)


def _not_in(text: str) -> Callable[[str], bool]:
    """A ``forbidden`` predicate: the value (or one of its words) occurs in ``text``."""
    words = set(re.findall(r"\w+", _SLOT.sub(" ", text).lower()))

    def forbidden(value: str) -> bool:
        return any(word in words for word in re.findall(r"[^\W\d]{3,}", value.lower()))
    return forbidden


def build_sentences(seed: int = DEFAULT_SEED, per_type: int = 60) -> List[EvalDocument]:
    """``per_type`` one-sentence documents for each planted type, cycling over the templates."""
    values = _Values(seed)
    documents = []
    for entity_type in PLANTED_TYPES:
        templates = SENTENCE_TEMPLATES[entity_type]
        for index in range(per_type):
            template = templates[index % len(templates)]
            text, spans = fill_template(template, values, _not_in(template))
            documents.append(EvalDocument(f"sentence-{entity_type.lower()}-{index:03d}",
                                          "sentence", text, spans))
    return documents


# --------------------------------------------------------------------------------------------
# Web pages: navigation, article, comments and footer, with values planted in the article.
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PageTemplate:
    site: str
    navigation: str
    title: str
    paragraphs: Tuple[str, ...]
    footer: str


PAGE_TEMPLATES: Tuple[PageTemplate, ...] = (
    PageTemplate(
        site="garden",
        navigation="Skip to content\nHome | Plots | Workshops | Volunteer | Blog | Contact",
        title="Spring planting day: what we learned this year",
        paragraphs=(
            "Posted on 12 April by [[PERSON]] in Garden Diary",
            "Spring planting day came early this year. More than forty volunteers turned up on "
            "a grey Saturday morning, and by lunch every raised bed along the south fence had "
            "been weeded, fed with compost and planted with early potatoes, onion sets and two "
            "long rows of broad beans. The children's corner got a new willow tunnel, which the "
            "younger gardeners tested thoroughly before the glue on the labels had even dried.",
            "We learned a few things. First, the water butts need cleaning before the season, "
            "not after it: two of them were full of leaves and the tap on the third had frozen "
            "and cracked over the winter. Second, we have far too many trowels and not nearly "
            "enough wheelbarrows. If you have an old barrow in the shed that still rolls, we "
            "would love to give it a second life.",
            "A big thank you to [[PERSON]], who organised the seed swap and kept the tea urn "
            "going all day, and to everyone who brought cakes. The lemon drizzle disappeared in "
            "about four minutes, which is probably a record.",
            "Plot holders: the committee has agreed the rota for watering during the summer "
            "holidays. Each plot will be paired with a neighbour so that nobody comes back to a "
            "bed of dry stalks. The rota is pinned on the noticeboard in the shed. If you cannot "
            "do your weeks, please swap with someone and write the change on the sheet.",
            "Want to get involved? We meet every second Sunday of the month. New members can "
            "email [[EMAIL_ADDRESS]] or call [[PHONE_NUMBER]] and ask for the membership "
            "secretary. We still have three half-plots free, ideal for anyone who wants to try "
            "growing salad and herbs without taking on a full plot.",
            "Next month's workshop covers companion planting: which flowers keep aphids off "
            "your beans, why marigolds are always next to the tomatoes, and how to build a "
            "simple insect hotel from offcuts and hollow stems. Bring gloves and a packed lunch.",
            "Several members have asked about the coach trip to the flower show. The coach "
            "leaves from the car park at half past seven, and we expect to be back in "
            "[[LOCATION]] by early evening. Tickets include entry but not lunch.",
            "Comments (3)\nLovely write-up, sorry I missed it this year! -- Sam\nThe beans are "
            "already up on plot 14. -- Jo\nIs the seed swap going to happen again in the "
            "autumn? -- anonymous",
        ),
        footer="Share this: Facebook | Email | Print\n(c) 2024 Community Garden Association. "
               "Registered charity. Privacy policy | Cookie settings",
    ),
    PageTemplate(
        site="news",
        navigation="News | Sport | Business | Weather | Local | Opinion\nSubscribe | Sign in",
        title="Library renovation to finish three months late, council says",
        paragraphs=(
            "By [[PERSON]], local affairs reporter",
            "The renovation of the central library will finish three months later than planned, "
            "the council confirmed on Tuesday, after contractors found asbestos in the ceiling "
            "of the old reading room. The building has been closed since January, and the "
            "temporary lending service in the community centre will now stay open until the "
            "end of the year.",
            "A council spokesperson, [[PERSON]], said the delay was disappointing but "
            "unavoidable. \"Safety has to come first. Once the survey found the problem we had "
            "no choice but to stop work in that part of the building and bring in specialists. "
            "The good news is that the rest of the project is on budget.\"",
            "The project, which will add a children's library, a quiet study floor and a small "
            "cafe, was approved two years ago after a long campaign by residents. Campaigners "
            "said they were frustrated but not surprised. Older public buildings often hide "
            "problems that only show up when the walls are opened.",
            "Residents in [[LOCATION]] have been asked to return any books borrowed before the "
            "closure to the temporary branch. Late fees have been suspended until the library "
            "reopens. Computers with internet access are available at the community centre on "
            "weekday afternoons.",
            "The council has also published a revised timetable. The roof and windows are "
            "finished; electrical work continues through the summer, and the shelving and "
            "furniture will go in during the autumn. An opening event is planned for the "
            "spring, with readings from local authors and activities for families.",
            "Anyone with questions about the temporary service can call the library helpline "
            "on [[PHONE_NUMBER]] during office hours.",
            "Related stories\nBus route changes from next month\nSchool meals price to rise in "
            "September\nHigh street shops report a better Christmas",
        ),
        footer="Most read | Newsletters | Contact the newsroom | Complaints\n(c) 2024 The Valley "
               "Courier. All rights reserved.",
    ),
    PageTemplate(
        site="forum",
        navigation="Forums > Networking > Home routers\nLog in | Register | Search | Help",
        title="Router keeps dropping the connection every evening",
        paragraphs=(
            "Thread started by user netnoob77",
            "Hi all, my home router drops the connection almost every evening between eight and "
            "ten. The lights stay on, but nothing can reach the internet for about two minutes, "
            "then it comes back by itself. It started after a firmware update last month. I "
            "have already swapped the cable and moved the router away from the microwave.",
            "The log shows lots of lines like this just before it happens: WAN link down, "
            "DHCP renew from [[IP_ADDRESS]] failed, retrying. After that it gets a new lease "
            "and everything works again. Is this my provider or the router?",
            "Reply from user packetwizard: That looks like your provider's DHCP server not "
            "answering in time. Try setting a longer lease time, and check whether the router "
            "still uses the old gateway [[IP_ADDRESS]] after the update. Some firmware versions "
            "keep a stale gateway in the config until you do a full reset.",
            "Reply from user netnoob77: Did the full reset, same problem. I also noticed the "
            "IPv6 address changes every time it happens, the last one was [[IP_ADDRESS]]. My "
            "provider says the line is fine.",
            "Reply from user packetwizard: Then it is probably the router. Roll back to the "
            "previous firmware if you can, and report the bug to the manufacturer. If you want "
            "me to look at the full log, send it to [[EMAIL_ADDRESS]] and I will have a look "
            "this weekend. Remove your passwords first!",
            "Reply from user quietfan: Same here with the same model. Rolling back fixed it for "
            "me. The manufacturer acknowledged the bug on their support page, so a fix should "
            "come in the next release. Until then the old firmware is the way to go.",
            "Reply from user netnoob77: Rolled back last night and it held up all evening. "
            "Thanks everyone, marking this as solved.",
        ),
        footer="Forum rules | Privacy | Contact moderators\nPowered by a community forum "
               "engine. Times are UTC.",
    ),
    PageTemplate(
        site="shop",
        navigation="Shop | New in | Sale | Gift cards | Help\nBasket (2) | My account",
        title="Order confirmation",
        paragraphs=(
            "Thank you for your order, [[PERSON]]! We have received your payment and your "
            "parcel is being prepared in our warehouse. You will receive another message with a "
            "tracking link as soon as it leaves us.",
            "Order summary\n1 x Enamel camping mug, forest green, 350 ml\n1 x Merino hiking "
            "socks, size 42-44, pack of two\nSubtotal 38.50\nShipping 4.95\nTotal 43.45",
            "Payment: card [[CREDIT_CARD]], charged in full. If you did not make this purchase, "
            "contact your bank and our customer service team straight away.",
            "Delivery address: the address you entered at checkout in [[LOCATION]]. Please "
            "check it carefully. Parcels sent to an incomplete address are returned to us after "
            "fourteen days, and we have to charge shipping again to send them out a second "
            "time.",
            "A confirmation has been sent to [[EMAIL_ADDRESS]]. If it does not arrive within "
            "an hour, look in your spam folder, or log in to your account to see all of your "
            "orders and download invoices.",
            "Returns are free within thirty days. Print the returns label from your account, "
            "pack the items in their original packaging and drop the parcel at any post office. "
            "Refunds are made to the original payment method within five working days after we "
            "receive the parcel. For bank transfers we refund to IBAN [[IBAN_CODE]] as given.",
            "Need help? Our customer service team is available Monday to Saturday from eight "
            "until eight on [[PHONE_NUMBER]], or use the chat on our help pages. Have your "
            "order number ready so we can find your order quickly.",
            "You might also like: insulated water bottle, lightweight rain jacket, trekking "
            "poles, headlamp with rechargeable battery, quick-dry travel towel.",
        ),
        footer="Delivery | Returns | Size guide | Terms and conditions | Privacy\n(c) 2024 "
               "Trailhead Outdoor Supply Ltd. Prices include VAT.",
    ),
    PageTemplate(
        site="jobs",
        navigation="Jobs | Companies | Salaries | Career advice\nPost a job | Sign in",
        title="Backend Engineer (Python) - full time, hybrid",
        paragraphs=(
            "About the role: we are a small team building software that helps food banks "
            "manage donations, volunteers and deliveries. We are looking for a backend engineer "
            "who enjoys clean APIs, careful database design and working closely with the people "
            "who use what we build.",
            "What you will do: design and build services in Python; write tests and keep our "
            "continuous integration green; improve the performance of our reporting queries; "
            "take part in code review and on-call (one week in six, with time off in lieu); "
            "help us decide what to build next by talking to our users.",
            "What we are looking for: several years of experience with Python web frameworks, "
            "good knowledge of SQL and relational databases, and experience with message "
            "queues or background job systems. Experience with cloud infrastructure is a plus "
            "but not required. Above all, we value clear writing and kindness.",
            "Where: the office is in [[LOCATION]], and we meet there two days a week. The rest "
            "of the time you can work from home. We pay for a desk, a chair and a screen for "
            "your home office.",
            "Benefits: thirty days of paid holiday, a learning budget, flexible hours, a "
            "pension scheme with employer contributions, and four weeks of fully paid "
            "volunteering leave every year.",
            "How to apply: send a short letter and your CV to the hiring manager, [[PERSON]], "
            "at [[EMAIL_ADDRESS]]. You can also apply online: https://careers.example-jobs.com/"
            "apply?job=backend-python&ref=board&contact=[[EMAIL_IN_URL]]. We reply to every "
            "application within two weeks.",
            "Questions about the role? Call [[PHONE_NUMBER]]. We are happy to talk about "
            "part-time hours, reasonable adjustments for the interview, or anything else.",
            "We welcome applications from people of all backgrounds. We do not ask for "
            "photos, dates of birth or marital status, and we remove names from CVs before the "
            "first review.",
        ),
        footer="Report this job | Job alerts | Help centre\n(c) 2024 the job board. Listings are "
               "provided by employers.",
    ),
    PageTemplate(
        site="events",
        navigation="Meetups | Talks | Workshops | Code of conduct | Sponsors",
        title="Open Data Meetup: March edition",
        paragraphs=(
            "Join us for the March edition of the open data meetup. As always, the evening is "
            "free, there will be pizza, and everyone is welcome, from seasoned data engineers "
            "to people who have just opened their first spreadsheet.",
            "Talk 1: Cleaning up messy public transport timetables. [[PERSON]] will show how "
            "her team turned hundreds of inconsistent timetable files into a single clean "
            "dataset, which tools helped, which did not, and what she would do differently "
            "today.",
            "Talk 2: Mapping tree cover with satellite images. [[PERSON]] explains how free "
            "satellite imagery can be used to estimate the tree canopy street by street, and "
            "what the results tell us about summer heat in different neighbourhoods.",
            "Lightning talks: we have room for four five-minute talks. Anything goes, as long "
            "as it involves open data. To sign up, write to mailto:[[EMAIL_IN_URL]] with a "
            "title and one sentence about your talk.",
            "Venue: the meetup takes place in the ground-floor hall of the public library in "
            "[[LOCATION]]. The hall is step-free and has a hearing loop. Doors open at half "
            "past six, and the first talk starts at seven.",
            "Code of conduct: we want the meetup to be a friendly and harassment-free "
            "experience for everyone. If something makes you uncomfortable, talk to one of the "
            "organisers on the night or email [[EMAIL_ADDRESS]] in confidence.",
            "Thanks to our sponsors for the food and drinks, and to the library for the room. "
            "Slides and recordings from past meetups are on our website.",
        ),
        footer="Follow us | Past events | Become a sponsor\nOpen Data Meetup is run by "
               "volunteers.",
    ),
    PageTemplate(
        site="payroll",
        navigation="HR portal | Payroll | Benefits | Time off | Help desk",
        title="How to update your direct deposit and tax details",
        paragraphs=(
            "This page explains how to change the bank account your pay goes into, and how to "
            "update your tax withholding. Changes made before the 15th of the month take effect "
            "on the next payday; later changes take effect the month after.",
            "Example of a completed form (the values below were submitted by an employee who "
            "agreed to share them for training purposes):\nEmployee name: [[PERSON]]\nSocial "
            "Security Number: [[US_SSN]]\nBank account number: [[US_BANK_NUMBER]]\nDaytime "
            "phone: [[PHONE_NUMBER]]",
            "Step 1: sign in to the HR portal and open the Payroll tab. Step 2: choose Direct "
            "deposit and click Edit. Step 3: enter the routing number and account number "
            "exactly as they appear on a voided check or a letter from your bank. Step 4: "
            "confirm with the code we send to your phone.",
            "If you are paid in euros, give your international account number instead. For "
            "example, a valid entry looks like IBAN [[IBAN_CODE]] with the BIC of your bank in "
            "the next field.",
            "Tax withholding: open the Tax tab and complete the withholding certificate. If "
            "you have more than one job, or your spouse works, use the estimator linked on the "
            "form so that you do not owe a large amount at the end of the year.",
            "Common problems: the portal rejects an account number that has spaces or dashes; "
            "type digits only. If your first payment after a change goes to the old account, "
            "the bank will return it within a few days and we will pay you again.",
            "Still stuck? The payroll help desk is open on weekdays. Please do not send your "
            "full Social Security number by email; the help desk will never ask for it.",
        ),
        footer="Employee handbook | Privacy notice | Accessibility\nInternal use only.",
    ),
    PageTemplate(
        site="ops",
        navigation="Status | Incidents | Maintenance | Subscribe to updates",
        title="Incident report: API outage on Thursday",
        paragraphs=(
            "Summary: between 14:02 and 14:47 UTC on Thursday, about a third of requests to "
            "our public API failed with errors. No data was lost. This report explains what "
            "happened, why, and what we are changing.",
            "Timeline: at 14:02 our load balancer began marking two of the six application "
            "servers as unhealthy. The health checks for [[IP_ADDRESS]] and [[IP_ADDRESS]] "
            "timed out because a deploy had filled their disks with debug logs. Traffic moved "
            "to the remaining servers, which could not keep up with the evening peak.",
            "At 14:20 the on-call engineer, [[PERSON]], was paged and started investigating. "
            "The first suspicion was the database, because latency there had also gone up. It "
            "took some time to see that the database was slow only because the remaining "
            "servers were retrying so many queries.",
            "At 14:38 we cleared the logs, restarted the two servers and they rejoined the "
            "pool. Error rates returned to normal at 14:47. A small number of requests from "
            "the monitoring probe at [[IP_ADDRESS]] kept failing for a few more minutes "
            "because of a cached DNS entry.",
            "Root cause: debug logging had been switched on during an earlier investigation "
            "and was never switched off. The log rotation job did not cover the debug file, so "
            "it grew until the disk was full.",
            "What we are changing: log rotation now covers every file under the log "
            "directory; disk usage alerts fire at 80 percent instead of 95; and debug logging "
            "switches itself off after one hour. We are also adding a runbook entry for "
            "unhealthy servers behind the load balancer.",
            "Questions about this incident can be sent to [[EMAIL_ADDRESS]]. We are sorry for "
            "the disruption.",
        ),
        footer="Status page | RSS | Email updates\nAll times are UTC.",
    ),
    PageTemplate(
        site="charity",
        navigation="About us | Our work | Get involved | Donate | News",
        title="Support the winter shelter appeal",
        paragraphs=(
            "Every winter our shelter offers a warm bed, a hot meal and a friendly face to "
            "people who would otherwise sleep outside. Last year we opened for ninety-three "
            "nights and welcomed more than two hundred guests. This year we want to open every "
            "night from November to March.",
            "Your gift makes that possible. Thirty pays for a guest's bed and breakfast for a "
            "week; one hundred pays for a set of new mattress covers; five hundred keeps the "
            "heating on for a month.",
            "Donate by bank transfer: account name Winter Shelter Appeal, IBAN [[IBAN_CODE]]. "
            "Please use your surname as the reference so that we can thank you.",
            "Donate by card: use the secure form on this page. A supporter recently wrote to "
            "tell us that her card [[CREDIT_CARD]] had been charged twice; if that happens to "
            "you, please let us know and we will refund the second payment at once.",
            "\"I came for one night and stayed for the whole winter. The volunteers treated me "
            "like family.\" A guest from last season, now living in [[LOCATION]].",
            "Volunteer with us: we need people for evening shifts, breakfast shifts and "
            "laundry. No experience is needed and we provide training. Our volunteer "
            "coordinator [[PERSON]] can tell you more: [[EMAIL_ADDRESS]] or [[PHONE_NUMBER]].",
            "Where the money goes: eighty-seven pence of every pound goes directly to running "
            "the shelter. The rest covers fundraising and the costs of being a registered "
            "charity. Our annual accounts are published on our website.",
        ),
        footer="Registered charity | Fundraising promise | Privacy | Contact\n(c) 2024 Winter "
               "Shelter Appeal.",
    ),
    PageTemplate(
        site="recipe",
        navigation="Recipes | Baking | Quick dinners | Vegetarian | Newsletter",
        title="Weeknight lentil soup with lemon and cumin",
        paragraphs=(
            "Recipe by [[PERSON]] | Serves 4 | Ready in 40 minutes",
            "This is the soup I make when the fridge is nearly empty and everyone is hungry. "
            "It needs one pot, costs very little, and tastes even better the next day. Red "
            "lentils cook quickly and break down into a thick, silky soup without any blending.",
            "Ingredients: 2 tablespoons olive oil; 1 large onion, chopped; 2 carrots, diced; 3 "
            "garlic cloves; 2 teaspoons ground cumin; half a teaspoon of chilli flakes; 250 g "
            "red lentils, rinsed; 1.2 litres vegetable stock; 1 lemon; a handful of parsley; "
            "salt and pepper.",
            "Method: warm the oil in a large pot over a medium heat. Add the onion and carrots "
            "with a pinch of salt and cook for eight to ten minutes until soft. Stir in the "
            "garlic, cumin and chilli and cook for one more minute, until fragrant.",
            "Add the lentils and stock, bring to the boil, then turn the heat down and simmer "
            "for twenty minutes, stirring now and then, until the lentils have collapsed. Add "
            "more water if the soup gets too thick.",
            "Finish with the juice of the lemon, plenty of black pepper and the chopped "
            "parsley. Taste and add more salt if needed. Serve with warm bread or a spoonful of "
            "yoghurt.",
            "Tips: the soup freezes well for up to three months. For a richer version, stir in "
            "a tin of coconut milk at the end. Brown or green lentils also work but take longer "
            "to cook and keep their shape.",
            "Get a new recipe every Friday: https://recipes.example-kitchen.com/newsletter/"
            "confirm?address=[[EMAIL_IN_URL]]&source=footer",
            "Reviews (2)\nMade this twice this week, the lemon really makes it. Five stars.\n"
            "Added spinach at the end, worked great.",
        ),
        footer="About | Contact | Advertise | Privacy\n(c) 2024 Home Kitchen Recipes.",
    ),
)


# Blocks that web pages of any kind carry around their main text (banners, sidebars, comment
# boxes). Pages draw from these until they reach PAGE_MIN_CHARS.
PAGE_EXTRAS: Tuple[str, ...] = (
    "We use cookies to make this site work and to understand how it is used. Some cookies are "
    "set by third parties. You can accept all cookies, reject the optional ones, or choose "
    "which ones to allow in the settings. Your choice is stored for twelve months.\nAccept all "
    "| Reject optional | Settings",
    "Sign up for our newsletter: one email a month with news, events and the occasional "
    "special offer. No spam, and you can unsubscribe at any time with the link at the bottom "
    "of every message.\nYour email address ___________ Subscribe",
    "Popular this week\n1. Ten things to do on a rainy weekend\n2. How to fix a dripping tap "
    "in five minutes\n3. The best free apps for learning a language\n4. A beginner's guide to "
    "sourdough\n5. Why your houseplants keep dying, and what to do about it",
    "Accessibility: we want everyone to be able to use this website. You should be able to "
    "zoom in up to three hundred percent without the text spilling off the screen, navigate "
    "most of the site using just a keyboard, and listen to most of it with a screen reader. "
    "If you find a problem, please tell us.",
    "Leave a comment\nComments are moderated and will appear after approval. Please be kind "
    "and stay on topic. We do not publish comments that contain personal attacks, advertising "
    "or links to unrelated sites. Your email address will not be published.",
    "Comment from [[PERSON]]: I tried this last month and it worked better than I expected. "
    "The only thing I would add is to check the instructions twice before you start, because "
    "the order of the steps matters more than it seems.",
    "Was this page helpful? Yes | No\nThank you for your feedback. We read every response, "
    "although we cannot reply to each one individually. If you need help with a specific "
    "problem, use the contact form instead.",
    "About this site: we are a small independent team. We do not run paid advertising on "
    "this page, and we do not sell information about our readers. The site is funded by "
    "readers who support us with a small monthly contribution.",
    "Opening hours\nMonday to Friday: 9:00 to 17:30\nSaturday: 10:00 to 16:00\nSunday and "
    "public holidays: closed\nLast entry thirty minutes before closing. Hours may change during "
    "school holidays, so please check before you travel.",
    "You are reading an archived page. Some links may no longer work, and some of the "
    "information may be out of date. Search the site for the latest version, or browse the "
    "archive by year using the menu on the left.",
    "Reply from [[PERSON]]: thanks for writing this up. We had a similar experience last "
    "year and ended up doing almost exactly the same thing. Good to know we were not the only "
    "ones.",
    "Tags: community, how-to, local, volunteering, weekend\nCategories: News and updates, "
    "Guides\nPrevious post | Next post | Back to top",
)
PAGE_MIN_CHARS = 3400
PAGE_MAX_CHARS = 4200


def build_pages(seed: int = DEFAULT_SEED, per_template: int = 12) -> List[EvalDocument]:
    """``per_template`` pages of each template, each with freshly drawn values.

    Each page is a template's navigation, title, paragraphs and footer, with extra blocks
    (:data:`PAGE_EXTRAS`, drawn with the seed) before the footer until it is 3-4 KB long.
    """
    values = _Values(seed + 1000)
    rng = random.Random(seed + 2000)
    documents = []
    for template in PAGE_TEMPLATES:
        for index in range(per_template):
            body = [template.navigation, template.title, *template.paragraphs]
            extras = list(PAGE_EXTRAS)
            rng.shuffle(extras)
            while len("\n\n".join(body + [template.footer])) < PAGE_MIN_CHARS:
                body.append(extras.pop())
            skeleton = "\n\n".join(body + [template.footer])
            text, spans = fill_template(skeleton, values, _not_in(skeleton))
            documents.append(EvalDocument(f"page-{template.site}-{index:02d}", "page", text,
                                          spans))
    return documents


def build_eval_set(seed: int = DEFAULT_SEED, sentences_per_type: int = 60,
                   pages_per_template: int = 12) -> List[EvalDocument]:
    """The whole evaluation set: sentences first, then pages. Deterministic for a seed."""
    return build_sentences(seed, sentences_per_type) + build_pages(seed, pages_per_template)


def non_pii_words(document: EvalDocument) -> List[str]:
    """The whitespace-separated words of the document outside every planted span."""
    pieces, position = [], 0
    for span in sorted(document.spans, key=lambda span: span.start):
        pieces.append(document.text[position:span.start])
        position = span.end
    pieces.append(document.text[position:])
    return " ".join(pieces).split()


if __name__ == "__main__":
    _documents = build_eval_set()
    _pages = [d for d in _documents if d.kind == "page"]
    print(f"{len(_documents)} documents; pages {min(len(d.text) for d in _pages)}-"
          f"{max(len(d.text) for d in _pages)} characters")
    print(_pages[0].text)
