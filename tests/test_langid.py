"""The langid stage with the real lid.176 model: languages, scores, filters and lineage."""

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.documents import Document
from transforms.langid import (LanguageId, LanguageIdParams, LanguageIdProcessor,
                               default_model_path, language_code)
from transforms.quality_fasttext import ModelNotFound

SENTENCES = {
    "en": "The library will stay open until nine o'clock on weekdays from next month.",
    "de": "Die Bibliothek bleibt ab nächstem Monat an Wochentagen bis neun Uhr geöffnet.",
    "fr": "À partir du mois prochain, la bibliothèque restera ouverte jusqu'à neuf heures.",
    "es": "A partir del próximo mes, la biblioteca abrirá hasta las nueve de la noche.",
    "it": "Dal mese prossimo la biblioteca resterà aperta fino alle nove di sera.",
    "pt": "A partir do próximo mês, a biblioteca ficará aberta até às nove da noite.",
    "nl": "Vanaf volgende maand blijft de bibliotheek op werkdagen open tot negen uur.",
    "sv": "Från och med nästa månad är biblioteket öppet till klockan nio på vardagar.",
    "pl": "Od przyszłego miesiąca biblioteka będzie otwarta w dni robocze do dziewiątej.",
    "ru": "Со следующего месяца библиотека будет работать по будням до девяти вечера.",
    "uk": "З наступного місяця бібліотека працюватиме в будні дні до дев'ятої вечора.",
    "el": "Από τον επόμενο μήνα η βιβλιοθήκη θα μένει ανοιχτή έως τις εννέα το βράδυ.",
    "tr": "Gelecek aydan itibaren kütüphane hafta içi saat dokuza kadar açık kalacak.",
    "fi": "Ensi kuusta alkaen kirjasto on auki arkipäivisin kello yhdeksään asti.",
    "ja": "来月から図書館は平日の夜九時まで開館します。",
    "zh": "从下个月开始，图书馆在工作日将开放到晚上九点。",
    "ko": "다음 달부터 도서관은 평일 밤 아홉 시까지 문을 엽니다.",
    "ar": "اعتبارا من الشهر المقبل ستبقى المكتبة مفتوحة حتى الساعة التاسعة مساء.",
    "hi": "अगले महीने से पुस्तकालय सप्ताह के दिनों में रात नौ बजे तक खुला रहेगा।",
    "he": "החל מהחודש הבא הספרייה תהיה פתוחה בימי חול עד השעה תשע בערב.",
}


def doc(text, offset=1):
    return Document(id=f"r{offset}", text=text, source_kind="file", source="f",
                    source_partition=0, source_offset=offset)


@pytest.fixture(scope="module")
def processor():
    processor = LanguageIdProcessor(LanguageIdParams())
    processor.setup()
    return processor


def test_the_default_model_comes_from_an_installed_package():
    path = default_model_path()
    assert path.endswith("lid.176.ftz")


def test_sentences_in_twenty_languages_are_identified(processor):
    languages = list(SENTENCES)
    verdicts = processor.process_batch([doc(SENTENCES[code], i)
                                        for i, code in enumerate(languages)])
    found = {code: verdict.annotations["language"] for code, verdict in zip(languages, verdicts)}
    assert found == {code: code for code in languages}
    for verdict in verdicts:
        assert not verdict.dropped
        assert 0.5 < verdict.annotations["language_score"] <= 1.0


def test_single_document_and_multiline_text(processor):
    verdict = processor.process(doc("Guten Morgen.\nWie geht es dir heute?\n\nMir geht es gut."))
    assert verdict.annotations["language"] == "de"


def test_empty_text_gets_no_language(processor):
    verdict = processor.process(doc(" \n "))
    assert verdict.annotations == {"language": None, "language_score": 0.0}
    assert not verdict.dropped


def test_obsolete_codes_are_replaced():
    assert language_code("iw") == "he" and language_code("en") == "en"
    assert language_code("ceb") == "ceb"


def test_a_missing_model_file_fails_at_construction(tmp_path):
    with pytest.raises(ModelNotFound):
        LanguageIdProcessor(LanguageIdParams(model_path=str(tmp_path / "nope.ftz")))


def test_filters_by_allowed_languages_and_min_score():
    # lid.176 calls bare numbers English, with a probability of about 0.12.
    documents = [doc(SENTENCES["en"], 1), doc(SENTENCES["fr"], 2), doc("12345 67890", 3)]

    def events(result, label):
        return result.lineage | label >> beam.Map(lambda row: (
            row.row["record_id"], row.row["action"], row.row["reason"]))

    with TestPipeline() as pipeline:
        created = pipeline | beam.Create(documents)
        default = created | "Default" >> LanguageId(LanguageIdParams(), seq=1)
        assert_that(default.documents | "DefaultIds" >> beam.Map(lambda d: d.id),
                    equal_to(["r1", "r2", "r3"]), label="DefaultKeepsAll")

        english = created | "English" >> LanguageId(
            LanguageIdParams(allowed_languages=["en"]), seq=1)
        assert_that(english.documents | "EnglishKept" >> beam.Map(
            lambda d: (d.id, d.annotation_dict["language"])),
            equal_to([("r1", "en"), ("r3", "en")]), label="EnglishKept")
        assert_that(events(english, "EnglishEvents"), equal_to([
            ("r1", "passed", None), ("r2", "dropped", "language_not_allowed"),
            ("r3", "passed", None)]), label="EnglishEventsCheck")

        confident = created | "Confident" >> LanguageId(
            LanguageIdParams(min_score=0.5), seq=1)
        assert_that(confident.lineage | "ConfidentEvents" >> beam.Map(
            lambda row: (row.row["record_id"], row.row["reason"], row.row["threshold"])
            if row.row["action"] == "dropped" else (row.row["record_id"], "kept", None)),
            equal_to([("r1", "kept", None), ("r2", "kept", None),
                      ("r3", "language_score_low", 0.5)]), label="ConfidentEventsCheck")
