"""The same mistake through every door (`tests/fixtures/doors/errors.json`, tabled in
docs/errors.md): each case's request, given to its model through the module, raises the case's
exception class with the case's message, word for word, as the command line prints it
(tests/doors.rs) and C returns it (capi/tests/door_errors.rs); by keyword arguments and through
`forward_json` alike."""

import json

import pytest

import scriptless
from conftest import FIXTURES, ROOT

CASES = json.loads((FIXTURES / "doors" / "errors.json").read_text())["cases"]


def test_the_table_covers_every_kind_of_mistake():
    assert len(CASES) >= 15
    assert {case["python"] for case in CASES} == {"InputError", "ModelError"}
    for case in CASES:
        assert issubclass(getattr(scriptless, case["python"]), scriptless.ScriptlessError)


@pytest.mark.parametrize("case", CASES, ids=[case["mistake"] for case in CASES])
def test_every_case_raises_its_message(case):
    model = scriptless.load(ROOT / case["model"])
    cls = getattr(scriptless, case["python"])
    with pytest.raises(scriptless.ScriptlessError) as raised:
        model(**case["request"])
    assert type(raised.value) is cls
    assert str(raised.value) == case["message"]
    with pytest.raises(scriptless.ScriptlessError) as raised:
        model.forward_json(json.dumps(case["request"]))
    assert type(raised.value) is cls
    assert str(raised.value) == case["message"]
    [result] = model.forward_many([case["request"]], return_exceptions=True)
    assert type(result) is cls and str(result) == f"request 0: {case['message']}"


@pytest.mark.parametrize("case", [case for case in CASES if "Error: " in case["message"]
                                  and case["python"] == "ModelError"],
                         ids=lambda case: case["mistake"])
def test_a_models_own_exception_carries_its_class_and_message(case):
    """`code/__torch__.py:13: ValueError: x must be (batch, 4)`: the class and the message of
    the exception the model's code raised (or its failed assert), without `builtins.`."""
    model = scriptless.load(ROOT / case["model"])
    with pytest.raises(scriptless.ModelError) as raised:
        model(**case["request"])
    error = raised.value
    assert isinstance(error, RuntimeError)
    place, cls, message = case["message"].split(": ", 2)
    assert place.startswith("code/")
    assert (error.exception_class, error.exception_message) == (cls, message)
    [result] = model.forward_many([case["request"]], return_exceptions=True)
    assert (result.exception_class, result.exception_message) == (cls, message)


def test_other_model_errors_carry_no_exception_class():
    for case in CASES:
        if case["python"] == "ModelError" and "Error: " not in case["message"]:
            with pytest.raises(scriptless.ModelError) as raised:
                scriptless.load(ROOT / case["model"])(**case["request"])
            assert raised.value.exception_class is None and raised.value.exception_message is None
