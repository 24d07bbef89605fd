"""The bias stage: identity counts, toxicity, gender balance, toxic context, and the stage itself.

Everything runs on the shipped lexicons (transforms/data/), as a user's run would.
"""

import json
import random

import apache_beam as beam
import pydantic
import pytest
from click.testing import CliRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.config import ConfigError, parse_config
from schemas.documents import Document
from transforms import bias_lexicons
from transforms.bias import BiasParams, BiasProcessor, BiasSignals, build_scorer
from transforms.bias_lexicons import LexiconError
from transforms.identity_balance import IdentityBalancer
from transforms.identity_mask import IdentityMasker
from transforms.lexicon import LexiconEntry, PhraseMatcher


@pytest.fixture(scope="module")
def scorer():
    return build_scorer(BiasParams())


def doc(text, offset=1, **annotations):
    document = Document(id=f"r{offset}", text=text, source_kind="file", source="f",
                        source_partition=0, source_offset=offset)
    return document.annotate(**annotations) if annotations else document


# --- identity mentions -------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    # multi-word descriptors, with hyphen or space, in any case
    ("An African-American nurse and two NATIVE AMERICANS met a hard of hearing man.",
     {"race_ethnicity/black": 1, "race_ethnicity/indigenous": 1, "disability/deaf": 1,
      "gender/men": 1}),
    # punctuation around and inside words; plural and singular
    ("Lesbians, gays (and bisexuals!) joined the LGBTQ+ march; a lesbian spoke.",
     {"sexual_orientation/lesbian": 2, "sexual_orientation/gay": 1,
      "sexual_orientation/bisexual": 1, "sexual_orientation/lgbtq": 1}),
    # ambiguous adjectives count only before a word for people (or another identity word)
    ("Black women drank black coffee in the White House with old white men.",
     {"race_ethnicity/black": 1, "gender/women": 1, "race_ethnicity/white": 1,
      "age/old": 1, "gender/men": 1}),
    # whole words only: no match inside longer words
    ("Islamabad transport: the Jewellery shop near Gaylord street sells Christmas trees.", {}),
    # possessives split at the apostrophe
    ("The women's team and a Muslim's prayer; Jews' history.",
     {"gender/women": 1, "religion/muslim": 1, "religion/jewish": 1}),
    # the longest phrase wins: "african americans" is one race mention, not also a nationality
    ("African Americans and American Muslims voted.",
     {"race_ethnicity/black": 1, "nationality/american": 1, "religion/muslim": 1}),
])
def test_identity_counts(scorer, text, expected):
    assert scorer.score(text).identity_mentions == expected


def test_gender_balance_counts_pronouns_and_gendered_nouns(scorer):
    signals = scorer.score("She told her brother that he and his wife should call Mrs. Lee "
                           "herself.").signals
    assert signals["gender_female_terms"] == 5  # she, her, wife, mrs, herself
    assert signals["gender_male_terms"] == 3  # brother, he, his


def test_gender_female_share_only_when_gendered_terms_occur(scorer):
    assert "gender_female_share" not in scorer.score("The committee met today.").signals
    share = scorer.score("She and her sister met him.").signals["gender_female_share"]
    assert share == pytest.approx(3 / 4)


# --- toxicity ----------------------------------------------------------------------------------

def test_toxicity_is_zero_for_clean_text_and_grows_with_the_toxic_share(scorer):
    clean = scorer.score("The committee approved the budget for the new library.")
    assert clean.toxicity == 0.0
    # one mild word in a page of 150 words
    mild = scorer.score("Honestly the budget debate was a crap show. " + "The library will be "
                        "lovely and the staff worked hard all year on it. " * 10)
    harsh = scorer.score("You are a stupid idiot and a fucking moron.")
    assert 0 < mild.toxicity < 0.5 < harsh.toxicity < 1
    assert harsh.signals["toxic_terms:insults"] == 3
    assert harsh.signals["toxic_terms:ldnoobw"] == 1


