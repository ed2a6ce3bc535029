"""``GET /capabilities``: the source types, formats and policies the API accepts, from the rules that validate them.

Clients (the web UI's wizard) build their choices from this answer instead of keeping their own copy of the lists,
so a new option or format reaches them without a second edit.
"""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from autoloader_api.domain.source_rules import RULES, option_names
from autoloader_api.domain.validation import CHANGED_FILES, EVOLUTION_MODES, ON_ERROR, SOURCE_TYPES, WRITE_MODES
from autoloader_api.schemas import Capabilities, SourceTypeCapabilities
from autoloader_api.tenants import Caller
from autoloader_contracts.schedule import FREQUENCIES
from autoloader_formats import FORMAT_OPTIONS


class CapabilitiesController(Controller):
    """What a valid ingestion may contain."""

    path = "/capabilities"
    tags = ["capabilities"]

    @get("/", summary="Source types, formats and policies this API accepts", sync_to_thread=False)
    def capabilities(self, *, caller: NamedDependency[Caller]) -> Capabilities:
        """The accepted values, the same for every tenant (the key is still required)."""
        del caller  # resolving it is the authentication
        return CAPABILITIES


def _source_type(source_type: str) -> SourceTypeCapabilities:
    rules = RULES.get(source_type)
    return SourceTypeCapabilities(
        credential_fields=list(rules.credential_fields) if rules else [],
        options=option_names(source_type),
        required_options=list(rules.required_options) if rules else [],
        requires_credentials=rules.requires_credentials if rules else False,
    )


CAPABILITIES = Capabilities(
    source_types={source_type: _source_type(source_type) for source_type in SOURCE_TYPES},
    formats={name: sorted(options) for name, options in FORMAT_OPTIONS.items()},
    evolution_modes=list(EVOLUTION_MODES),
    on_error=list(ON_ERROR),
    write_modes=list(WRITE_MODES),
    changed_files=list(CHANGED_FILES),
    frequencies=list(FREQUENCIES),
)
"""Built once at import: every list comes from constants."""
