"""API documentation works with no internet link and declares how to authenticate."""

from __future__ import annotations

import re

from tests.conftest import LiveGateway


def test_docs_pages_load_only_local_assets(gateway: LiveGateway) -> None:
    with gateway.client(token=None) as c:
        for page in ("/docs", "/redoc"):
            r = c.get(page)
            assert r.status_code == 200, page
            urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", r.text)
            urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", r.text)
            assert urls, page
            external = [u for u in urls if u.startswith(("http://", "https://", "//"))]
            assert not external, f"{page} loads {external}"
            for u in urls:
                if u.startswith("/docs-assets/"):
                    asset = c.get(u)
                    assert asset.status_code == 200 and len(asset.content) > 500, u


def test_openapi_declares_the_bearer_scheme_on_protected_operations(gateway: LiveGateway) -> None:
    with gateway.client(token=None) as c:
        spec = c.get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["bearer"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    check = spec["paths"]["/v1/checks"]["post"]
    assert {"bearer": []} in check["security"]
    assert "security" not in spec["paths"]["/healthz"]["get"]
