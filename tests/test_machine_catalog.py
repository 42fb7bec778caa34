"""Machine catalogs for `memreplay plan`: the shipped example loads, and every bad value is refused
in one line naming the file, the key and the machine, before any plan is computed. No clusters."""

from __future__ import annotations

from pathlib import Path

import pytest

from memreplay.errors import UserError
from memreplay.plan.cluster_config import MIN_WORKER_MEMORY
from memreplay.plan.machine_catalog import MachineCatalog, MachineType, load_catalog
from memreplay.plan.packaged import example_catalog

GIB = 2**30

# one valid machine, for bodies that break something else
GOOD = '[[machine]]\nname = "small"\ncores = 2\nmemory = "4GiB"\nprice_per_hour = 0.1\n'


def _machine(**keys: str) -> str:
    """A [[machine]] entry: GOOD's keys, with ``keys`` replaced (a value of "" leaves the key out)."""
    entry = {"name": '"m"', "cores": "2", "memory": '"4GiB"', "price_per_hour": "0.1", **keys}
    return "[[machine]]\n" + "".join(f"{key} = {value}\n" for key, value in entry.items() if value)


def _refusal(path: Path, body: str) -> str:
    path.write_text(body)
    with pytest.raises(UserError) as refused:
        load_catalog(path)
    message = str(refused.value)
    assert "\n" not in message and str(path) in message, message
    return message


def test_the_shipped_example_loads_with_its_families_and_date() -> None:
    catalog = load_catalog(example_catalog())
    assert catalog.path == example_catalog() and catalog.path.is_file()
    assert len(catalog.machines) == 9 and all(machine.price_per_hour > 0 for machine in catalog.machines)
    assert {machine.family for machine in catalog.machines} == {"general-purpose", "memory-optimised",
                                                                "compute-optimised"}
    assert catalog.currency == "USD" and catalog.prices_taken == "2026-11-30"
    assert catalog.note is not None and "EXAMPLE" in catalog.note
    by_name = {machine.name: machine for machine in catalog.machines}
    assert by_name["m7i.large"] == MachineType("m7i.large", 2, 8 * GIB, 0.1008, "general-purpose", 20 * GIB)
    assert by_name["r7i.2xlarge"].memory_bytes == 64 * GIB and by_name["c7i.xlarge"].cores == 4
    for machine in catalog.machines:  # the memory each family has per vCPU
        per_core = {"general-purpose": 4, "memory-optimised": 8, "compute-optimised": 2}[machine.family or ""]
        assert machine.memory_bytes == per_core * GIB * machine.cores, machine


def test_a_minimal_catalog_with_a_memory_in_bytes(tmp_path: Path) -> None:
    path = tmp_path / "machines.toml"
    path.write_text('[[machine]]\nname = "box"\ncores = 1\nmemory = 1073741824\nprice_per_hour = 0\n')
    assert load_catalog(str(path)) == MachineCatalog(path, (MachineType("box", 1, GIB, 0.0),), "USD", None, None)
    price = load_catalog(path).machines[0].price_per_hour
    assert isinstance(price, float) and price == 0.0


def test_the_catalog_table_is_read(tmp_path: Path) -> None:
    path = tmp_path / "machines.toml"
    for taken in ('2026-01-31', '"2026-01-31"'):
        path.write_text(f'[catalog]\ncurrency = "EUR"\nprices_taken = {taken}\nnote = "ours"\n'
                        + _machine(family='"general-purpose"', disk_per_worker='"1GiB"', price_per_hour="3"))
        catalog = load_catalog(path)
        assert (catalog.currency, catalog.prices_taken, catalog.note) == ("EUR", "2026-01-31", "ours")
        assert catalog.machines == (MachineType("m", 2, 4 * GIB, 3.0, "general-purpose", GIB),)