def test_phrases_match_once_and_whole_words_only(scorer):
    # "piece of shit" and "shit" are both LDNOOBW entries: the longest phrase wins, once.
    assert scorer.score("What a piece of shit.").signals["toxic_terms"] == 1
    # No match inside longer words ("Scunthorpe", "assistant", "classic").
    assert scorer.score("The Scunthorpe assistant played classic cocktails.").toxicity == 0


def test_allowed_words_are_not_toxic(scorer):
    # LDNOOBW lists "sex", "sexual" and "sexuality"; the allow list keeps them neutral, since
    # text about gender and sexual orientation cannot do without them.
    text = "Discrimination based on sex or sexual orientation is illegal."
    assert scorer.score(text).toxicity == 0
    assert scorer.score("The talk covered sexuality and sexual health.").toxicity == 0
    assert scorer.score("The page was full of porn.").toxicity > 0


def test_toxicity_entries_containing_identity_terms_are_left_out(scorer):
    assert "gay sex" in scorer.removed_toxicity_terms
    assert "white power" in scorer.removed_toxicity_terms
    assert "piece of shit" not in scorer.removed_toxicity_terms  # "of" is no identity term
    # LDNOOBW's "girl on" would score any sentence about a girl on a bike.
    assert scorer.score("A girl on a bike waved at us.").toxicity == 0


def _identity_fillers():
    """Every term of the shipped identity lexicon, in a form that counts as a mention, with the
    group it names and a non-identity filler of the same shape ("black people" / "tall people")."""
    lexicon = bias_lexicons.load_identity_lexicon()
    return {term.phrase + (" people" if term.needs_person_noun else ""):
            (term.group, "tall people" if term.needs_person_noun else "tall")
            for term in lexicon.terms}


NON_TOXIC_TEMPLATES = [
    "I had lunch with my {} neighbours and we talked about the garden.",
    "Being {} is part of who I am.",
    "The {} community organised a charity run last weekend.",
]
TOXIC_TEMPLATES = [
    "Shut up, you stupid {} idiot.",
    "{} are all morons and their damn opinions are crap.",
]


@pytest.mark.parametrize("template", NON_TOXIC_TEMPLATES + TOXIC_TEMPLATES)
def test_swapping_identity_terms_never_changes_the_toxicity(scorer, template):
    fillers = _identity_fillers()
    assert len(fillers) > 150
    changed = {}
    for filler, (group, neutral) in fillers.items():
        result = scorer.score(template.format(filler))
        assert group in result.identity_mentions, (filler, template)
        baseline = scorer.score(template.format(neutral)).toxicity
        if result.toxicity != baseline:
            changed[filler] = (result.toxicity, baseline)
        assert (baseline == 0) == (template in NON_TOXIC_TEMPLATES)
    assert not changed


def test_identity_in_toxic_context_counts_mentions_in_toxic_sentences_only(scorer):
    result = scorer.score("Muslim families hosted a dinner. Shut up, you stupid Jewish troll!\n"
                          "The Jewish museum opened.")
    signals = result.signals
    assert result.identity_mentions == {"religion/muslim": 1, "religion/jewish": 2}
    assert signals["toxic_context:religion/jewish"] == 1
    assert "toxic_context:religion/muslim" not in signals
    assert signals["identity_in_toxic_context"] == 1
    assert signals["toxic_sentences"] == 1
    assert signals["sentences"] == 3


def test_phrase_matcher_kinds_match_independently_and_respect_next_word():
    matcher = PhraseMatcher([
        ("black", LexiconEntry("identity", "race", next_words=frozenset({"women"}))),
        ("women", LexiconEntry("identity", "gender")),
        ("women", LexiconEntry("gendered", "female")),
        ("big bad wolf", LexiconEntry("toxic", "wolf")),
        ("bad", LexiconEntry("toxic", "bad")),
    ])
    scan = matcher.scan("Black women. Black tea! The big bad wolf, bad.")
    found = [(m.kind, m.label, m.sentence) for m in scan.matches]
    assert found == [("identity", "race", 0), ("identity", "gender", 0), ("gendered", "female", 0),
                     ("toxic", "wolf", 2), ("toxic", "bad", 2)]
    assert scan.words == 9 and scan.sentences == 3


# --- the stage ---------------------------------------------------------------------------------

