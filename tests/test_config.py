"""The hub's one typed configuration (o2c/config.py): every section, the examples, the errors.

A mistake in a configuration file is a ConfigError naming the file, the key path and what to
write, one line per problem; a missing file says which file was looked for and how to create it;
there is no fallback to the example file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from o2c.banks import get_bank, load_banks
from o2c.config import (
    MAX_CONFIG_BYTES,
    BankConfig,
    EInvoicingConfig,
    FolderChannel,
    HttpChannel,
    SftpChannel,
    SourceConfig,
    load_config,
    load_einvoicing,
)
from o2c.settings import get_settings
from o2c.sources import load_sources
from schemas.errors import ConfigError
from schemas.invoice import Identifier

REPO = Path(__file__).resolve().parent.parent

WHOLE = """\
sources:
  - name: erp_a
    kind: tryton
    connection: erp_a_conn
    options: {batch_size: 50}
    start: 2026-01-01T00:00:00
  - {name: drops, kind: filedrop, connection: drop_conn, streams: [customers], enabled: false}
banks:
  - name: bnp
    connection: sftp_bank_bnp
    host: sftp.bnp.example
    port: "2222"
    folder: /out
    patterns: "*.xml"
    archive_folder: /archive
    settle_seconds: 30
    max_file_bytes: 1048576
  - {name: sg, connection: sftp_bank_sg, delete_after: true, enabled: false}
