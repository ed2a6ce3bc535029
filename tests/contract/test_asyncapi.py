"""The committed AsyncAPI document is the one the code generates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoloader_contracts.asyncapi import build_document, render, with_catalogue
from autoloader_contracts.events import EVENT_TYPES
from autoloader_contracts.subjects import events_of, subject_template

pytestmark = pytest.mark.unit

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_committed_document_matches_the_code() -> None:
    assert DOCUMENT.exists(), "docs/asyncapi.json is missing: run `just asyncapi`"
    assert DOCUMENT.read_text() == render(), "docs/asyncapi.json is stale: run `just asyncapi` and commit it"


def test_the_event_catalogue_in_the_docs_matches_the_code() -> None:
    events_doc = DOCUMENT.with_name("events.md").read_text()
    assert events_doc == with_catalogue(events_doc), "docs/events.md is stale: run `just asyncapi` and commit it"


def test_every_event_type_has_a_channel_with_its_subject_and_schema() -> None:
    document = build_document()
    assert document["asyncapi"] == "3.0.0"
    assert len(document["channels"]) == len(EVENT_TYPES)
    for event_type in EVENT_TYPES:
        name = event_type.__name__
        channel = document["channels"][name]
        assert channel["address"] == subject_template(event_type)
        # The documented pattern, with placeholders as wildcards, is the filter services use.
        wildcard = channel["address"].replace("{tenant_id}", "*").replace("{aggregate_id}", "*")
        assert wildcard == events_of(event_type)
        schema = document["components"]["schemas"][name]
        assert schema["properties"]["type"] == {"enum": [event_type.type_tag()]}
        assert document["components"]["messages"][name]["name"] == event_type.type_tag()
        assert document["operations"][f"on{name}"]["action"] == "receive"


def test_every_reference_resolves() -> None:
    document = build_document()
    text = json.dumps(document)
    refs = {part.split('"')[0] for part in text.split('"$ref": "')[1:]}
    assert refs
    for ref in refs:
        node = document
        for key in ref.removeprefix("#/").split("/"):
            assert key in node, f"dangling reference {ref}"
            node = node[key]