@pytest.mark.parametrize(("body", "fragments"), [
    # the file and its tables
    ("[machine\n", ["not valid TOML"]),
    ("", ["machine: no [[machine]] entries"]),
    ("[catalog]\ncurrency = \"USD\"\n", ["machine: no [[machine]] entries"]),
    ("machine = []\n", ["machine: no [[machine]] entries"]),
    ("[machine]\nname = \"m\"\n", ["machine: must be [[machine]] entries", "one [machine] table"]),
    ("machine = 3\n", ["machine: must be [[machine]] entries", "got 3"]),
    ("machine = [1]\n", ["machine #1: must be a table", "got 1"]),
    (GOOD + "[[machines]]\nname = \"x\"\n", ["machines: unknown table (known: catalog, machine)"]),
    ("machines = [1]\n" + GOOD, ["machines: unknown key (known: catalog, machine)"]),
    ("[catalogue]\nnote = \"x\"\n" + GOOD, ["catalogue: unknown table (known: catalog, machine)"]),
    ("currency = \"USD\"\n" + GOOD, ["currency: unknown key (known: catalog, machine)"]),
    ("catalog = 1\n" + GOOD, ["catalog: must be a table"]),
    # [catalog]
    ("[catalog]\nprice = 1\n" + GOOD, ["catalog.price: unknown key (known: currency, prices_taken, note)"]),
    ("[catalog]\ncurrency = \"\"\n" + GOOD, ["catalog.currency", "non-empty string"]),
    ("[catalog]\ncurrency = 1\n" + GOOD, ["catalog.currency", "got 1"]),
    ("[catalog]\nnote = 1\n" + GOOD, ["catalog.note", "must be a string"]),
    ("[catalog]\nprices_taken = \"last week\"\n" + GOOD, ["catalog.prices_taken", "'last week'"]),
    ("[catalog]\nprices_taken = \"20261130\"\n" + GOOD, ["catalog.prices_taken", "such as 2026-11-30"]),
    ("[catalog]\nprices_taken = \"2026-02-30\"\n" + GOOD, ["catalog.prices_taken", "not a date of the calendar"]),
    ("[catalog]\nprices_taken = 2026-11-30T10:00:00\n" + GOOD, ["catalog.prices_taken", "a TOML date"]),
    ("[catalog]\nprices_taken = 10:00:00\n" + GOOD, ["catalog.prices_taken", "a TOML date"]),
    ("[catalog]\nprices_taken = 20261130\n" + GOOD, ["catalog.prices_taken", "got 20261130"]),
    # a machine's keys
    (_machine(name=""), ["machine #1: missing name (required: name, cores, memory, price_per_hour)"]),
    (_machine(cores=""), ["machine 'm': missing cores"]),
    (_machine(memory=""), ["machine 'm': missing memory"]),
    (_machine(price_per_hour=""), ["machine 'm': missing price_per_hour"]),
    (_machine(price_per_hour="", price="0.1"),
     ["machine 'm' price: unknown key (known: name, family, cores, memory, price_per_hour, disk_per_worker)"]),
    (_machine(disk="\"1GiB\""), ["machine 'm' disk: unknown key (known: name, family"]),
    (GOOD + _machine(name="3"), ["machine #2 name: must be a non-empty string, got 3"]),
    (_machine(name='"  "'), ["machine #1 name: must be a non-empty string, got '  '"]),
    (GOOD + _machine(name='"small"'), ["machine 'small' name: a second machine named 'small' (machine #1"]),
    (_machine(family='""'), ["machine 'm' family: must be a non-empty string"]),
    (_machine(family="1"), ["machine 'm' family: must be a non-empty string, got 1"]),
])
def test_a_bad_catalog_is_one_line_naming_its_file_and_key(tmp_path: Path, body: str, fragments: list[str]) -> None:
    message = _refusal(tmp_path / "bad.toml", body)
    for fragment in fragments:
        assert fragment in message, message


def test_a_missing_catalog_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read machine catalog .*nope.toml") as refused:
        load_catalog(tmp_path / "nope.toml")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(("value", "got"), [
    ("0", "got 0"), ("-2", "got -2"), ("1.5", "got 1.5"), ("true", "got True"), ('"4"', "got '4'"),
])
def test_cores_are_a_positive_whole_number(tmp_path: Path, value: str, got: str) -> None:
    message = _refusal(tmp_path / "bad.toml", GOOD + _machine(cores=value))
    assert f"machine 'm' cores: must be a positive whole number, {got}" in message, message


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("cores", "100000000", "cores: 100,000,000 is more than any one machine has (at most 10,000)"),
    ("memory", '"1e30GiB"', "memory: "),
])
def test_a_machine_larger_than_any_is_a_typo(tmp_path: Path, key: str, value: str, problem: str) -> None:
    message = _refusal(tmp_path / "bad.toml", GOOD + _machine(**{key: value}))
    assert problem in message and "more than any one machine has" in message, message


@pytest.mark.parametrize(("value", "got"), [
    ("nan", "got nan"), ("inf", "got inf"), ("-inf", "got -inf"), ("-0.01", "got -0.01"), ('"0.1"', "got '0.1'"),
    ("true", "got True"), ("[0.1]", "got [0.1]"),
])
def test_a_price_is_a_finite_number_not_below_zero(tmp_path: Path, value: str, got: str) -> None:
    message = _refusal(tmp_path / "bad.toml", _machine(price_per_hour=value))
    assert f"machine 'm' price_per_hour: must be a finite number ≥ 0, {got}" in message, message


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("memory", '"lots"', "'lots' is not a size"),
    ("memory", '""', "'' is not a size"),
    ("memory", "0", "must be greater than 0, got 0"),
    ("memory", '"-1GiB"', "must be greater than 0"),
    ("memory", "1.6e10", "must be a size such as \"16GiB\" or a whole number of bytes, got 16000000000.0"),
    ("memory", "true", "got True"),
    ("memory", "nan", "got nan"),
    ("disk_per_worker", '"lots"', "'lots' is not a size"),
    ("disk_per_worker", "0", "must be greater than 0, got 0"),
    ("disk_per_worker", '"0GiB"', "must be greater than 0"),
    ("disk_per_worker", "-1", "must be greater than 0, got -1"),
    ("disk_per_worker", "false", "got False"),
])
def test_a_memory_or_disk_is_a_size(tmp_path: Path, key: str, value: str, problem: str) -> None:
    message = _refusal(tmp_path / "bad.toml", _machine(**{key: value}))
    assert f"machine 'm' {key}: " in message and problem in message, message


@pytest.mark.parametrize(("value", "given"), [
    ('"128MiB"', "128MiB"), ("16", "16B"), ('"255MiB"', "255MiB"),
])
def test_a_machine_too_small_for_one_worker_says_both_sizes(tmp_path: Path, value: str, given: str) -> None:
    message = _refusal(tmp_path / "bad.toml", _machine(memory=value))
    assert f"machine 'm' memory: {given} is less than one worker needs to start (256MiB)" in message, message
    assert ("a bare number is bytes" in message) == (not value.startswith('"'))


def test_a_machine_of_exactly_one_workers_memory_loads(tmp_path: Path) -> None:
    path = tmp_path / "machines.toml"
    path.write_text(_machine(memory='"256MiB"'))
    assert load_catalog(path).machines[0].memory_bytes == MIN_WORKER_MEMORY