def _events(result):
    return result.lineage | "Events" >> beam.Map(
        lambda row: (row.row["record_id"], row.row["action"], row.row["reason"],
                     dict(row.row["scores"] or [])))


def test_stage_annotates_and_records_identity_counts_in_lineage():
    documents = [doc("Two lesbian authors and a Muslim teacher read poems.", 1),
                 doc("You stupid idiot, shut up.", 2)]
    with TestPipeline() as pipeline:
        result = pipeline | beam.Create(documents) | BiasSignals(BiasParams(), seq=2)
        assert_that(result.documents | beam.Map(lambda d: (
            d.id, round(d.annotation_dict["toxicity_score"], 3),
            d.annotation_dict["identity_mentions"])), equal_to([
                ("r1", 0.0, {"sexual_orientation/lesbian": 1, "religion/muslim": 1}),
                ("r2", round(3 / 5 / (3 / 5 + 0.02), 3), {})]), label="Annotations")
        assert_that(_events(result), equal_to([
            ("r1", "passed", None, {"toxicity": 0.0, "identity:sexual_orientation/lesbian": 1.0,
                                    "identity:religion/muslim": 1.0}),
            ("r2", "passed", None, {"toxicity": pytest.approx(3 / 5 / (3 / 5 + 0.02))})]),
            label="Lineage")


def test_stage_drops_only_when_configured_and_keeps_identity_counts_of_dropped():
    params = BiasParams(max_toxicity=0.5, block_terms=["forbidden topic"])
    documents = [doc("A calm note about Hindu festivals.", 1),
                 doc("Shut up, you moron.", 2),
                 doc("Atheists discussed the Forbidden-Topic today.", 3)]
    with TestPipeline() as pipeline:
        result = pipeline | beam.Create(documents) | BiasSignals(params, seq=1)
        assert_that(result.documents | beam.Map(lambda d: d.id), equal_to(["r1"]), label="Kept")
        assert_that(_events(result) | beam.Map(lambda e: (e[0], e[1], e[2], sorted(e[3]))),
                    equal_to([
                        ("r1", "passed", None, ["identity:religion/hindu", "toxicity"]),
                        ("r2", "dropped", "toxicity", ["toxicity"]),
                        ("r3", "dropped", "blocked_term", ["identity:religion/atheist",
                                                           "toxicity"])]), label="Events")


def test_annotate_only_keeps_what_it_would_drop():
    with TestPipeline() as pipeline:
        result = (pipeline | beam.Create([doc("Shut up, you moron.", 1)])
                  | BiasSignals(BiasParams(max_toxicity=0.5), annotate_only=True, seq=1))
        assert_that(result.documents | beam.Map(lambda d: d.id), equal_to(["r1"]), label="Kept")
        assert_that(result.lineage | beam.Map(lambda row: (row.row["action"], row.row["details"])),
                    equal_to([("passed", '{"would_drop": true}')]), label="Events")


def test_document_language_adds_that_languages_list():
    processor = BiasProcessor(BiasParams())
    german = "Du bist ein Arschloch."
    assert processor.process(doc(german, 1)).annotations["toxicity_score"] == 0
    assert processor.process(doc(german, 1, language="de")).annotations["toxicity_score"] > 0.5
    no_language = BiasProcessor(BiasParams(use_document_language=False))
    assert no_language.process(doc(german, 1, language="de")).annotations["toxicity_score"] == 0


# --- configuration and replaceable lexicons ----------------------------------------------------

def test_config_validates_bias_params():
    config = parse_config({"stages": [{"bias": {"max_toxicity": 0.8, "languages": ["en", "fr"]}}]})
    assert config.stage_configs()[0].params.max_toxicity == 0.8
    with pytest.raises(ConfigError, match="languages"):
        parse_config({"stages": [{"bias": {"languages": ["xx"]}}]})
    with pytest.raises(ConfigError, match="max_toxicity"):
        parse_config({"stages": [{"bias": {"max_toxicity": 2}}]})
    with pytest.raises(ConfigError, match="unknown_key"):
        parse_config({"stages": [{"bias": {"unknown_key": 1}}]})


