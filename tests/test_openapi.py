"""GET /openapi.json describes every endpoint of the app."""

from __future__ import annotations

from starlette.testclient import TestClient

from authz.api import openapi
from authz.app import all_routes


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
