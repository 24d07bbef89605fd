"""The fastText quality classifier: training, scoring held-out documents, the stage and the CLI."""

import json
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from click.testing import CliRunner

from schemas.documents import Document
from transforms.quality import QualityParams, QualitySignals
from transforms.quality_cli import train_quality
from transforms.quality_fasttext import ModelNotFound
from transforms.quality_model import (QualityModel, QualityModelParams, QualityModelProcessor,
                                      read_texts, train_quality_model)

SUBJECTS = ["The council", "A small bird", "Researchers at the university", "My neighbour",
            "The old bridge", "Our teacher", "The museum", "A local farmer", "The committee",
            "Most visitors", "The new library", "Her grandmother"]
VERBS = ["explained", "described", "repaired", "visited", "studied", "planned", "remembered",
         "discussed", "photographed", "welcomed"]
OBJECTS = ["the history of the town", "a long list of questions", "the damaged roof",
           "the results of the survey", "the garden behind the school", "an unusual letter",
           "the flooded fields", "the plans for the summer"]
ENDINGS = ["before the meeting ended", "with great care", "during the winter",
           "after a long discussion", "for the first time", "on a quiet morning"]
SPAM = ["buy now", "cheap", "best price", "click here", "free shipping", "add to cart",
        "limited offer", "discount", "sale", "$19.99", "$5", "100% free", "subscribe",
        "login", "sign up", "casino", "bonus", "top 10", "deal of the day", "order today"]


def positive_text(rng):
    sentences = [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
                 f"{rng.choice(ENDINGS)}." for _ in range(rng.randint(3, 7))]
    return " ".join(sentences)


def negative_text(rng):
    lines = [" ".join(rng.choice(SPAM) for _ in range(rng.randint(2, 6)))
             for _ in range(rng.randint(3, 8))]
    return "\n".join(lines)


def write_jsonl(path, texts):
    path.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    return str(path)


@pytest.fixture(scope="module")
def corpus():
    rng = random.Random(11)
    return {"train_pos": [positive_text(rng) for _ in range(150)],
            "train_neg": [negative_text(rng) for _ in range(150)],
            "test_pos": [positive_text(rng) for _ in range(40)],
            "test_neg": [negative_text(rng) for _ in range(40)]}