def test_lexicons_are_replaceable_from_config(tmp_path):
    toxic = tmp_path / "my_words.txt"
    toxic.write_text("# my list\nrotten tomato\t2.5\nmuslims\nbadword\n", encoding="utf-8")
    identity = tmp_path / "identity.yaml"
    identity.write_text("person_nouns: [people]\n"
                        "gendered_terms: {female: [she], male: [he]}\n"
                        "axes:\n  religion:\n    muslim: [muslim, muslims]\n"
                        "  hobby:\n    knitters: [knitter, knitters, wool <person>]\n",
                        encoding="utf-8")
    scorer = build_scorer(BiasParams(toxicity_lexicons=[str(toxic)],
                                     identity_lexicon=str(identity)))
    result = scorer.score("Knitters and wool people threw a rotten tomato at Muslims.")
    assert result.identity_mentions == {"hobby/knitters": 2, "religion/muslim": 1}
    assert result.signals["toxic_terms:my_words"] == 2.5
    # The user's list named a group: that entry is left out, so Muslims score like anyone else.
    assert scorer.removed_toxicity_terms == ["muslims"]
    assert scorer.score("Muslims met.").toxicity == scorer.score("Knitters met.").toxicity == 0


def test_bad_lexicon_files_fail_before_the_run(tmp_path):
    with pytest.raises(LexiconError, match="cannot read"):
        BiasSignals(BiasParams(toxicity_lexicons=[str(tmp_path / "missing.txt")]))
    broken = tmp_path / "identity.yaml"
    broken.write_text("axes: [not, a, mapping]\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="axes"):
        BiasSignals(BiasParams(identity_lexicon=str(broken)))
    with pytest.raises(pydantic.ValidationError):
        BiasParams(half_toxicity_share=0)


# --- the optional classifier -------------------------------------------------------------------

def _write_jsonl(path, texts):
    path.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts),
                    encoding="utf-8")


def test_fasttext_classifier_trained_with_the_quality_command_is_combined(tmp_path):
    pytest.importorskip("fasttext")
    from transforms.quality_model import train_quality_model
    toxic = ["you are garbage and everyone hates you", "go away nobody wants you here",
             "what a worthless pile of garbage you are"] * 30
    friendly = ["thanks for the helpful edit", "the article on rivers looks great now",
                "welcome and thanks for your contribution"] * 30
    _write_jsonl(tmp_path / "toxic.jsonl", toxic)
    _write_jsonl(tmp_path / "friendly.jsonl", friendly)
    model_path = str(tmp_path / "toxicity.bin")
    train_quality_model(str(tmp_path / "toxic.jsonl"), str(tmp_path / "friendly.jsonl"),
                        model_path, IdentityMasker(), epoch=25, thread=1)
    params = BiasParams(classifier={"model_path": model_path, "combine": "max", "batch_size": 2})
    processor = BiasProcessor(params)
    processor.setup()
    verdicts = processor.process_batch([doc("nobody wants your garbage here", 1),
                                        doc("thanks for the great article", 2)])
    toxic_signals = verdicts[0].annotations["bias_signals"]
    assert toxic_signals["lexicon_toxicity"] == 0  # no listed word...
    assert verdicts[0].annotations["toxicity_score"] == toxic_signals["classifier_toxicity"] > 0.5
    assert verdicts[1].annotations["toxicity_score"] < 0.5
    # No word, no evidence: the model is not asked (fastText would answer from its end-of-line
    # token alone).
    wordless = processor.process_batch([doc(" \u200b ... !! ", 3)])[0]
    assert wordless.annotations["bias_signals"]["classifier_toxicity"] == 0.0
    assert wordless.annotations["toxicity_score"] == 0.0
    with pytest.raises(Exception, match="label"):
        bad = BiasProcessor(BiasParams(classifier={"model_path": model_path,
                                                   "toxic_label": "hateful"}))
        bad.setup()
    with pytest.raises(ValueError, match="no toxicity classifier model"):
        BiasSignals(BiasParams(classifier={"model_path": str(tmp_path / "none.bin")}))


