"""The device adapter contract and the registry.

An adapter turns one device payload format into a canonical ``Capture``::

    class DeviceAdapter:
        name: str                       # URL-safe, unique in a registry ("ansi-nist")
        content_types: tuple[str, ...]  # media types accepted, without parameters
        description: str                # one line for GET /v1/adapters

        def parse(self, payload: bytes, headers: Mapping[str, str]) -> Capture: ...

``parse`` must be pure and bounded: no network, no files, memory proportional to the payload
(refuse huge declared dimensions before allocating), and every failure raised as an
``AdapterError`` naming the record/field and the fix; never any other exception. ``headers`` are
the request headers with lower-case names (``content-type`` included, with its parameters).
Binary adapters also accept ``application/octet-stream``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from device_adapters.capture import Capture
from device_adapters.errors import UnsupportedContentType


class DeviceAdapter:
    name: str = ""
    content_types: tuple[str, ...] = ()
    description: str = ""

    def parse(self, payload: bytes, headers: Mapping[str, str]) -> Capture:
        raise NotImplementedError

    def accepts(self, content_type: str | None) -> bool:
        media = (content_type or "").split(";")[0].strip().lower()
        return media in self.content_types

    def check_content_type(self, headers: Mapping[str, str]) -> None:
        """Raise UnsupportedContentType unless the request's media type is one we accept."""
        content_type = headers.get("content-type")
        if not self.accepts(content_type):
            raise UnsupportedContentType(
                f"adapter '{self.name}' does not accept content type {content_type!r}",
                field="Content-Type",
                fix=f"send one of: {', '.join(self.content_types)}",
            )


class AdapterRegistry:
    """An explicit registry of adapters by name; registering a name twice is an error."""

    def __init__(self) -> None:
        self._adapters: dict[str, DeviceAdapter] = {}

    def register(self, adapter: DeviceAdapter) -> DeviceAdapter:
        if not adapter.name:
            raise ValueError("an adapter needs a name")
        if adapter.name in self._adapters:
            raise ValueError(f"an adapter named {adapter.name!r} is already registered")
        self._adapters[adapter.name] = adapter
        return adapter

    def get(self, name: str) -> DeviceAdapter | None:
        return self._adapters.get(name)

    def __iter__(self) -> Iterator[DeviceAdapter]:
        return iter(self._adapters.values())

    def __len__(self) -> int:
        return len(self._adapters)


def default_registry(
    *, mosip_trusted_certificates: Sequence[str | bytes] | None = None
) -> AdapterRegistry:
    """The registry the gateway serves: every adapter that ships with FieldCheck.

    ``mosip_trusted_certificates``: PEM device certificates/public keys; when given, MOSIP SBI
    data must be RS256-signed by one of them.
    """
    from device_adapters.ansi_nist import AnsiNistAdapter
    from device_adapters.iso_template import IsoTemplateAdapter
    from device_adapters.mosip_sbi import MosipSbiAdapter
    from device_adapters.multipart import MultipartAdapter
    from device_adapters.seek_avenger import SeekAvengerAdapter

    registry = AdapterRegistry()
    registry.register(MultipartAdapter())
    registry.register(AnsiNistAdapter())
    registry.register(MosipSbiAdapter(trusted_certificates=mosip_trusted_certificates))
    registry.register(SeekAvengerAdapter())
    registry.register(IsoTemplateAdapter())
    return registry
