"""IAM's policy simulator (SimulatePrincipalPolicy), which moto lacks, answering from the
policies of a synthesized template: what `amiwatch doctor` asks is checked against botocore's
IAM model (request and answer), and what the template grants decides the answer.

The evaluation is IAM's for what amiwatch's policies use: an explicit Deny wins; an Allow
counts when an action pattern matches (`*` wildcards, case-insensitive), a resource pattern
matches the simulated resource (no ResourceArns: "*", matched only by "*"), and every condition
holds against the context entries (ForAnyValue:StringEquals; any other operator needs its key).
Intrinsics are resolved through `arns` (logical id -> ARN) and the account and region given.
Answers take IAM's current shape: one EvaluationResult per action, the most restrictive decision
over the ResourceArns, each resource's in ResourceSpecificResults (IAM API reference).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
from botocore.validate import ParamValidator

OPERATION = boto3.session.Session().client("iam", region_name="us-east-1").meta.service_model \
    .operation_model("SimulatePrincipalPolicy")  # fmt: skip


RESTRICTIVE = ("explicitDeny", "implicitDeny", "allowed")  # most restrictive first


class PolicySimulator:
    """The IAM client `amiwatch doctor` gets: its simulator pages come from the template."""

    def __init__(self, statements: Mapping[str, list[dict[str, Any]]]) -> None:
        self.statements = statements  # role ARN -> its policy statements, resolved
        self.calls = 0

    @classmethod
    def from_template(
        cls, template: Mapping[str, Any], roles: Mapping[str, str], arns: Mapping[str, str],
        account: str, region: str,
    ) -> PolicySimulator:  # fmt: skip
        """`roles`: logical id of each role -> the ARN it has in the test."""
        resources = template["Resources"]
        resolve = _Resolver(arns, account, region)
        found: dict[str, list[dict[str, Any]]] = {arn: [] for arn in roles.values()}
        for logical_id, arn in roles.items():
            for policy in resources[logical_id]["Properties"].get("Policies", []):
                found[arn] += policy["PolicyDocument"]["Statement"]
        for resource in resources.values():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            for ref in resource["Properties"].get("Roles", []):
                if ref.get("Ref") in roles:
                    found[roles[ref["Ref"]]] += resource["Properties"]["PolicyDocument"][
                        "Statement"
                    ]
        return cls({arn: [resolve(s) for s in statements] for arn, statements in found.items()})

    def without(self, role_arn: str, action: str) -> PolicySimulator:
        """The same policies with `action` taken out of the role's statements."""
        trimmed = []
        for statement in self.statements[role_arn]:
            actions = [a for a in _listed(statement["Action"]) if a != action]
            if actions:
                trimmed.append({**statement, "Action": actions})
        return PolicySimulator({**self.statements, role_arn: trimmed})

    def get_paginator(self, name: str) -> PolicySimulator:
        assert name == "simulate_principal_policy", name
        return self

    def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
        report = ParamValidator().validate(params, OPERATION.input_shape)
        assert not report.has_errors(), report.generate_report()
        self.calls += 1
        context = {e["ContextKeyName"].lower(): set(e["ContextKeyValues"])
                   for e in params.get("ContextEntries", [])}  # fmt: skip
        statements = self.statements.get(params["PolicySourceArn"])
        if statements is None:
            raise AssertionError(f"no such role in the template: {params['PolicySourceArn']}")
        resources = params.get("ResourceArns") or []
        results = []
        for action in params["ActionNames"]:
            # As IAM answers today: one result per action, its decision the most restrictive
            # of the resources', each resource's own in ResourceSpecificResults.
            decisions = {r: _decide(statements, action, r, context) for r in resources or ["*"]}
            result: dict[str, Any] = {
                "EvalActionName": action, "EvalResourceName": resources[0] if resources else "*",
                "EvalDecision": min(decisions.values(), key=RESTRICTIVE.index),
            }  # fmt: skip
            if resources:
                result["ResourceSpecificResults"] = [
                    {"EvalResourceName": r, "EvalResourceDecision": d} for r, d in decisions.items()
                ]
            results.append(result)
        page = {"EvaluationResults": results, "IsTruncated": False}
        report = ParamValidator().validate(page, OPERATION.output_shape)
        assert not report.has_errors(), report.generate_report()
        yield page


def _decide(statements: list[dict[str, Any]], action: str, resource: str,
            context: Mapping[str, set[str]]) -> str:  # fmt: skip
    matching = [s for s in statements if _applies(s, action, resource, context)]
    if any(s["Effect"] == "Deny" for s in matching):
        return "explicitDeny"
    return "allowed" if any(s["Effect"] == "Allow" for s in matching) else "implicitDeny"


def _applies(statement: Mapping[str, Any], action: str, resource: str,
             context: Mapping[str, set[str]]) -> bool:  # fmt: skip
    actions = _listed(statement.get("Action", []))
    if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
        return False
    patterns = _listed(statement.get("Resource", []))
    if not any(p == "*" or (resource != "*" and fnmatch.fnmatchcase(resource, p))
               for p in patterns):  # fmt: skip
        return False
    for operator, keys in statement.get("Condition", {}).items():
        for key, values in keys.items():
            given = context.get(key.lower())
            if given is None:
                return False
            if operator == "ForAnyValue:StringEquals" and not given & set(_listed(values)):
                return False
    return True


def _listed(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


class _Resolver:
    """CloudFormation intrinsics of a policy statement, resolved to the test's ARNs."""

    def __init__(self, arns: Mapping[str, str], account: str, region: str) -> None:
        self.arns = arns
        self.pseudo = {"AWS::Partition": "aws", "AWS::AccountId": account, "AWS::Region": region,
                       "AWS::URLSuffix": "amazonaws.com"}  # fmt: skip

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "Ref" in node:
            return self.pseudo.get(node["Ref"]) or self.arns.get(node["Ref"], _unresolved(node))
        if "Fn::GetAtt" in node:
            return self.arns.get(node["Fn::GetAtt"][0], _unresolved(node))
        if "Fn::Join" in node:
            separator, parts = node["Fn::Join"]
            return separator.join(str(self(p)) for p in parts)
        return {k: self(v) for k, v in node.items()}


def _unresolved(node: Any) -> str:
    return f"arn:unresolved:{json.dumps(node, sort_keys=True)}"