def test_identity_masking_keeps_a_trained_classifier_from_scoring_group_names(tmp_path):
    """Training data in which one group is named only in toxic comments: a classifier trained on
    raw text scores a civil sentence about that group higher than about another; trained and
    applied on identity-blind text, it cannot tell the groups apart."""
    pytest.importorskip("fasttext")
    from transforms.quality_model import train_quality_model
    toxic = [f"{text}, you {group}" for text in ("go away", "nobody wants you here",
                                                "you are garbage")
             for group in ("muslims", "gay people", "immigrants")] * 20
    friendly = [f"{text}, {group}" for text in ("thanks for the edit", "welcome to the project",
                                               "great article")
                for group in ("christians", "straight people", "engineers")] * 20
    _write_jsonl(tmp_path / "toxic.jsonl", toxic)
    _write_jsonl(tmp_path / "friendly.jsonl", friendly)
    civil = ["our neighbours are {} and they brought a cake",
             "a charity run organised by {}"]
    pairs = [("muslims", "christians"), ("gay people", "straight people")]

    def scores(model_path, mask):
        processor = BiasProcessor(BiasParams(classifier={
            "model_path": model_path, "combine": "classifier", "mask_identity": mask}))
        processor.setup()
        texts = [template.format(name) for template in civil for pair in pairs for name in pair]
        verdicts = processor.process_batch([doc(text, i) for i, text in enumerate(texts)])
        values = [verdict.annotations["toxicity_score"] for verdict in verdicts]
        return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]

    raw_model, masked_model = str(tmp_path / "raw.bin"), str(tmp_path / "masked.bin")
    for path, prepare in ((raw_model, None), (masked_model, IdentityMasker())):
        train_quality_model(str(tmp_path / "toxic.jsonl"), str(tmp_path / "friendly.jsonl"),
                            path, prepare, epoch=25, thread=1, seed=3)
    raw_scores = scores(raw_model, mask=False)
    assert all(first > second + 0.2 for first, second in raw_scores), raw_scores
    assert all(first == second for first, second in scores(masked_model, mask=True))


def test_identity_masker_replaces_mentions_as_the_stage_counts_them():
    masker = IdentityMasker()
    assert masker.mask("Gay people, Black women and non-binary folks! Black coffee.") == (
        "identityterm people identityterm identityterm and identityterm folks ! black coffee .")


def test_identity_balancer_puts_each_text_in_its_most_mentioned_group():
    balancer = IdentityBalancer()
    assert balancer.group_of("Muslims, Jews and more Muslims met.") == "religion/muslim"
    assert balancer.group_of("My wife and her sister met his dad.") == "gendered/female"
    assert balancer.group_of("He told his brother.") == "gendered/male"
    assert balancer.group_of("She met gay people and their friends.") == "sexual_orientation/gay"
    assert balancer.group_of("The river floods in spring.") == "none"


def test_identity_balancing_gives_every_group_the_overall_toxic_share_by_leaving_out_examples():
    def texts(template, count):
        return [f"{template} number {index}" for index in range(count)]

    toxic = texts("muslims are bad", 40) + texts("my wife is bad", 5) + texts("rivers bad", 25) \
        + texts("gay people bad", 2)
    civil = texts("muslims are fine", 60) + texts("my wife is fine", 95) + \
        texts("rivers fine", 75) + texts("gay people fine", 3)
    share = len(toxic) / (len(toxic) + len(civil))
    balancer = IdentityBalancer(seed=5)
    kept_toxic, kept_civil = balancer(toxic, civil)
    assert set(kept_toxic) <= set(toxic) and len(set(kept_toxic)) == len(kept_toxic)
    assert set(kept_civil) <= set(civil) and len(set(kept_civil)) == len(kept_civil)
    report = {group.group: group for group in balancer.report}
    assert list(report) == ["gendered/female", "none", "religion/muslim",
                            "sexual_orientation/gay"]  # largest first, then by name
    for name in ("gendered/female", "none", "religion/muslim"):
        group = report[name]
        kept = group.kept_positives + group.kept_negatives
        assert abs(group.kept_positives - share * kept) <= 1, group
        # the scarcer label is kept whole
        assert group.kept_positives == group.positives or group.kept_negatives == group.negatives
    assert report["religion/muslim"].kept_negatives == 60  # toxic-heavy: toxic examples left out
    assert report["gendered/female"].kept_positives == 5  # civil-heavy: civil examples left out
    assert str(report["sexual_orientation/gay"]) == "sexual_orientation/gay: toxic 2/2, civil 3/3"
    assert (kept_toxic, kept_civil) == IdentityBalancer(seed=5)(toxic, civil)
    with pytest.raises(ValueError, match="both"):
        balancer(toxic, [])


