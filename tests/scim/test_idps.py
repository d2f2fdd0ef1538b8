"""Which IdP sent a request: by User-Agent first, then by what only one IdP sends (docs/idp-behaviour.md)."""

from __future__ import annotations

import pytest

from scim.idps import ENTRA, GENERIC, JUMPCLOUD, OKTA, ONELOGIN, PING, detect, is_legacy_entra_patch


@pytest.mark.parametrize(("agent", "idp"), [
    ("Okta SCIM Client 1.0.0", OKTA), ("Azure AD SCIM Provisioning", ENTRA), ("Microsoft.Identity.Provisioning", ENTRA),
    ("OneLogin SCIM", ONELOGIN), ("JumpCloud-SCIM/1.0", JUMPCLOUD), ("PingFederate", PING), ("PingOne", PING),
    ("Ping Identity", PING),
    ("python-httpx/0.27", GENERIC), (None, GENERIC), ("Mapping of a shopping list", GENERIC),
])
def test_the_user_agent_names_the_idp(agent: str | None, idp: str) -> None:
    assert detect(agent, "/scim/v2/Users") == idp


@pytest.mark.parametrize(("path", "idp"), [
    ("/scim/v2/Users?aadOptscim062020", ENTRA),
    ("/scim/v2/Users?filter=userName%20eq%20%225e2b7cfa-6f3b-4b5e-9d1e-1f2a3b4c5d6e%22", ENTRA),
    ("/scim/v2/Users?startIndex=1&count=2", OKTA),
    ("/scim/v2/Users?startIndex=1&count=100", GENERIC),
    ('/scim/v2/Users?filter=userName%20eq%20%22ann%40example.com%22', GENERIC),
])
def test_without_a_telling_user_agent_the_request_shape_does(path: str, idp: str) -> None:
    assert detect("Apache-HttpClient/4.5", path) == idp


def test_entras_default_patch_dialect() -> None:
    assert is_legacy_entra_patch({"Operations": [{"op": "Replace", "path": "active", "value": "False"}]})
    assert is_legacy_entra_patch({"Operations": [{"op": "replace", "path": "active", "value": "True"}]})
    assert not is_legacy_entra_patch({"Operations": [{"op": "replace", "path": "active", "value": False}]})
    assert not is_legacy_entra_patch({"Operations": "nonsense"})
    assert not is_legacy_entra_patch(None)
