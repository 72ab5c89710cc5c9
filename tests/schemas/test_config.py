"""The one config path: strict models, one YAML reader with dotted overrides, one error format."""

import pytest
from pydantic import Field

from schemas.config import StrictModel, apply_overrides, read_yaml, validate_model
from schemas.errors import ConfigError


class Inner(StrictModel):
    k: int = Field(4, ge=1)
    api_key: str | None = None


class Outer(StrictModel):
    name: str
    inner: Inner = Field(default_factory=Inner)


def test_dotted_overrides_reach_nested_keys_and_parse_values_as_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: a\ninner: {k: 2}\n")
    raw = read_yaml(path, ["inner.k=8", "name=b", "extra.deep.key=[1, 2]"])
    assert raw == {"name": "b", "inner": {"k": 8}, "extra": {"deep": {"key": [1, 2]}}}
    assert apply_overrides({}, ["flat=true"]) == {"flat": True}


@pytest.mark.parametrize("item", ["noequals", "=3", "a..b=1"])
def test_malformed_override_is_a_config_error(item):
    with pytest.raises(ConfigError, match="must look like key.path=value"):
        apply_overrides({}, [item])


def test_override_through_a_scalar_is_refused():
    with pytest.raises(ConfigError, match="'name' is not a mapping"):
        apply_overrides({"name": "a"}, ["name.x=1"])


def test_errors_name_the_file_key_path_value_and_expectation():
    with pytest.raises(ConfigError) as caught:
        validate_model(Outer, {"name": "a", "inner": {"k": 0}, "colour": "red"}, "c.yaml")
    text = str(caught.value)
    assert text.startswith("c.yaml: ")
    assert "inner.k: Input should be greater than or equal to 1 (got 0)" in text
    assert "colour: unknown key (got 'red')" in text
    with pytest.raises(ConfigError, match=r"^c\.yaml: name: Field required$"):
        validate_model(Outer, {}, "c.yaml")


def test_values_under_secret_keys_are_never_echoed():
    with pytest.raises(ConfigError) as caught:
        validate_model(Outer, {"name": "a", "inner": {"api_key": 12345}}, "c.yaml")
    assert "inner.api_key" in str(caught.value) and "12345" not in str(caught.value)


def test_empty_file_is_an_empty_mapping_and_a_list_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("")
    assert read_yaml(path) == {}
    path.write_text("- a\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        read_yaml(path)
