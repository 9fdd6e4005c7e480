"""Validating plain data against pydantic models, with problems users can act on.

Pydantic reports every error with a location tuple such as
('spec', 'servers', 1, 'sizeGb'); this turns each into a `Problem` with the
file:line:column of that field (through a `Locator`), the allowed values or
fields, and a "did you mean" suggestion for misspelt keys. At most
`MAX_REPORTED` errors are located (each costs a walk of the document); the
rest are counted in one last line.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from govcloud.errors import MAX_REPORTED, InputError, Problem, did_you_mean, format_path, more_problems, shorten


def empty_list() -> list:
    """`default_factory` for a list field. Pydantic asks each factory for its signature (does it take the
    validated data?); for the builtin `list` or `dict` that means parsing its text signature with the
    tokenize module (manifest.py's models took 0.38 s to build under cProfile with them, 0.17 s without:
    benchmarks/README.md); for a Python function it reads the code object."""
    return []


def empty_dict() -> dict:
    """`default_factory` for a mapping field (see empty_list)."""
    return {}


class StrictModel(BaseModel):
    """Immutable, no unknown keys, camelCase keys in YAML, no type coercion."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel,
                              populate_by_name=True, strict=True)


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class that holds the field at `loc` (for 'allowed fields' hints)."""
    model: Any = root
    for step in loc[:-1]:
        if isinstance(step, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == step), None)
        if field is None:
            return None
        model = _inner_model(field.annotation)
        if model is None:
            return None
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


_TYPE_WORDS = {
    "string_type": "a string", "int_type": "a whole number", "bool_type": "true or false",
    "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
    "model_attributes_type": "a mapping", "float_type": "a number",
}


def _problem_from_pydantic(root: type[BaseModel], err: dict, locate) -> Problem:
    loc = tuple(err["loc"])
    # pydantic adds the tag of a failed union/annotated branch to loc; keep field steps only
    loc = tuple(s for s in loc if isinstance(s, int) or not s.startswith(("function-", "constrained-")))
    etype = err["type"]
    hint = None
    if etype == "extra_forbidden":
        model = _model_at(root, loc)
        allowed = _field_names(model) if model else []
        message = f"unknown field '{shorten(loc[-1])}'"
        hint = did_you_mean(shorten(loc[-1]), allowed) or ("allowed: " + ", ".join(allowed) if allowed else None)
        if hint and allowed and hint.startswith("did"):
            hint += " allowed: " + ", ".join(allowed)
        return Problem(message, format_path(loc), locate(loc, key=True), code="schema", hint=hint)
    if etype == "missing":
        return Problem(f"required field '{shorten(loc[-1])}' is missing", format_path(loc), locate(loc), code="schema")
    msg = err["msg"]
    if etype in _TYPE_WORDS:
        got = type(err.get("input")).__name__
        got = {"NoneType": "null", "str": "a string", "int": "a number", "dict": "a mapping",
               "list": "a list", "bool": "a boolean", "float": "a number"}.get(got, got)
        msg = f"must be {_TYPE_WORDS[etype]}, got {got}"
    elif etype == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif etype == "literal_error":
        msg = "must be " + msg.removeprefix("Input should be ")
    elif etype == "string_pattern_mismatch":
        msg = f"has the wrong form (must match {err.get('ctx', {}).get('pattern')})"
    else:
        msg = msg[0].lower() + msg[1:] if msg else msg
        msg = msg.replace("input should be", "must be")
    return Problem(msg, format_path(loc), locate(loc), code="schema")


def validate_model(model: type[BaseModel], data: Any, locate) -> Any:
    """model.model_validate(data), or InputError with every problem located."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [_problem_from_pydantic(model, e, locate) for e in errors[:MAX_REPORTED]]
        problems.sort(key=lambda p: (p.location.line, p.location.column) if p.location else (0, 0))
        if len(errors) > MAX_REPORTED:
            problems.append(more_problems(len(errors) - MAX_REPORTED, locate(())))
        raise InputError(problems) from None
