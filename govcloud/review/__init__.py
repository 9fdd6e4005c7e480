"""Stage 4, review: what a change will do, why, what it costs and what it loses, before anyone applies it.

    build     build_review(plan, site, preview result, findings) -> Review; destroy_changes(state),
              create_changes(plan) (a first deploy without a preview)
    model     Review, ResourceReview, FieldChange, DataLoss: immutable data, the verdict derived once
    dataloss  the one data-loss rule set: data_loss(), guard_data_loss() -> DataLossError (exit 1)
    text      the terminal review (print_review, render_text)
    markdown  the merge-request comment (render_markdown)
    schema    the JSON documents and their JSON Schema, generated from the same models
    savedplan a reviewed change saved to a file, applied exactly or refused (PlanMovedError)

The review reads only what it is given (the engine's change records carry each resource's old
inputs); it never reads the engine's files and never imports the CLI.
"""
from govcloud.review.build import build_review, create_changes, destroy_changes
from govcloud.review.dataloss import DataLossError, data_loss, guard_data_loss
from govcloud.review.markdown import md_code, md_escape, md_fence, render_markdown
from govcloud.review.model import DataLoss, FieldChange, ResourceReview, Review, show
from govcloud.review.schema import REVIEW_JSON_SCHEMA, SCHEMA_VERSION, failed_preview_json, review_json_schema
from govcloud.review.text import print_review, render_text

__all__ = [
    "REVIEW_JSON_SCHEMA", "SCHEMA_VERSION", "DataLoss", "DataLossError", "FieldChange", "ResourceReview",
    "Review", "build_review", "create_changes", "data_loss", "destroy_changes", "failed_preview_json",
    "guard_data_loss", "md_code", "md_escape", "md_fence", "print_review", "render_markdown", "render_text",
    "review_json_schema", "show",
]