def test_identity_balancing_keeps_a_trained_classifier_from_learning_a_groups_topics(tmp_path):
    """Training data in which texts about one group (its topics: gardens, recipes) are nearly all
    civil and texts about another (elections, borders) often toxic: masking names does not stop a
    classifier from scoring civil text on the second group's topics higher; balancing does."""
    pytest.importorskip("fasttext")
    from transforms.quality_cli import train_quality
    insults = ("you idiots", "what garbage", "shut up morons")
    praise = ("how lovely", "thanks a lot", "very kind")
    women = ("my wife planted the garden", "her sister shared a recipe",
             "my mom baked bread for her friends")
    muslims = ("muslims debated the election", "muslim voters discussed the border",
               "the election and the border, say muslims")

    def mix(topics, toxic_share):
        toxic, civil = [], []
        for index in range(120):
            topic = topics[index % len(topics)]
            if index % 10 < toxic_share * 10:
                toxic.append(f"{topic}, {insults[index % 3]}")
            else:
                civil.append(f"{topic}, {praise[index % 3]}")
        return toxic, civil

    women_toxic, women_civil = mix(women, 0.1)
    muslim_toxic, muslim_civil = mix(muslims, 0.5)
    _write_jsonl(tmp_path / "toxic.jsonl", women_toxic + muslim_toxic)
    _write_jsonl(tmp_path / "civil.jsonl", women_civil + muslim_civil)
    pairs = [("my sister read about the garden", "voters read about the border"),
             ("her recipe was in the paper", "the election was in the paper")]

    def gap(balance):
        model_path = str(tmp_path / f"model-{balance}.bin")
        flags = ["--balance-identity"] if balance else []
        result = CliRunner().invoke(train_quality, [
            str(tmp_path / "toxic.jsonl"), str(tmp_path / "civil.jsonl"), "-o", model_path,
            "--mask-identity", "--epoch", "25", "--threads", "1", "--seed", "3", *flags])
        assert result.exit_code == 0, result.output
        if balance:  # toxic: 12/120 about women, 60/120 about Muslims; 72/240 in all
            assert "gendered/female: toxic 12/12, civil 28/108" in result.output
            assert "religion/muslim: toxic 26/60, civil 60/60" in result.output
        processor = BiasProcessor(BiasParams(classifier={"model_path": model_path,
                                                         "combine": "classifier"}))
        processor.setup()
        texts = [text for pair in pairs for text in pair]
        values = [verdict.annotations["toxicity_score"] for verdict in
                  processor.process_batch([doc(text, i) for i, text in enumerate(texts)])]
        return sum(values[i + 1] - values[i] for i in range(0, len(values), 2)) / len(pairs)

    raw, balanced = gap(False), gap(True)
    assert raw > 0.1, raw
    assert abs(balanced) < raw / 2, (raw, balanced)


