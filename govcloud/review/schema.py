"""The review as JSON (`govcloud diff --format json`): the documents and their JSON Schema, one definition.

Each pydantic model below is one object of the output; `Review.to_json()` fills them in and dumps them
(`failed_preview_json()` the document of a manifest whose preview failed), and `review_json_schema()` is
generated from the same models, so the published schema cannot drift from what is printed. Within
`schemaVersion` 1 fields are only ever added (docs/review.md).

The documents are built from the review's own data without validation (`model_construct`): a value
the schema does not foresee (a diff kind a newer engine invents) still prints, as it always did, rather
than failing the review; the unit tests validate real outputs against the schema with jsonschema.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel
from pydantic.json_schema import GenerateJsonSchema

from govcloud.engine.events import Op

SCHEMA_VERSION = 1

OpName = Literal[tuple(op.value for op in Op)]  # type: ignore[valid-type]  # the engine's op vocabulary
Money = int  # whole units of the currency
Blocker = Literal["data-loss", "policy", "engine"]
DiffKind = Literal["add", "delete", "update", "add-replace", "delete-replace", "update-replace", "changed"]


class _Document(BaseModel):
    """One object of the JSON output: camelCase keys, in the order the fields are declared."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True,
                              json_schema_serialization_defaults_required=True)


class FieldChangeDocument(_Document):
    """A changed property: old and new as scrubbed JSON values (`[secret]`, `(known after deploy)`)."""

    path: str
    kind: DiffKind
    old: Any
    new: Any
    old_text: str
    new_text: str
    computed: bool
    forces_replacement: bool


class ResourceCostDocument(_Document):
    """A resource's monthly cost; null when it cannot be priced."""

    monthly_before: Money | None
    monthly_after: Money | None
    monthly_delta: Money | None


class ChangeDocument(_Document):
    """One resource of the change."""

    key: str
    urn: str
    type: str
    kind: str
    name: str
    op: OpName
    engine_op: str
    source: str
    summary: str
    fields: list[FieldChangeDocument]
    replace_reasons: list[str]
    delete_before_replace: bool
    cost: ResourceCostDocument
    data_loss: str | None
    notes: list[str]
    protected: bool


class DataLossDocument(_Document):
    """A resource whose change loses data, and why."""

    key: str
    type: str
    kind: str
    name: str
    op: OpName
    reason: str


class ServiceDocument(_Document):
    agency: str
    environment: str
    name: str
    site: str
    project: str


class CostDocument(_Document):
    """The monthly totals; `complete` is false when something could not be priced (`unpriced`)."""

    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    monthly_before: Money
    monthly_after: Money
    monthly_delta: Money
    complete: bool
    unpriced: list[str]


class FindingDocument(_Document):
    """A policy finding (govcloud.errors.Problem.to_dict)."""

    severity: Literal["error", "warning"]
    code: str
    path: str
    message: str
    hint: str | None
    file: str | None
    line: int | None
    column: int | None


class ReviewDocument(_Document):
    """govcloud review (schemaVersion 1)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["govcloud.Review"] = "govcloud.Review"
    operation: Literal["preview", "up", "destroy", "refresh"]
    stack: str
    manifest: str
    service: ServiceDocument
    ok: bool
    verdict: str
    blocked: bool
    blockers: list[Blocker]
    counts: dict[OpName, Annotated[int, Field(ge=1)]]
    cost: CostDocument
    data_loss: list[DataLossDocument]
    allow_data_loss: bool
    cautions: list[str]
    policy: list[FindingDocument]
    errors: list[str]
    changes: list[ChangeDocument]


class FailedPreviewDocument(_Document):
    """A manifest whose preview failed: no review, the engine's errors."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["govcloud.Review"] = "govcloud.Review"
    stack: str
    manifest: str
    ok: Literal[False] = False
    errors: list[str]


def failed_preview_json(stack: str, manifest: str, errors: Sequence[str]) -> dict:
    """The JSON document of a manifest whose preview failed (printed in place of its review)."""
    return dump(document(FailedPreviewDocument, stack=stack, manifest=manifest, errors=list(errors)))


def document(model: type[_Document], **fields: Any) -> Any:
    """An output document from the review's own data (not validated: see the module docstring)."""
    return model.model_construct(**fields)


def dump(doc: BaseModel) -> dict:
    """A document as the JSON object it prints as."""
    return doc.model_dump(by_alias=True)


class _WithoutFieldTitles(GenerateJsonSchema):
    def field_title_should_be_set(self, schema) -> bool:  # "title": "Monthly Before" says nothing the key does not
        return False


def review_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of `govcloud diff --format json`, generated from the documents above: a
    review, or the document of a failed preview."""
    schema = TypeAdapter(ReviewDocument | FailedPreviewDocument).json_schema(
        by_alias=True, mode="serialization", schema_generator=_WithoutFieldTitles)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://govcloud.gov.example/schemas/review-v1.json",
            "title": "govcloud review (schemaVersion 1)", **schema}


REVIEW_JSON_SCHEMA = review_json_schema()
