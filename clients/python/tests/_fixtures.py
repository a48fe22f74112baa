"""The estate the tests evaluate: one environment, two targets, a project
and a flag of every type, written through the Connect API as an admin."""

from __future__ import annotations

from typing import Any, Dict, List

import flagops

ENV = "prod"
PROJECT = "shop"
TARGETS = ("eu-1", "us-1")

FLAGS: List[Dict[str, Any]] = [
    {"key": "new-checkout", "type": "boolean",
     "variations": [{"key": "on", "value": True}, {"key": "off", "value": False}],
     "environments": {ENV: {"enabled": True, "rules": [
         {"conditions": [{"attribute": "tier", "operator": "in", "values": ["pro", "enterprise"]}], "variation": "on"}],
         "fallthrough": {"variation": "off"}}}},
    {"key": "banner", "type": "string",
     "variations": [{"key": "hello", "value": "Hello"}, {"key": "sale", "value": "Sale!"}],
     "environments": {ENV: {"enabled": True, "rules": [
         {"conditions": [{"attribute": "country", "operator": "equals", "values": ["fr"]}], "variation": "sale"}],
         "fallthrough": {"variation": "hello"}}}},
    {"key": "replicas", "type": "number",
     "variations": [{"key": "free", "value": 1}, {"key": "pro", "value": 3}, {"key": "enterprise", "value": 5}],
     "environments": {ENV: {"enabled": True, "rules": [
         {"conditions": [{"attribute": "tier", "operator": "equals", "values": ["enterprise"]}], "variation": "enterprise"},
         {"conditions": [{"attribute": "tier", "operator": "equals", "values": ["pro"]}], "variation": "pro"}],
         "fallthrough": {"variation": "free"}}}},
    {"key": "ratio", "type": "number",
     "variations": [{"key": "low", "value": 0.25}, {"key": "high", "value": 0.75}],
     "environments": {ENV: {"enabled": True, "fallthrough": {"variation": "low"}}}},
    {"key": "limits", "type": "object",
     "variations": [{"key": "small", "value": {"cpu": 1, "memory": "512Mi", "zones": ["a"]}},
                    {"key": "large", "value": {"cpu": 4, "memory": "4Gi", "zones": ["a", "b"]}}],
     "environments": {ENV: {"enabled": True, "rules": [
         {"conditions": [{"attribute": "tier", "operator": "equals", "values": ["enterprise"]}], "variation": "large"}],
         "fallthrough": {"variation": "small"}}}},
    {"key": "rollout", "type": "boolean",
     "variations": [{"key": "on", "value": True}, {"key": "off", "value": False}],
     "environments": {ENV: {"enabled": True, "fallthrough": {"rollout": [
         {"variation": "on", "weight": 50000}, {"variation": "off", "weight": 50000}]}}}},
    {"key": "dormant", "type": "string",
     "variations": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}],
     "environments": {ENV: {"enabled": False, "fallthrough": {"variation": "a"}}}},
]


def seed(admin: flagops.Client, project: str = PROJECT) -> None:
    admin.call("CatalogService", "PutEnvironment", {"environment": {"meta": {"name": ENV}}})
    for t in TARGETS:
        admin.call("CatalogService", "PutTarget", {"target": {"meta": {"name": t}, "environment": ENV}})
    admin.call("CatalogService", "PutProject", {"project": {"meta": {"name": project}, "environments": [ENV]}})
    for f in FLAGS:
        admin.call("FlagService", "PutFlag", {"flag": {**f, "project": project}})


def create_key(admin: flagops.Client, name: str, *bindings: str) -> str:
    """Create an API key; bindings are "ROLE@SCOPE" in the default workspace."""
    bs = []
    for b in bindings:
        role, _, scope = b.partition("@")
        bs.append({"role": role, "workspace": "default", "scope": scope or "workspace"})
    return admin.call("AccessService", "CreateKey", {"name": name, "bindings": bs})["token"]
