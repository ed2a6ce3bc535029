"""What the Grafana dashboards ask Prometheus for: metric names and the labels each query uses.

A small PromQL tokenizer, enough for the dashboards' queries (selectors, functions, aggregations
with ``by``/``without``, binary operators, Grafana ``$variables``), not a full PromQL parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DASHBOARDS = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards"

TARGET_LABELS = frozenset({"job", "instance", "service"})
"""Labels Prometheus adds to every scraped series (deploy/prometheus.yml), never exported by a service."""
SYNTHETIC_METRICS = frozenset({"up"})
"""Series Prometheus makes itself for each target."""

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<range>\[[^\]]*\])
  | (?P<variable>\$\{?\w+\}?)
  | (?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=,(){}])
  | (?P<space>\s+)
    """,
    re.VERBOSE,
)
_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = frozenset({"bool", "offset", "and", "or", "unless", "inf", "nan"})
_AGGREGATIONS = frozenset({
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
})
"""Aggregation operators: ``sum by (x) (...)`` puts the grouping between the name and its parenthesis."""


@dataclass(frozen=True)
class Selector:
    """One metric a query reads, with the labels its matchers name."""

    metric: str
    matchers: frozenset[str]


@dataclass
class Query:
    """A query's selectors and the labels it groups on (``by (...)``)."""

    expr: str
    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)


def tokens(expr: str) -> Iterator[tuple[str, str]]:
    """Yield ``(kind, text)`` for each token of ``expr``, spaces left out.

    Raises:
        ValueError: A character no token starts with.
    """
    position = 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if match is None:
            raise ValueError(f"cannot read {expr[position:]!r} in {expr!r}")
        position = match.end()
        kind = match.lastgroup or ""
        if kind != "space":
            yield kind, match.group()


def parse(expr: str) -> Query:
    """Return the metrics ``expr`` reads and the labels it matches and groups on."""
    query = Query(expr=expr)
    items = list(tokens(expr))
    index = 0
    while index < len(items):
        kind, text = items[index]
        following = items[index + 1][1] if index + 1 < len(items) else ""
        if kind == "ident" and text in _GROUPING and following == "(":
            labels, index = _label_list(items, index + 2)
            if text in {"by", "on"}:
                query.grouping |= labels
            continue
        if (kind == "ident" and following == "(") or text in _KEYWORDS or text in _AGGREGATIONS:
            index += 1  # a function or aggregation name, or a keyword
            continue
        if kind == "ident":
            matchers: set[str] = set()
            index += 1
            if index < len(items) and items[index][1] == "{":
                matchers, index = _matchers(items, index + 1)
            query.selectors.append(Selector(metric=text, matchers=frozenset(matchers)))
            continue
        if text == "{":  # a selector with no name: {__name__="..."} is not used by the dashboards
            raise ValueError(f"selectors without a metric name are not supported: {expr!r}")
        index += 1
    return query


def _label_list(items: list[tuple[str, str]], index: int) -> tuple[set[str], int]:
    labels: set[str] = set()
    while items[index][1] != ")":
        if items[index][0] == "ident":
            labels.add(items[index][1])
        index += 1
    return labels, index + 1


def _matchers(items: list[tuple[str, str]], index: int) -> tuple[set[str], int]:
    labels: set[str] = set()
    while items[index][1] != "}":
        kind, text = items[index]
        if kind == "ident" and items[index + 1][1] in {"=", "!=", "=~", "!~"}:
            labels.add(text)
        index += 1
    return labels, index + 1


_LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")


def template_query(definition: str) -> Query:
    """Parse a Grafana ``label_values(selector, label)`` variable query."""
    match = _LABEL_VALUES.match(definition.strip())
    if match is None:
        raise ValueError(f"not a label_values query: {definition!r}")
    query = parse(match["selector"] or "")
    query.grouping.add(match["label"])
    return query


def dashboard_queries(path: Path) -> list[tuple[str, Query]]:
    """Every query of a dashboard file: ``(where, query)`` for each panel target and variable."""
    dashboard = json.loads(path.read_text())
    found: list[tuple[str, Query]] = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"{path.name}: {panel['title']}", parse(target["expr"])))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            found.append((f"{path.name}: ${variable['name']}", template_query(variable["definition"])))
    return found


def all_dashboard_queries() -> list[tuple[str, Query]]:
    """Every query of every dashboard under deploy/grafana/dashboards."""
    return [found for path in sorted(DASHBOARDS.glob("*.json")) for found in dashboard_queries(path)]


def missing(query: Query, exported: dict[str, set[str]]) -> list[str]:
    """What ``query`` needs that the ``exported`` series (name -> label names) do not have."""
    problems: list[str] = []
    seen_labels: set[str] = set(TARGET_LABELS)
    for selector in query.selectors:
        if selector.metric in SYNTHETIC_METRICS:
            seen_labels |= selector.matchers
            continue
        if selector.metric not in exported:
            problems.append(f"{selector.metric} is not exported")
            continue
        labels = exported[selector.metric] | TARGET_LABELS
        seen_labels |= labels
        problems += [f"{selector.metric} has no label {label!r}" for label in sorted(selector.matchers - labels)]
    problems += [f"no series of the query has the label {label!r} it groups on"
                 for label in sorted(query.grouping - seen_labels)]
    return problems
