"""What the ops tests read from the repository: the Prometheus and Grafana files, panel queries with
Grafana's variables substituted, and the metric names a PromQL expression selects."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DASHBOARD_FILES",
    "GRAFANA_BUILTINS",
    "GRAFANA_DIR",
    "PROMETHEUS_DIR",
    "ROOT",
    "PanelQuery",
    "iter_panels",
    "load_dashboard",
    "load_yaml",
    "metric_names",
    "panel_queries",
    "recorded_names",
    "rule_files",
    "substitute",
    "threshold_constants",
    "variable_values",
]

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "prometheus"
GRAFANA_DIR = ROOT / "grafana"
DASHBOARD_FILES = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))

#: Grafana's built-in variables, as the brief fixes them for queries run outside Grafana.
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__range": "1h", "__interval": "15s", "__range_s": "3600"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_dashboard(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def rule_files() -> list[Path]:
    """The rule files prometheus.yml loads, resolved against its folder."""
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    return [PROMETHEUS_DIR / name for name in config["rule_files"]]


def _rules() -> Iterator[dict[str, Any]]:
    for path in rule_files():
        for group in load_yaml(path)["groups"]:
            yield from group["rules"]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


def threshold_constants() -> dict[str, float]:
    """Recording rules of the form ``vector(<number>)``: the named alert thresholds."""
    constants = {}
    for rule in _rules():
        match = re.fullmatch(r"vector\(\s*([0-9.eE+-]+)\s*\)", str(rule.get("expr", "")).strip())
        if "record" in rule and match:
            constants[rule["record"]] = float(match.group(1))
    return constants


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str
    instant: bool

    @property
    def id(self) -> str:
        return f"{self.dashboard}/{self.panel}/{self.ref_id}"


def panel_queries(path: Path) -> list[PanelQuery]:
    dashboard = load_dashboard(path)
    return [
        PanelQuery(
            dashboard=dashboard["uid"],
            panel=panel["title"],
            ref_id=t["refId"],
            expr=t["expr"],
            instant=bool(t.get("instant")) and not t.get("range", False),
        )
        for panel in iter_panels(dashboard)
        for t in panel.get("targets", [])
        if "expr" in t
    ]


def variable_values(dashboard: Mapping[str, Any]) -> dict[str, str]:
    """Values for the dashboard's own variables: ``.*`` for "All" of a query variable, the default of
    a textbox / constant / custom variable, the default datasource uid."""
    values: dict[str, str] = {}
    for var in dashboard.get("templating", {}).get("list", []):
        if var["type"] == "query":
            values[var["name"]] = var.get("allValue") or ".*"
        else:
            values[var["name"]] = str(var.get("current", {}).get("value", var.get("query", "")))
    return values


_VARIABLE = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with every ``$var``, ``${var}``, ``${var:fmt}`` and ``[[var]]`` replaced; an unknown
    variable raises ``KeyError`` (a panel would show an error in Grafana too)."""
    known = {**GRAFANA_BUILTINS, **values}

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return known[name]

    return _VARIABLE.sub(replace, expr)


_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "atan2",
    "inf",
    "nan",
}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects (not functions, keywords, labels, durations or numbers)."""
    text = _STRINGS.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = _LABEL_LISTS.sub(" ", text)
    text = re.sub(r"\boffset\s+-?\w+", " ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        before = text[match.start() - 1] if match.start() else " "
        if before.isalnum() or before in "._$":
            continue  # the tail of a number such as 1e3, or a Grafana variable
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function call
        if match.group().lower() in _KEYWORDS:
            continue
        names.add(match.group())
    return names