@pytest.fixture(scope="module")
def model_path(corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("quality_model")
    path = str(folder / "quality.bin")
    summary = train_quality_model(
        write_jsonl(folder / "pos.jsonl", corpus["train_pos"]),
        write_jsonl(folder / "neg.jsonl", corpus["train_neg"]), path,
        epoch=20, dim=16, bucket=50_000, thread=1)
    assert {key: summary[key] for key in ("output", "positives", "negatives", "labels")} == {
        "output": path, "positives": 150, "negatives": 150, "labels": ["hq", "lq"]}
    return path


def doc(text, offset=1):
    return Document(id=f"r{offset}", text=text, source_kind="file", source="f",
                    source_partition=0, source_offset=offset)


def auc(positive_scores, negative_scores):
    positive_scores = np.asarray(positive_scores)[:, None]
    negative_scores = np.asarray(negative_scores)[None, :]
    return float((positive_scores > negative_scores).mean()
                 + 0.5 * (positive_scores == negative_scores).mean())


def test_classifier_separates_held_out_positives_from_negatives(corpus, model_path):
    processor = QualityModelProcessor(QualityModelParams(model_path=model_path))
    processor.setup()
    held_out = corpus["test_pos"] + corpus["test_neg"]
    verdicts = processor.process_batch([doc(text, i) for i, text in enumerate(held_out)])
    scores = [verdict.annotations["quality_model_score"] for verdict in verdicts]
    positives, negatives = scores[:40], scores[40:]
    assert auc(positives, negatives) > 0.95
    assert np.mean(positives) > np.mean(negatives) + 0.1
    assert sum(score > 0.5 for score in positives) + sum(score < 0.5 for score in negatives) >= 72
    for verdict in verdicts:
        assert verdict.annotations["quality_score"] == verdict.annotations["quality_model_score"]
        assert 0.0 <= verdict.annotations["quality_score"] <= 1.0
        assert not verdict.dropped


def test_a_text_without_words_scores_zero_instead_of_the_models_bias(model_path):
    """fastText would score a wordless line from its end-of-line token alone."""
    processor = QualityModelProcessor(QualityModelParams(model_path=model_path))
    processor.setup()
    verdicts = processor.process_batch([doc(" \u200b -- ... ", 1), doc("", 2)])
    assert [verdict.annotations["quality_model_score"] for verdict in verdicts] == [0.0, 0.0]


def test_stage_scores_and_drops_below_min_score(corpus, model_path):
    documents = [doc(corpus["test_pos"][0], 1), doc(corpus["test_neg"][0], 2)]
    with TestPipeline() as pipeline:
        created = pipeline | beam.Create(documents)
        result = created | QualityModel(QualityModelParams(model_path=model_path,
                                                           min_score=0.5), seq=1)
        assert_that(result.documents | "Kept" >> beam.Map(lambda d: d.id), equal_to(["r1"]),
                    label="KeptCheck")
        assert_that(result.lineage | "Events" >> beam.Map(lambda row: (
            row.row["record_id"], row.row["action"], row.row["reason"], row.row["threshold"])),
            equal_to([("r1", "passed", None, None),
                      ("r2", "dropped", "quality_model_score_low", 0.5)]), label="EventsCheck")


@pytest.mark.parametrize("classifier_first", [True, False])
def test_the_classifier_score_wins_in_either_stage_order(corpus, model_path, classifier_first):
    """quality (heuristics) and quality_model both touch quality_score; the classifier wins."""
    heuristics = QualitySignals(QualityParams(drop_failing=False), seq=1)
    classifier = QualityModel(QualityModelParams(model_path=model_path), seq=2)
    stages = [classifier, heuristics] if classifier_first else [heuristics, classifier]
    with TestPipeline() as pipeline:
        documents = pipeline | beam.Create([doc(corpus["test_neg"][1], 1)])
        for number, stage in enumerate(stages):
            documents = documents | f"Stage{number}" >> stage
            documents = documents.documents
        assert_that(documents | beam.Map(lambda d: (
            d.annotation_dict["quality_score"] == d.annotation_dict["quality_model_score"],
            "quality_signals" in d.annotation_dict)), equal_to([(True, True)]))


def test_missing_model_and_wrong_label_fail_early(tmp_path, model_path):
    with pytest.raises(ModelNotFound):
        QualityModelProcessor(QualityModelParams(model_path=str(tmp_path / "none.bin")))
    processor = QualityModelProcessor(QualityModelParams(model_path=model_path,
                                                         positive_label="__label__good"))
    with pytest.raises(ValueError, match="no label 'good'"):
        processor.setup()


def test_model_path_is_required():
    with pytest.raises(Exception, match="model_path"):
        QualityModelParams()


def test_training_input_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n\n{"txt": "no text field"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:3"):
        list(read_texts(str(path)))


def test_train_quality_command(corpus, tmp_path):
    positives = write_jsonl(tmp_path / "pos.jsonl", corpus["train_pos"][:60])
    negatives = write_jsonl(tmp_path / "neg.jsonl", corpus["train_neg"][:60])
    output = tmp_path / "model.ftz"
    result = CliRunner().invoke(train_quality, [
        positives, negatives, "-o", str(output), "--epoch", "5", "--dim", "8",
        "--bucket", "20000", "--threads", "1", "--quantize"])
    assert result.exit_code == 0, result.output
    assert "60 positives, 60 negatives" in result.output
    processor = QualityModelProcessor(QualityModelParams(model_path=str(output)))
    processor.setup()
    good, poor = processor.process_batch([doc(corpus["test_pos"][0], 1),
                                          doc(corpus["test_neg"][0], 2)])
    assert good.annotations["quality_model_score"] > poor.annotations["quality_model_score"]
