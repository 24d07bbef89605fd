"""The input contract: what parses into a document and what is quarantined, with which reason."""

import json

import pytest

from schemas import raw
from transforms.parse import MalformedMessage, domain_of, parse_payload


def message(payload, offset=1):
    return raw.RawMessage(raw.FILE, "/data/in.jsonl", 0, offset, payload)


def test_valid_payload_keeps_every_optional_field():
    payload = json.dumps({"id": 7, "text": "hello", "url": "https://x.org/a", "source": "crawl",
                          "metadata": {"b": 1, "a": [2]}, "extra": "ignored"}).encode()
    document = parse_payload(message(payload, offset=3), 1000)
    assert document.text == "hello"
    assert document.source_id == "7"
    assert document.url == "https://x.org/a"
    assert document.source_label == "crawl"
    assert json.loads(document.metadata) == {"a": [2], "b": 1}
    assert document.id == raw.record_id(raw.FILE, "/data/in.jsonl", 0, 3)
    assert document.source_offset == 3


@pytest.mark.parametrize("payload, reason", [
    (None, "empty_payload"),
    (b"", "empty_payload"),
    (b"x" * 2000, "payload_too_large"),
    (b'{"text": "caf\xe9"}', "invalid_utf8"),
    (b"not json", "invalid_json"),
    (b'{"text": "unterminated', "invalid_json"),
    (b"[1, 2]", "not_an_object"),
    (b'"just a string"', "not_an_object"),
    (b'{"id": "a"}', "missing_text"),
    (b'{"text": null}', "missing_text"),
    (b'{"text": 5}', "text_not_string"),
    (b'{"text": ["a"]}', "text_not_string"),
    (b'{"text": "ok", "id": {"x": 1}}', "invalid_field"),
    (b'{"text": "ok", "id": true}', "invalid_field"),
    (b'{"text": "ok", "url": 5}', "invalid_field"),
    (b'{"text": "ok", "metadata": [1]}', "invalid_field"),
])
def test_malformed_payloads_name_their_reason(payload, reason):
    with pytest.raises(MalformedMessage) as caught:
        parse_payload(message(payload), 1000)
    assert caught.value.reason == reason


def test_record_ids_are_deterministic_and_coordinate_based():
    first = raw.record_id(raw.KAFKA, "topic", 2, 41)
    assert first == raw.record_id(raw.KAFKA, "topic", 2, 41)
    assert len(first) == 32
    assert first != raw.record_id(raw.KAFKA, "topic", 2, 42)
    assert first != raw.record_id(raw.KAFKA, "topic", 1, 41)
    assert first != raw.record_id(raw.FILE, "topic", 2, 41)


@pytest.mark.parametrize("url, domain", [
    ("https://www.Example.org/a?b", "example.org"),
    ("http://news.example.co.uk:8080/", "news.example.co.uk"),
    ("example.com/path", "example.com"),
    ("", None),
    (None, None),
])
def test_domain_of(url, domain):
    assert domain_of(url) == domain
