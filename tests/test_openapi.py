"""GET /openapi.json describes every endpoint of the app."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from starlette.routing import Route
from starlette.testclient import TestClient

from authz.api import decisions, openapi
from authz.app import all_routes
from authz.errors import Invalid


def test_every_route_is_described() -> None:
    assert openapi.undescribed(all_routes()) == []


def test_openapi_document_lists_the_contract_paths(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ["/v1/check", "/v1/check/batch", "/v1/users/{email}/products", "/v1/products/{code}/users",
                 "/v1/explain", "/access/v1/evaluation", "/access/v1/evaluations", "/v1/session", "/v1/registrations",
                 "/v1/activations/{token}", "/v1/orgs/{kvk}/users/{email}/grants", "/v1/orgs/{kvk}/clients",
                 "/v1/orgs/{kvk}/audit", "/v1/operator/requests", "/v1/operator/organisations",
                 "/v1/operator/contracts/{kvk}/{code}", "/v1/operator/mandates/{afnemer_kvk}/{intermediair_kvk}"]:
        assert path in doc["paths"], path
    assert doc["paths"]["/v1/check"]["post"]["security"] == [{"apiKey": []}]


# The operationIds are part of the contract (clients generate code from them): a change here is a change for them.
OPERATIONS = {
    "GET /healthz": "healthz", "GET /readyz": "readyz", "GET /metrics": "metrics",
    "POST /v1/check": "check", "POST /v1/check/batch": "checkBatch",
    "GET /v1/users/{email}/products": "listUserProducts", "GET /v1/products/{code}/users": "listProductUsers",
    "POST /access/v1/evaluation": "evaluation", "POST /access/v1/evaluations": "evaluations",
    "POST /access/v1/search/subject": "searchSubject", "POST /access/v1/search/resource": "searchResource",
    "POST /access/v1/search/action": "searchAction", "GET /.well-known/authzen-configuration": "authzenConfiguration",
    "POST /v1/explain": "explain",
    "POST /v1/session": "logIn", "GET /v1/session": "whoAmI", "DELETE /v1/session": "logOut",
    "GET /v1/session/products": "myProducts",
    "GET /v1/session/mfa": "mfaStatus", "POST /v1/session/mfa": "mfaStart",
    "POST /v1/session/mfa/confirm": "mfaConfirm", "POST /v1/session/mfa/disable": "mfaDisable",
    "POST /v1/operator/accounts/{email}/mfa-reset": "mfaReset",
    "POST /v1/session/password": "changePassword", "POST /v1/password-resets": "requestPasswordReset",
    "POST /v1/password-resets/{token}": "resetPassword", "POST /v1/registrations": "register",
    "POST /v1/activations/{token}": "activate", "GET /v1/operator/requests": "listOperatorRequests",
    "POST /v1/operator/requests/{id}/approve": "approveOperatorRequest",
    "POST /v1/operator/requests/{id}/reject": "rejectOperatorRequest", "GET /v1/orgs/{kvk}/requests": "listOrgRequests",
    "POST /v1/orgs/{kvk}/requests/{id}/approve": "approveOrgRequest",
    "POST /v1/orgs/{kvk}/requests/{id}/reject": "rejectOrgRequest",
    "POST /v1/operator/organisations": "createOrganisation", "GET /v1/operator/organisations": "listOrganisations",
    "GET /v1/operator/organisations/{kvk}": "getOrganisation",
    "PATCH /v1/operator/organisations/{kvk}": "editOrganisation",
    "GET /v1/operator/organisations/{kvk}/contracts": "listOrganisationContracts",
    "GET /v1/operator/organisations/{kvk}/mandates": "listOrganisationMandates",
    "POST /v1/operator/products": "createProduct", "GET /v1/operator/products": "listProducts",
    "PUT /v1/operator/products/{code}": "putProduct",
    "PUT /v1/operator/contracts/{kvk}/{code}": "putContract",
    "DELETE /v1/operator/contracts/{kvk}/{code}": "endContract",
    "PUT /v1/operator/mandates/{afnemer_kvk}/{intermediair_kvk}": "putMandate",
    "DELETE /v1/operator/mandates/{afnemer_kvk}/{intermediair_kvk}": "endMandate",
    "GET /v1/orgs/{kvk}/users": "listUsers", "GET /v1/orgs/{kvk}/users/{email}": "getUser",
    "GET /v1/orgs/{kvk}/clients": "listClients",
    "GET /v1/orgs/{kvk}/users/{email}/grants": "getGrants", "PUT /v1/orgs/{kvk}/users/{email}/grants": "putGrants",
    "GET /v1/orgs/{kvk}/beheerders": "listBeheerders", "PUT /v1/orgs/{kvk}/beheerders/{email}": "appointBeheerder",
    "DELETE /v1/orgs/{kvk}/beheerders/{email}": "removeBeheerder", "GET /v1/orgs/{kvk}/audit": "readAudit",
    "GET /v1/orgs/{kvk}/users/{email}/history": "userHistory",
    "POST /v1/orgs/{kvk}/invitations": "invite", "GET /v1/orgs/{kvk}/invitations": "listInvitations",
    "DELETE /v1/orgs/{kvk}/invitations/{id}": "withdrawInvitation",
    "POST /v1/orgs/{kvk}/invitations/{id}/resend": "resendInvitation", "GET /v1/invitations/{token}": "getInvitation",
    "POST /v1/invitations/{token}/accept": "acceptInvitation",
    "POST /v1/orgs/{kvk}/users/{email}/activation": "resendActivation",
    "POST /v1/orgs/{kvk}/users/{email}/deactivate": "deactivateUser",
    "POST /v1/orgs/{kvk}/users/{email}/reactivate": "reactivateUser",
    "GET /v1/operator/mail": "listMail", "POST /v1/operator/mail/{id}/retry": "retryMail",
    "GET /v1/operator/decisions": "listDecisions",
}


def _operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m.upper()} {p}": op for p, ops in doc["paths"].items() for m, op in ops.items()}


def test_every_json_route_is_in_the_document_with_a_stable_operation_id() -> None:
    doc = openapi.build(all_routes())
    routes = {f"{m} {r.path}" for r in all_routes() if isinstance(r, Route) and r.include_in_schema
              and r.path != "/openapi.json" for m in (r.methods or set()) - {"HEAD"}}
    assert set(_operations(doc)) == routes
    assert {k: op["operationId"] for k, op in _operations(doc).items()} == OPERATIONS
    assert len(set(OPERATIONS.values())) == len(OPERATIONS)


def test_the_document_is_valid_openapi_with_tags() -> None:
    doc = openapi.build(all_routes())
    validate(doc)
    tags = {t["name"] for t in doc["tags"]}
    assert all(len(op["tags"]) == 1 and op["tags"][0] in tags for op in _operations(doc).values())


def test_each_operation_lists_the_error_codes_its_shapes_can_answer() -> None:
    for route in all_routes():
        if not isinstance(route, openapi.Operation):
            continue
        responses = route.describe()["responses"]
        shapes = [s for s in (route.body, route.query) if s is not None]
        invalid = str(route.invalid_status)  # 422; 400 on the AuthZEN endpoints, which answer no 415 either
        for shape in shapes:
            documented = responses[invalid]["content"]["application/json"]["schema"]
            assert shape.errors() <= set(documented["properties"]["error"]["properties"]["code"]["enum"]), route.path
        if route.body is not None:
            assert {"400", "413", "415" if invalid == "422" else "400"} <= set(responses), route.path
            assert (invalid == "422") is ("422" in responses and "415" in responses), route.path
        if route.auth != "none":
            assert "401" in responses, route.path


@pytest.mark.parametrize(("body", "code"), [
    ({"user": "a@x.nl", "product": "polis", "extra": 1}, "unknown_field"),
    ({"product": "polis"}, "missing_field"),
    ({"user": "a\u0001b@x.nl", "product": "polis"}, "invalid_email"),
    ({"user": "a@x.nl", "product": "Polis"}, "invalid_product_code"),
    ({"user": "a@x.nl", "product": "polis", "afnemer": "１１１１１１１１"}, "invalid_kvk"),
    ({"user": "a@x.nl", "product": "polis", "min_revision": -1}, "invalid_field"),
])
def test_the_check_schema_and_the_validator_refuse_the_same_bodies(body: dict[str, Any], code: str) -> None:
    doc = openapi.build(all_routes())
    op = doc["paths"]["/v1/check"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    Draft202012Validator(schema).validate({"user": "a@x.nl", "product": "polis", "afnemer": "11111111"})
    assert not Draft202012Validator(schema).is_valid(body)
    with pytest.raises(Invalid) as refused:
        decisions.CHECK.parse(body)
    assert refused.value.code == code
    assert code in op["responses"]["422"]["content"]["application/json"]["schema"]["properties"]["error"][
        "properties"]["code"]["enum"]


# Answers the fuzzer (make fuzz) saw that the document did not declare: each must stay declared.
@pytest.mark.parametrize(("operation", "status", "code"), [
    ("invite", 422, "email_domain_not_allowed"), ("invite", 422, "free_mail_domain"),
    ("invite", 409, "email_unavailable"), ("resendInvitation", 409, "already_registered"),
    ("resendActivation", 409, "not_activatable"), ("deactivateUser", 409, "already_inactive"),
    ("reactivateUser", 409, "not_inactive"), ("putGrants", 422, "afnemer_not_selectable"),
    ("putGrants", 422, "not_selectable"), ("appointBeheerder", 422, "account_not_active"),
    ("register", 422, "free_mail_domain"), ("register", 422, "email_domain_not_allowed"),
])
def test_the_answers_the_handlers_give_are_declared(operation: str, status: int, code: str) -> None:
    (op,) = [op for op in _operations(openapi.build(all_routes())).values() if op["operationId"] == operation]
    schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    assert code in schema["properties"]["error"]["properties"]["code"]["enum"]


def test_every_body_is_required_as_json() -> None:
    # SPEC §4: a write that needs no fields is sent as {} with Content-Type: application/json, never without a body.
    for op in _operations(openapi.build(all_routes())).values():
        if "requestBody" in op:
            assert op["requestBody"]["required"] is True, op["operationId"]