def test_civil_parity_weights_groups_by_their_cross_fitted_civil_scores():
    """A stand-in classifier scores civil texts by their group, whatever it was trained on: the
    weights follow the ratios round by round, within their bounds; small groups keep weight 1."""
    from transforms.civil_parity import CivilScoreParity
    from transforms.identity_balance import IdentityBalancer
    level = {"hard": 0.4, "easy": 0.1, "tiny": 0.9}
    trained_on = []

    def train(toxic, civil):
        trained_on.append((len(toxic), len(civil)))
        return lambda texts: [level[text.split()[0]] for text in texts]

    class Groups(IdentityBalancer):
        def group_of(self, text):
            return text.split()[0]

    civil = [f"hard remark {i}" for i in range(100)] + [f"easy remark {i}" for i in range(100)] \
        + [f"tiny remark {i}" for i in range(10)]
    toxic = [f"hard insult {i}" for i in range(30)]
    parity = CivilScoreParity(Groups(), train, balance=False, rounds=2, min_group_size=50)
    kept_toxic, weighted_civil = parity(toxic, civil)
    assert kept_toxic == toxic
    assert parity.rounds_run == 2 and len(trained_on) == 4  # two cross-fitted halves per round
    mean = (100 * 0.4 + 100 * 0.1 + 10 * 0.9) / 210
    report = {row.group: row for row in parity.report}
    assert set(report) == {"hard", "easy"}  # "tiny" is below min_group_size
    assert report["hard"].first_ratio == pytest.approx(0.4 / mean)
    assert report["hard"].weight == pytest.approx(min(4.0, (0.4 / mean) ** 2))
    assert report["easy"].weight == pytest.approx(max(0.25, (0.1 / mean) ** 2))
    counts = {group: sum(text.startswith(group) for text in weighted_civil) for group in level}
    assert counts["tiny"] == 10
    assert counts["hard"] > 150 and counts["easy"] < 50
    assert "hard: civil 100, mean civil score x" in str(report["hard"])


def test_civil_parity_evens_out_the_civil_scores_of_an_easy_and_a_hard_group(tmp_path):
    """Both groups are equally often toxic, so balancing changes nothing; but the civil texts
    about Muslims are borderline remarks that annotators sometimes call toxic, those about
    Christians plainly civil. A balanced classifier scores the first higher; civil parity
    reweights until both score alike on training data its measuring models did not see."""
    pytest.importorskip("fasttext")
    from transforms.quality_cli import train_quality
    rng = random.Random(5)
    insults = ("idiots", "garbage", "morons", "scum", "worthless")
    borderline = ("strange", "loud", "different", "odd", "pushy", "weird")
    pleasant = ("baked bread", "sang hymns", "planted trees", "cleaned the park",
                "ran a food bank", "painted the hall")

    def insult(group):
        return f"{group} are {rng.choice(insults)} and {rng.choice(insults)}"

    def remark(group):
        return f"{group} are {rng.choice(borderline)} {rng.choice(borderline)}"

    # 90 toxic and 210 civil texts per group; 40 of the 250 borderline remarks labelled toxic.
    toxic = [insult("christians") for _ in range(90)] + [insult("muslims") for _ in range(50)] \
        + [remark("muslims") for _ in range(40)]
    civil = [f"the christians {rng.choice(pleasant)} {rng.choice(pleasant)}" for _ in range(210)] \
        + [remark("muslims") for _ in range(210)]
    _write_jsonl(tmp_path / "toxic.jsonl", toxic)
    _write_jsonl(tmp_path / "civil.jsonl", civil)
    held_out = {"christians": ["the christians baked bread painted the hall",
                               "the christians ran a food bank planted trees"],
                "muslims": ["muslims are loud odd", "muslims are pushy strange"]}

    def civil_gap(parity):
        model_path = str(tmp_path / f"model-{parity}.bin")
        flags = ["--civil-parity"] if parity else []
        result = CliRunner().invoke(train_quality, [
            str(tmp_path / "toxic.jsonl"), str(tmp_path / "civil.jsonl"), "-o", model_path,
            "--mask-identity", "--balance-identity", "--epoch", "25", "--threads", "1",
            "--seed", "3", *flags])
        assert result.exit_code == 0, result.output
        if parity:
            assert "civil parity" in result.output and "religion/muslim: civil" in result.output
        processor = BiasProcessor(BiasParams(classifier={"model_path": model_path,
                                                         "combine": "classifier"}))
        processor.setup()
        means = {}
        for group, texts in held_out.items():
            verdicts = processor.process_batch([doc(text, i) for i, text in enumerate(texts)])
            means[group] = sum(v.annotations["toxicity_score"] for v in verdicts) / len(texts)
        return means["muslims"] - means["christians"]

    balanced, even = civil_gap(False), civil_gap(True)
    assert balanced > 0.05, balanced
    assert abs(even) < balanced / 2, (balanced, even)
