"""`lendguard evidence ...` end to end: prove in one process, verify in a fresh one with no data
directory, audit with registered record sources; and the HTTP routes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lendguard.api.app import create_app
from lendguard.cli.evidence_cmd import app as evidence_app
from lendguard.evidence import (
    EvidenceLog,
    UnknownRecordError,
    canonical_json,
    sources,
    verify_consistency_proof,
)
from lendguard.evidence.model import ConsistencyProof, to_builtins
from lendguard.evidence.sources import register_source, unregister_source

RECORDS = {f"c{i}": {"consent_id": f"c{i}", "user_id": f"u{i}", "purpose": "credit_assessment", "amount": f"{i}00.00", "granted": True} for i in range(12)}


pytestmark = pytest.mark.slow  # starts processes


def run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "lendguard.cli.evidence_cmd", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=120)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("evidence-cli") / "data"
    with EvidenceLog.open(data) as log:
        items = [("consent", rid, record) for rid, record in RECORDS.items()]
        log.append_many(items[:5])
        log.append_many(items[5:])
        log.append("decision", "c3", {"shared id": True})
    return data


@pytest.mark.parametrize("command", ["head", "prove", "verify", "audit", "consistency", "sync"])
def test_every_command_has_help(command):
    """Each command documents itself."""
    assert "Usage" in CliRunner().invoke(evidence_app, [command, "--help"]).output


def test_prove_then_verify_offline_in_a_fresh_process(data_dir, tmp_path):
    bundle = tmp_path / "bundle.json"
    done = run("prove", "c7", "--kind", "consent", "--out", str(bundle), "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    assert json.loads(bundle.read_text())["leaf_index"] == 7

    record = tmp_path / "record.json"
    record.write_text(json.dumps(RECORDS["c7"], indent=2))  # any JSON layout: the canonical form is what counts
    public = tmp_path / "public_key.pem"
    public.write_bytes((data_dir / "evidence" / "public_key.pem").read_bytes())
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    absent = elsewhere / "no-data-here"
    env = {"LENDGUARD_DATA_DIR": str(absent)}
    done = run("verify", "--proof", str(bundle), "--record", str(record), "--public-key", str(public), cwd=elsewhere, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VALID" in done.stdout and "leaf 7" in done.stdout
    assert not absent.exists() and list(elsewhere.iterdir()) == []  # no data directory was opened or made

    tampered = dict(RECORDS["c7"], amount="701.00")
    record.write_text(json.dumps(tampered))
    done = run("verify", "--proof", str(bundle), "--record", str(record), "--public-key", str(public), cwd=elsewhere, env=env)
    assert done.returncode == 1
    assert "INVALID" in done.stdout and "record was changed" in done.stdout

    done = run("verify", "--proof", str(bundle), "--record", str(record), "--json", cwd=elsewhere, env=env)
    assert done.returncode == 1 and json.loads(done.stdout)["ok"] is False


def test_prove_prints_json_and_reports_unknown_or_ambiguous_ids(data_dir):
    done = run("prove", "c2", "-d", str(data_dir))
    assert done.returncode == 0 and json.loads(done.stdout)["record_id"] == "c2"
    done = run("prove", "nope", "-d", str(data_dir))
    assert done.returncode == 1 and "not in the evidence log" in done.stderr
    done = run("prove", "c3", "-d", str(data_dir))
    assert done.returncode == 2 and "give the kind" in done.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run("verify", "--record", "x.json").returncode == 2
    done = run("verify", "--proof", str(tmp_path / "missing.json"), "--record", str(tmp_path / "missing.json"))
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_head_and_consistency(data_dir):
    head = json.loads(run("head", "--json", "-d", str(data_dir)).stdout)
    assert head["tree_size"] == 13
    done = run("consistency", "--old", "5", "--json", "-d", str(data_dir))
    proof = json.loads(done.stdout)
    parsed = msgspec.convert(proof, ConsistencyProof)
    assert verify_consistency_proof(parsed, (data_dir / "evidence" / "public_key.pem").read_text()).ok
    assert parsed.sth is not None and parsed.sth.root_hash == head["root_hash"]
    assert run("consistency", "--old", "99", "-d", str(data_dir)).returncode == 2
    assert "tree size" in run("head", "-d", str(data_dir)).stdout


@pytest.fixture()
def consent_source(tmp_path, monkeypatch):
    """Consents kept as JSON files in a folder, registered as the source of kind 'consent'
    (in a registry of this test's own: other packages' sources are set aside meanwhile)."""
    monkeypatch.setattr(sources, "_factories", {})
    monkeypatch.setattr(sources, "ENTRY_POINT_GROUP", "lendguard.evidence_sources.test-only")
    folder = tmp_path / "consents"
    folder.mkdir()
    for rid, record in RECORDS.items():
        (folder / f"{rid}.json").write_bytes(canonical_json(record))

    def factory(_data_dir):
        def fetch(ids):
            return {rid: json.loads((folder / f"{rid}.json").read_text()) for rid in ids if (folder / f"{rid}.json").exists()}

        return fetch

    register_source("consent", factory, replace=True)
    yield folder
    unregister_source("consent")


def test_audit_through_registered_sources(data_dir, consent_source):
    runner = CliRunner()
    result = runner.invoke(evidence_app, ["audit", "--json", "-d", str(data_dir)])
    report = json.loads(result.output)
    # 'decision' has no source registered here: reported, not silently skipped
    assert [(f["problem"], f["kind"]) for f in report["findings"]] == [("no_source", "decision")]
    assert result.exit_code == 1

    register_source("decision", lambda _d: lambda ids: {"c3": {"shared id": True}}, replace=True)
    try:
        result = runner.invoke(evidence_app, ["audit", "-d", str(data_dir)])
        assert result.exit_code == 0, result.output
        assert "audit OK" in result.output
        (consent_source / "c4.json").write_text((consent_source / "c4.json").read_text().replace("400.00", "400.01"))
        result = runner.invoke(evidence_app, ["audit", "-d", str(data_dir)])
        assert result.exit_code == 1
        assert "record_changed" in result.output and "c4" in result.output
    finally:
        unregister_source("decision")
        (consent_source / "c4.json").write_bytes(canonical_json(RECORDS["c4"]))


# ---- HTTP ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(data_dir):
    app = create_app(data_dir)
    return TestClient(app)


def test_http_head_proof_verify(client, data_dir):
    head = client.get("/v1/evidence/head").json()
    assert head["tree_size"] == 13
    bundle = client.get("/v1/evidence/proofs/c9", params={"kind": "consent"}).json()
    assert bundle["leaf_index"] == 9 and bundle["sth"] == head
    verdict = client.post("/v1/evidence/verify", json={"bundle": bundle, "record": RECORDS["c9"]}).json()
    assert verdict["ok"] is True and verdict["key_from_bundle"] is False
    verdict = client.post("/v1/evidence/verify", json={"bundle": bundle, "record": {**RECORDS["c9"], "granted": False}}).json()
    assert verdict["ok"] is False


def test_http_consistency(client):
    proof = client.get("/v1/evidence/consistency", params={"old": 4}).json()
    assert proof["old_size"] == 4 and proof["new_size"] == 13
    assert verify_consistency_proof(msgspec.convert(proof, ConsistencyProof)).ok


def test_http_errors_share_the_project_shape(client):
    response = client.get("/v1/evidence/proofs/nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_record"
    response = client.get("/v1/evidence/proofs/c3")
    assert response.status_code == 409 and response.json()["error"]["code"] == "ambiguous_record"
    response = client.get("/v1/evidence/consistency", params={"old": 50})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_sizes"
    response = client.get("/v1/evidence/consistency", params={"old": -1})
    assert response.status_code == 422 and "error" in response.json()
    response = client.post("/v1/evidence/verify", content=b"not json")
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
    response = client.post("/v1/evidence/verify", json={"record": {}})
    assert response.status_code == 422


def test_bundle_documents_are_plain_json(data_dir):
    with EvidenceLog.open(data_dir) as log:
        document = to_builtins(log.prove("c1", "consent"))
    assert json.loads(json.dumps(document)) == document


def test_a_kind_registers_one_source(consent_source):
    with pytest.raises(ValueError, match="already registered"):
        register_source("consent", lambda _d: dict)
    assert sources.registered_kinds() == ["consent"]


def test_sync_runs_the_registered_syncers(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_syncers", {})
    monkeypatch.setattr(sources, "SYNC_ENTRY_POINT_GROUP", "lendguard.evidence_syncers.test-only")
    data = tmp_path / "data"
    runner = CliRunner()
    assert "nothing to do" in runner.invoke(evidence_app, ["sync", "-d", str(data)]).output

    def sync_notes(data_dir, log):
        logged = {rid for rid in ("n1", "n2") if _logged(log, rid)}
        return len(log.append_many(("note", rid, {"note": rid}) for rid in ("n1", "n2") if rid not in logged))

    sources.register_syncer("note", sync_notes)
    result = runner.invoke(evidence_app, ["sync", "-d", str(data)])
    assert result.exit_code == 0 and "note: appended 2 leaf(s)" in result.output
    result = runner.invoke(evidence_app, ["sync", "--kind", "note", "-d", str(data)])
    assert "note: appended 0 leaf(s)" in result.output and "log now holds 2 leaves" in result.output
    assert runner.invoke(evidence_app, ["sync", "--kind", "other", "-d", str(data)]).exit_code == 2


def _logged(log, record_id):
    try:
        log.locate(record_id, "note")
        return True
    except UnknownRecordError:
        return False