einvoicing:
  default_format: ubl
  customers:
    - {siren: 512348707, format: cii}
    - {vat_id: de814529638, format: facturx-basic}
  channel: {kind: sftp, connection: pa_sftp, folder: /in}
  sources: [erp_a]
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty $O2C_HOME and no configuration variable set."""
    for var in ("O2C_SOURCES", "O2C_BANKS", "O2C_EINVOICING"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("O2C_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- every section ---------------------------------------------------------------------------
def test_every_section_of_one_file(tmp_path):
    config = load_config(write(tmp_path / "sources.yaml", WHOLE))
    a, drops = config.sources
    assert (a.name, a.kind, a.connection, a.streams, a.options, a.enabled) == (
        "erp_a", "tryton", "erp_a_conn", ("customers", "invoices"), {"batch_size": 50}, True)
    assert a.start == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # a naive start is UTC
    assert (drops.streams, drops.enabled, drops.mapping_folder) == (("customers",), False, "filedrop")
    bnp, sg = config.banks
    assert bnp == BankConfig(name="bnp", connection="sftp_bank_bnp", host="sftp.bnp.example", port=2222, folder="/out",
                             patterns=("*.xml",), archive_folder="/archive", settle_seconds=30, max_file_bytes=1048576)
    assert (sg.folder, sg.patterns, sg.settle_seconds, sg.delete_after, sg.enabled, sg.max_file_bytes) == (
        ".", ("*",), 10.0, True, False, None)
    einv = config.einvoicing
    assert einv is not None and einv.default_format == "ubl" and einv.sources == ("erp_a",)
    assert einv.channel == SftpChannel(connection="pa_sftp", folder="/in")
    assert (einv.by_siren, einv.by_vat) == ({"512348707": "cii"}, {"DE814529638": "facturx-basic"})
    # the section readers of each part of the hub
    assert [s.name for s in load_sources(tmp_path / "sources.yaml")] == ["erp_a", "drops"]
    assert load_banks(tmp_path / "sources.yaml") == list(config.banks)
    assert get_bank("sg", tmp_path / "sources.yaml") == sg


def test_models_are_frozen_and_refuse_unknown_keys_in_code_too():
    bank = BankConfig(name="bnp", connection="c")
    with pytest.raises(ValidationError):
        bank.folder = "/elsewhere"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        BankConfig(name="bnp", connection="c", password="x")  # type: ignore[call-arg]
    assert EInvoicingConfig().channel == FolderChannel(path="outbox")
    assert EInvoicingConfig(channel={"kind": "http", "url": "https://pa.example"}).channel == HttpChannel(url="https://pa.example")


def test_a_blank_key_takes_its_default(tmp_path):
    path = write(tmp_path / "sources.yaml", "sources:\n  - {name: erp_a, kind: tryton, connection: c, streams: [], "
                                            "options:, enabled:}\nbanks:\n  - {name: bnp, connection: c, folder:}\n")
    config = load_config(path)
    assert (config.sources[0].streams, config.sources[0].options, config.sources[0].enabled) == (
        ("customers", "invoices"), {}, True)
    assert config.banks[0].folder == "."


def test_a_file_without_sources_has_no_bank_and_no_source(tmp_path):
    path = write(tmp_path / "banks.yaml", "banks:\n  - {name: bnp, connection: c}\n")
    assert [b.name for b in load_banks(path)] == ["bnp"]
    with pytest.raises(ConfigError, match=r"banks\.yaml: no 'sources:' section; write a list of sources"):
        load_sources(path)
    assert load_banks(write(tmp_path / "empty.yaml", "# nothing yet\n")) == []


# -- the examples ----------------------------------------------------------------------------
def test_the_example_files_load(home):
    sources = load_sources(REPO / "config" / "sources.example.yaml")
    assert [s.name for s in sources] == ["tryton_demo"]
    assert [b.name for b in load_banks(REPO / "config" / "banks.example.yaml")] == ["bnp", "sg"]
    einv = load_einvoicing(REPO / "config" / "einvoicing.example.yaml")
    assert einv.default_format == "facturx-en16931"
    assert (einv.by_siren, einv.by_vat) == ({"512348707": "ubl"}, {"DE814529638": "cii"})
    assert einv.channel == FolderChannel(path=str(home / "outbox"))  # relative: under $O2C_HOME
    (notes,) = einv.payment_notes  # an example for one seller, no default for everyone
    assert notes.seller_siren == "843129453" and set(notes.notes()) == {"PMT", "PMD", "AAB"}


def test_the_einvoicing_example_also_works_as_a_section(tmp_path, home):
    example = (REPO / "config" / "einvoicing.example.yaml").read_text(encoding="utf-8")
    body = "sources: []\neinvoicing:\n" + "".join(f"  {line}\n" for line in example.splitlines())
    config = load_config(write(tmp_path / "sources.yaml", body))
    assert config.einvoicing is not None and config.einvoicing.by_siren == {"512348707": "ubl"}


# -- unknown keys ----------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "where"), [
    ("sources:\n  - {name: erp_a, kind: tryton, connection: c, conection: c}\n", r"sources\[0\]\.conection: unknown key"),
    ("banks:\n  - {name: bnp, connection: c}\n  - {name: sg, connection: c, password: x}\n",
     r"banks\[1\]\.password: unknown key .*credentials belong in the connection"),
    ("einvoicing:\n  default_fromat: ubl\n", r"einvoicing\.default_fromat: unknown key \(known: default_format, "),
    ("einvoicing:\n  channel: {kind: folder, path: /x, url: y}\n", r"einvoicing\.channel\.url: unknown key \(known: kind, path\)"),
    ("einvoicing:\n  customers:\n    - {siren: '1', format: ubl, name: x}\n", r"einvoicing\.customers\[0\]\.name: unknown key"),
    ("source:\n  - {name: erp_a, kind: tryton, connection: c}\n", r": source: unknown key \(known: sources, banks, einvoicing, collections\)"),
])
def test_unknown_keys_are_refused_naming_file_and_key(tmp_path, body, where):
    path = write(tmp_path / "sources.yaml", body)
    with pytest.raises(ConfigError, match=where) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: ")


def test_unknown_key_in_an_einvoicing_file(tmp_path, home):
    path = write(tmp_path / "einvoicing.yaml", "default_format: ubl\nchanel: {kind: folder}\n")
    with pytest.raises(ConfigError, match=rf"^{path}: chanel: unknown key \(known: default_format, customers, channel, sources, payment_notes\)$"):
        load_einvoicing(path)


# -- what the errors say ---------------------------------------------------------------------
def test_every_problem_is_one_line_with_its_key_path_and_what_to_write(tmp_path):
    path = write(tmp_path / "sources.yaml", (
        "sources:\n  - {name: Erp, kind: nope, connection: c, streams: [orders]}\n  - {name: erp_b, kind: sql}\n"
        "banks:\n  - {name: bnp, connection: c, port: twenty, settle_seconds: -1, max_file_bytes: 2GB, patterns: []}\n"
        "einvoicing:\n  default_format: pdf\n  channel: {kind: ftp}\n"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    head, *lines = str(err.value).splitlines()
    assert head == f"{path}: 10 problems:"
    assert [line.strip().split(":")[0] for line in lines] == [
        "sources[0].name", "sources[0].kind", "sources[0].streams", "sources[1].connection", "banks[0].port",
        "banks[0].patterns", "banks[0].settle_seconds", "banks[0].max_file_bytes", "einvoicing.default_format",
        "einvoicing.channel.kind"]
    text = str(err.value)
    assert "'Erp' must be lower-case letters, digits and _" in text
    assert "unknown kind 'nope'; write one of filedrop, hubspot, odoo, salesforce, sap_s4, sql, tryton" in text
    assert "unknown stream(s) 'orders'; write a list among invoices, customers" in text
    assert "sources[1].connection: missing; write a connection id such as erp_acme_db" in text
    assert "banks[0].port: should be a valid integer, unable to parse string as an integer (got 'twenty'); write a port" in text
    assert "banks[0].max_file_bytes: must be a positive whole number of bytes (got '2GB')" in text
    assert "unknown format 'pdf'; write one of facturx-minimum" in text
    assert "einvoicing.channel.kind: must be one of folder, sftp, http (got 'ftp')" in text
    assert "pydantic" not in text and "https://" not in text and "[type=" not in text


@pytest.mark.parametrize(("body", "says"), [
    ("banks:\n  - {name: bk, connection: c, archive_folder: a, delete_after: true}\n",
     r"banks\[0\]\.delete_after: give either 'archive_folder' or 'delete_after', not both"),
    ("sources:\n  - {name: erp_a, kind: tryton, connection: c}\n  - {name: erp_a, kind: sql, connection: d}\n",
     r"sources\[1\]\.name: duplicate source name 'erp_a'"),
    ("einvoicing:\n  customers:\n    - {format: ubl}\n", r"einvoicing\.customers\[0\]: needs siren or vat_id"),
    ("einvoicing:\n  channel: {kind: sftp, folder: /in}\n", r"einvoicing\.channel\.connection: missing; write a connection id"),
    ("einvoicing:\n  channel: {kind: http}\n", r"einvoicing\.channel\.url: missing"),
    ("einvoicing:\n  payment_notes:\n    - {seller_siren: '84312945', recovery_fee: x}\n",
     r"einvoicing\.payment_notes\[0\]\.seller_siren: '84312945' is not a SIREN: write the seller's 9 digits"),
    ("einvoicing:\n  payment_notes:\n    - {source: erp_a}\n",
     r"einvoicing\.payment_notes\[0\]: gives no note: write at least one of recovery_fee, late_penalties, "
     r"early_payment_discount"),
    ("einvoicing:\n  payment_notes:\n    - {recovery_fee: x}\n    - {late_penalties: y}\n",
     r"einvoicing\.payment_notes\[1\]: every invoice has two entries; merge them into one"),
    ("einvoicing:\n  payment_notes:\n    - {recovery_fee: x, penalties: y}\n",
     r"einvoicing\.payment_notes\[0\]\.penalties: unknown key"),
    ("banks: {name: bk}\n", r"banks: must be a list"),
    ("sources:\n  - just a name\n", r"sources\[0\]: must be a mapping"),
    ("- sources\n", r"expected a mapping at the top level \(keys sources:, banks:, einvoicing:, collections:\), got list"),
    ("sources: [\n", r"not valid YAML at line 2, column 1"),
    ("banks: []\nbanks: []\n", r"not valid YAML at line 2, column 1: key 'banks' is given twice"),
    ("sources: !!python/object/apply:os.system [echo]\n", r"not valid YAML .*could not determine a constructor"),
])
def test_each_mistake_names_the_file_and_the_key(tmp_path, body, says):
    path = write(tmp_path / "sources.yaml", body)
    with pytest.raises(ConfigError, match=says) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: ")


def test_payment_notes_are_chosen_by_seller_then_source_then_for_every_invoice():
    from edi.samples import sample_invoice

    cfg = EInvoicingConfig(payment_notes=[{"recovery_fee": "every"}, {"source": "erp_b", "recovery_fee": "source"},
                                          {"seller_siren": "843 129 453", "recovery_fee": "seller"}])
    inv = sample_invoice(1)
    inv.seller.legal_registration = None
    inv.seller.identifiers = []
    assert inv.seller.siren is None
    assert [cfg.payment_notes_for(inv, src).recovery_fee for src in ("erp_a", "erp_b", None)] == ["every", "source", "every"]
    inv.seller.legal_registration = Identifier(value="843129453", scheme="0002")
    assert cfg.payment_notes_for(inv, "erp_b").notes() == {"PMT": "seller"}
    assert EInvoicingConfig().payment_notes_for(inv, "erp_b") is None  # no setting, no note: nothing invented


def test_a_broken_mapping_still_fails_when_the_sources_are_read(tmp_path):
    path = write(tmp_path / "sources.yaml", "sources:\n  - {name: erp_a, kind: tryton, connection: c, mapping: nowhere}\n")
    assert load_config(path).sources[0].mapping == "nowhere"  # the file itself is well-formed ...
    with pytest.raises(ConfigError, match="nowhere"):
        load_sources(path)  # ... the mapping it names is not there


def test_the_file_read_is_bounded(tmp_path):
    path = write(tmp_path / "sources.yaml", "# " + "x" * MAX_CONFIG_BYTES + "\n")
    with pytest.raises(ConfigError, match=f"over {MAX_CONFIG_BYTES} bytes"):
        load_config(path)
    path.write_bytes(b"sources: [\xff]\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


# -- where the file is, and no fallback ------------------------------------------------------
def test_no_sources_file_is_an_error_not_the_example(home):
    assert get_settings().sources_file == home / "sources.yaml"
    with pytest.raises(ConfigError) as err:
        load_sources()
    assert str(err.value) == (
        f"{home / 'sources.yaml'}: no such configuration file (the default sources file, $O2C_HOME/sources.yaml). "
        f"Create it: copy config/sources.example.yaml (in the o2c-hub repository) to {home / 'sources.yaml'} and "
        "adapt it, or set O2C_SOURCES to your sources file")
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_banks()  # the banks are in the sources file unless O2C_BANKS says otherwise
    # once written, it is the file read
    write(home / "sources.yaml", "sources:\n  - {name: erp_a, kind: tryton, connection: c}\n")
    assert [s.name for s in load_sources()] == ["erp_a"]
    assert load_banks() == []


@pytest.mark.parametrize(("var", "example"), [("O2C_SOURCES", "sources"), ("O2C_BANKS", "banks")])
def test_a_file_named_by_a_variable_must_exist(home, monkeypatch, var, example):
    missing = home / "elsewhere.yaml"
    monkeypatch.setenv(var, str(missing))
    with pytest.raises(ConfigError, match=(
            rf"^{missing}: no such configuration file \(named by {var}\)\. Create it: copy config/{example}\.example\.yaml "
            rf".* or point {var} at your file$")):
        load_sources() if var == "O2C_SOURCES" else load_banks()


def test_banks_come_from_o2c_banks_when_set(home, tmp_path, monkeypatch):
    write(home / "sources.yaml", "sources: []\nbanks:\n  - {name: from_sources, connection: c}\n")
    assert [b.name for b in load_banks()] == ["from_sources"]
    monkeypatch.setenv("O2C_BANKS", str(write(tmp_path / "banks.yaml", "banks:\n  - {name: from_banks, connection: c}\n")))
    assert [b.name for b in load_banks()] == ["from_banks"]


def test_the_cli_says_which_sources_file_is_missing(home, monkeypatch):
    from o2c.cli import cli

    result = CliRunner().invoke(cli, ["sync", "erp_a"])
    assert result.exit_code == 2, result.output
    assert f"{home / 'sources.yaml'}: no such configuration file" in result.output
    assert "copy config/sources.example.yaml" in result.output


# -- e-invoicing: its own file, a section, or the defaults ------------------------------------
def test_einvoicing_defaults_without_any_file(home):
    assert load_einvoicing() == EInvoicingConfig(channel=FolderChannel(path=str(home / "outbox")))


def test_einvoicing_from_its_own_file_or_from_the_sources_file(home, tmp_path, monkeypatch):
    write(home / "sources.yaml", "sources: []\neinvoicing:\n  default_format: cii\n  channel: {kind: folder, path: pa}\n")
    from_section = load_einvoicing()
    assert (from_section.default_format, from_section.channel) == ("cii", FolderChannel(path=str(home / "pa")))

    own = write(home / "einvoicing.yaml", "default_format: ubl\n")
    with pytest.raises(ConfigError, match=rf"^{own}: e-invoicing is configured twice.*keep one of the two$"):
        load_einvoicing()
    write(home / "sources.yaml", "sources: []\n")
    assert load_einvoicing().default_format == "ubl"

    named = write(tmp_path / "einv.yaml", "default_format: facturx-basic\nchannel: {kind: folder, path: /srv/pa}\n")
    monkeypatch.setenv("O2C_EINVOICING", str(named))
    assert load_einvoicing() == EInvoicingConfig(default_format="facturx-basic", channel=FolderChannel(path="/srv/pa"))
    monkeypatch.setenv("O2C_EINVOICING", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match=r"missing\.yaml: no such configuration file \(named by O2C_EINVOICING\)\. "
                                          r"Create it: copy config/einvoicing\.example\.yaml"):
        load_einvoicing()


def test_source_config_in_code_is_checked_like_the_file():
    src = SourceConfig(name="erp_a", kind="tryton", connection="c", start="2026-03-01T10:00:00+01:00")
    assert src.start == dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    with pytest.raises(ValidationError):
        SourceConfig(name="erp_a", kind="nope", connection="c")


# -- write-back approval ----------------------------------------------------------------------
def test_the_write_back_policy_of_a_source(tmp_path):
    import datetime as dt_
    from decimal import Decimal

    path = write(tmp_path / "sources.yaml", "sources:\n  - name: erp_a\n    kind: tryton\n    connection: c\n"
                 "    writeback:\n      policy: {payment: {auto_below: 5000.00, allocation_status: [auto]}, note: {auto: true}}\n"
                 "      approvers: [alice, bob]\n      response_timeout: 90m\n      on_timeout: wait\n")
    wb = load_config(path).sources[0].writeback
    assert wb.approvers == ("alice", "bob") and wb.response_timeout == dt_.timedelta(minutes=90) and wb.on_timeout == "wait"
    assert wb.flows("payment", Decimal("4999.99"), "auto") == (True, "4999.99 is below 5000.0")
    assert wb.flows("payment", Decimal("5000.00"), "auto")[0] is False
    assert wb.flows("payment", Decimal("10"), "accepted")[0] is False
    assert wb.flows("note", None, None) == (True, "flows without approval (auto: true)")
    assert wb.flows("credit_hold", None, None) == (False, "no policy for credit_hold commands: they wait for approval")
    # nothing written: every kind waits, Airflow waits 24 hours and then refuses
    bare = load_config(write(tmp_path / "bare.yaml", "sources:\n  - {name: erp_a, kind: tryton, connection: c}\n")).sources[0]
    assert bare.writeback.policy == {} and bare.writeback.on_timeout == "refuse"
    assert bare.writeback.response_timeout == dt_.timedelta(hours=24)
    assert bare.writeback.flows("payment", Decimal("1"), "auto")[0] is False


@pytest.mark.parametrize(("body", "says"), [
    ("policy: {paymnt: {auto: true}}", r"sources\[0\]\.writeback\.policy\.paymnt: should be 'payment', '"),
    ("policy: {payment: {auto: true, auto_below: '10'}}",
     r"writeback\.policy\.payment\.auto_below: give either 'auto: true' \(everything flows\) or 'auto_below'"),
    ("policy: {payment: {auto_below: -5}}", r"writeback\.policy\.payment\.auto_below: must be a positive amount such as '5000.00'"),
    ("policy: {payment: {auto_below: lots}}", r"auto_below: must be an amount such as '5000.00' \(got 'lots'\)"),
    ("policy: {payment: {allocation_status: [suggested]}}",
     r"writeback\.policy\.payment\.allocation_status\[0\]: should be 'auto' or 'accepted' \(got 'suggested'\)"),
    ("policy: {payment: {threshold: 5}}", r"writeback\.policy\.payment\.threshold: unknown key \(known: auto, auto_below"),
    ("approvers: [alice, '']", r"writeback\.approvers: must be a list of Airflow user names"),
    ("response_timeout: soon", r"writeback\.response_timeout: must be a positive duration such as 24h"),
    ("on_timeout: approve", r"writeback\.on_timeout: should be 'refuse' or 'wait' \(got 'approve'\); write refuse"),
    ("approver: [alice]", r"writeback\.approver: unknown key \(known: policy, approvers, response_timeout, on_timeout\)"),
])
def test_write_back_policy_mistakes_name_the_file_and_the_key(tmp_path, body, says):
    path = write(tmp_path / "sources.yaml", "sources:\n  - name: erp_a\n    kind: tryton\n    connection: c\n"
                 f"    writeback: {{{body}}}\n")
    with pytest.raises(ConfigError, match=says) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: ")
