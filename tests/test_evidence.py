"""The evidence log on real files: appends, signed heads, proofs verified offline, crash safety,
processes appending at once, and audits catching every kind of tampering."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from lendguard.evidence import (
    AmbiguousRecordError,
    DuplicateRecordError,
    EvidenceLog,
    LogIntegrityError,
    UnknownRecordError,
    canonical_json,
    merkle,
    record_hash,
    verify_consistency_proof,
    verify_inclusion_bundle,
    verify_tree_head,
)
from lendguard.evidence.model import InclusionBundle, SignedTreeHead, to_builtins
from lendguard.evidence.signing import sign_tree_head
from lendguard.evidence.verify import parse_record

SRC = Path(__file__).resolve().parent.parent / "src"


# ---- a real record store: a SQLite table of canonical JSON documents ------------------------
class RecordStore:
    """Where the records live (not the log): kind, record_id -> JSON text."""

    def __init__(self, path: Path):
        self.path = path
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS records (kind TEXT, record_id TEXT, body TEXT, PRIMARY KEY (kind, record_id))")

    def put(self, kind: str, record_id: str, record: dict) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute("INSERT INTO records VALUES (?, ?, ?)", (kind, record_id, canonical_json(record).decode()))

    def source(self, kind: str):
        def fetch(ids):
            with sqlite3.connect(self.path) as db:
                marks = ",".join("?" * len(ids))
                rows = db.execute(f"SELECT record_id, body FROM records WHERE kind = ? AND record_id IN ({marks})", (kind, *ids)).fetchall()
            return {record_id: parse_record(body) for record_id, body in rows}

        return fetch

    def sources(self, *kinds: str):
        return {kind: self.source(kind) for kind in kinds}

    def execute(self, sql: str, *args) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute(sql, args)


def consent(i: int) -> dict:
    return {
        "consent_id": f"c{i:05d}",
        "user_id": f"u{i % 97:05d}",
        "purpose": "credit_assessment",
        "granted": i % 5 != 0,
        "at": dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=i),
    }


def decision(i: int) -> dict:
    return {"decision_id": f"d{i:05d}", "user_id": f"u{i % 97:05d}", "visible": i % 3 == 0, "line": Decimal("5000.00") + i, "codes": ["CR01", "RG02"][: i % 3]}


def sql(data_dir: Path, statement: str, *args) -> list:
    with sqlite3.connect(data_dir / "catalog.sqlite") as db:
        return db.execute(statement, args).fetchall()


@pytest.fixture()
def logged(tmp_path):
    """A log of 60 consents and 45 decisions appended in several batches, and their record store."""
    data_dir = tmp_path / "data"
    store = RecordStore(tmp_path / "records.sqlite")
    log = EvidenceLog.open(data_dir)
    items = []
    for i in range(60):
        items.append(("consent", f"c{i:05d}", consent(i)))
        if i < 45:
            items.append(("decision", f"d{i:05d}", decision(i)))
    for kind, record_id, record in items:
        store.put(kind, record_id, record)
    for start in (0, 1, 8, 33, 70):
        end = {0: 1, 1: 8, 8: 33, 33: 70, 70: len(items)}[start]
        log.append_many(items[start:end])
    yield log, store, items, data_dir
    log.close()


def findings(report, problem: str | None = None) -> list:
    return [f for f in report.findings if problem is None or f.problem == problem]


# ---- appending and heads ------------------------------------------------------------------
def test_receipts_number_leaves_in_order_and_hash_the_canonical_record(logged):
    log, _store, items, _ = logged
    receipt = log.append("review", "r1", {"action": "approve", "at": dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc)})
    assert receipt.index == len(items)
    assert receipt.leaf_hash == merkle.leaf_hash(b'{"action":"approve","at":"2026-11-24T00:00:00Z"}').hex()
    assert log.size == len(items) + 1


def test_tree_head_is_signed_and_reflects_the_current_tree(logged):
    log, _store, items, data_dir = logged
    sth = log.tree_head()
    assert sth.tree_size == len(items)
    assert sth.root_hash == merkle.root_of([record_hash(r) for _, _, r in items]).hex()
    public_pem = (data_dir / "evidence" / "public_key.pem").read_text()
    assert verify_tree_head(sth, public_pem).ok
    assert len(log.tree_heads()) == 5  # one per append batch
    log.append("review", "r1", {"x": 1})
    assert log.tree_head().tree_size == len(items) + 1


def test_empty_log_has_the_empty_root(tmp_path):
    with EvidenceLog.open(tmp_path) as log:
        sth = log.tree_head()
        assert (sth.tree_size, sth.root_hash) == (0, merkle.EMPTY_ROOT.hex())
        assert log.append_many([]) == []


def test_a_record_id_twice_for_a_kind_is_rejected_and_nothing_of_the_batch_is_kept(logged):
    log, _store, items, _ = logged
    before = log.tree_head()
    with pytest.raises(DuplicateRecordError, match="'c00003' of kind 'consent' is already in the evidence log \\(at leaf 6\\)"):
        log.append_many([("review", "r1", {"a": 1}), ("consent", "c00003", consent(3))])
    with pytest.raises(DuplicateRecordError, match="twice in the same batch"):
        log.append_many([("review", "r1", {"a": 1}), ("review", "r1", {"a": 2})])
    assert log.size == len(items)
    assert log.tree_head() == before
    log.append("review", "c00003", {"same id": "other kind"})  # a different kind may reuse an id
    with pytest.raises(AmbiguousRecordError, match="consent, review"):
        log.prove("c00003")
    assert log.prove("c00003", kind="review").leaf_index == len(items)


def test_bad_kind_or_id_and_uncanonical_records_are_refused(logged):
    log, *_ = logged
    with pytest.raises(ValueError):
        log.append("", "x", {})
    with pytest.raises(ValueError, match="no time zone"):
        log.append("review", "x", {"at": dt.datetime(2026, 1, 1)})


def test_keys_are_created_once_private_0600_and_can_live_elsewhere(tmp_path, monkeypatch):
    data_dir = tmp_path / "d"
    with EvidenceLog.open(data_dir) as log:
        first = log.key_id
    key_file = data_dir / "evidence" / "signing_key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with EvidenceLog.open(data_dir) as log:
        assert log.key_id == first
    elsewhere = tmp_path / "secrets" / "evidence.pem"
    monkeypatch.setenv("LENDGUARD_EVIDENCE_KEY", str(elsewhere))
    with EvidenceLog.open(data_dir) as log:
        assert elsewhere.exists() and log.key_id != first
        assert (data_dir / "evidence" / "public_key.pem").read_text() == log.public_key_pem
        log.append("review", "r1", {"a": 1})
        assert set(log.public_keys()) == {first, log.key_id}


# ---- proofs -------------------------------------------------------------------------------
def test_every_record_proves_offline_against_the_published_key(logged):
    log, _store, items, data_dir = logged
    public_pem = (data_dir / "evidence" / "public_key.pem").read_text()
    for kind, record_id, record in items:
        bundle = log.prove(record_id, kind)
        text = json.dumps(to_builtins(bundle))  # what travels
        result = verify_inclusion_bundle(text, parse_record(canonical_json(record)), public_pem)
        assert result.ok, result.reason
        assert not result.key_from_bundle


def test_offline_verification_fails_for_a_changed_record_or_a_forged_bundle(logged, tmp_path):
    log, _store, _items, _ = logged
    bundle = log.prove("d00007")
    record = decision(7)
    assert verify_inclusion_bundle(bundle, record).ok
    assert verify_inclusion_bundle(bundle, record).key_from_bundle
    changed = {**record, "line": Decimal("5007.01")}
    result = verify_inclusion_bundle(bundle, changed, log.public_key_pem)
    assert not result.ok and "record was changed" in result.reason

    wrong_index = InclusionBundle(**{**to_builtins(bundle), "leaf_index": bundle.leaf_index + 1, "sth": bundle.sth})
    assert not verify_inclusion_bundle(wrong_index, record, log.public_key_pem).ok
    shrunk = SignedTreeHead(**{**to_builtins(bundle.sth), "tree_size": bundle.sth.tree_size - 1})
    assert not verify_inclusion_bundle(InclusionBundle(**{**to_builtins(bundle), "sth": shrunk}), record, log.public_key_pem).ok

    # a forger who rebuilds the tree and signs it with their own key is caught by the published key
    other = EvidenceLog.open(tmp_path / "forger")
    forged = other.append("decision", "d00007", changed)
    forged_bundle = other.prove("d00007")
    assert verify_inclusion_bundle(forged_bundle, changed).ok  # self-consistent, with its own key ...
    result = verify_inclusion_bundle(forged_bundle, changed, log.public_key_pem)  # ... but not the log's
    assert not result.ok and "not the given key" in result.reason
    assert forged.index == 0
    other.close()


def test_consistency_from_every_signed_head_to_now(logged):
    log, *_ = logged
    heads = log.tree_heads()
    for head in heads:
        proof = log.consistency(head.tree_size)
        assert proof.old_root == head.root_hash
        assert verify_consistency_proof(proof, log.public_key_pem).ok
    middle = log.consistency(8, 33)
    assert middle.sth is None and verify_consistency_proof(middle).ok
    with pytest.raises(ValueError):
        log.consistency(10, 10**6)


def test_unknown_record(logged):
    log, *_ = logged
    with pytest.raises(UnknownRecordError):
        log.prove("nope")


# ---- crash safety --------------------------------------------------------------------------
def test_orphan_hashes_of_an_uncommitted_append_are_cut_on_open(logged):
    log, store, items, data_dir = logged
    size = log.size
    log.close()
    level0, level1 = data_dir / "evidence" / "level_0.bin", data_dir / "evidence" / "level_1.bin"
    with open(level0, "ab") as handle:  # what a crash between writing hashes and committing leaves
        handle.write(os.urandom(32 * 3 + 7))
    with open(level1, "ab") as handle:
        handle.write(os.urandom(32))
    reopened = EvidenceLog.open(data_dir)
    assert reopened.orphan_bytes_removed == 32 * 4 + 7
    assert level0.stat().st_size == 32 * size
    receipt = reopened.append("consent", "c-new", {"n": 1})
    assert receipt.index == size
    assert verify_inclusion_bundle(reopened.prove("c-new"), {"n": 1}, reopened.public_key_pem).ok
    store.put("consent", "c-new", {"n": 1})
    assert reopened.audit(store.sources("consent", "decision")).ok
    reopened.close()


@pytest.mark.slow
def test_a_crash_mid_append_leaves_the_log_as_it_was(logged):
    """A real process killed after writing hashes and before committing (it dies inside the commit)."""
    log, store, items, data_dir = logged
    before = log.tree_head()
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(SRC)!r})
        from lendguard.evidence import EvidenceLog
        from lendguard.evidence import tables
        log = EvidenceLog.open({str(data_dir)!r})
        real = log.files.sync
        def sync_then_die(levels):
            real(levels)
            os._exit(9)  # power cut: hashes are on disk, the transaction is not committed
        log.files.sync = sync_then_die
        log.append_many([("review", f"r{{i}}", {{"i": i}}) for i in range(100)])
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    assert (data_dir / "evidence" / "level_0.bin").stat().st_size > 32 * before.tree_size  # orphans on disk
    assert log.size == before.tree_size
    receipt = log.append("review", "r0", {"i": 0})  # the next append cuts the orphans first
    assert receipt.index == before.tree_size
    store.put("review", "r0", {"i": 0})
    report = log.audit(store.sources("consent", "decision", "review"))
    assert report.ok, report.findings


def test_short_hash_files_stop_appends_until_rebuilt(logged):
    log, store, items, data_dir = logged
    level0 = data_dir / "evidence" / "level_0.bin"
    os.truncate(level0, level0.stat().st_size - 64)
    report = log.audit(store.sources("consent", "decision"))
    assert [f.problem for f in report.findings] == ["hash_file_tampered"]
    with pytest.raises(LogIntegrityError, match="shorter than the committed tree"):
        log.append("review", "r1", {"a": 1})
    assert log.rebuild_hash_files() == len(items)
    assert log.audit(store.sources("consent", "decision")).ok
    log.append("review", "r1", {"a": 1})


@pytest.mark.slow
def test_processes_appending_at_once_never_interleave(tmp_path):
    data_dir = tmp_path / "shared"
    EvidenceLog.open(data_dir).close()
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(SRC)!r})
        from lendguard.evidence import EvidenceLog
        who = sys.argv[1]
        log = EvidenceLog.open({str(data_dir)!r})
        for batch in range(20):
            log.append_many([("review", f"{{who}}-{{batch}}-{{i}}", {{"who": who, "batch": batch, "i": i}}) for i in range(50)])
            log.append("review", f"{{who}}-{{batch}}-single", {{"who": who, "batch": batch}})
        """
    )
    workers = [subprocess.Popen([sys.executable, "-c", script, name], stderr=subprocess.PIPE, text=True) for name in ("a", "b", "c")]
    for worker in workers:
        assert worker.wait(timeout=300) == 0, worker.stderr.read()
    with EvidenceLog.open(data_dir) as log:
        assert log.size == 3 * 20 * 51
        rows = sql(data_dir, "SELECT record_id FROM evidence_leaves ORDER BY leaf_index")
        records = {}
        for (record_id,) in rows:
            who, batch, i = record_id.split("-")
            records[record_id] = {"who": who, "batch": int(batch)} if i == "single" else {"who": who, "batch": int(batch), "i": int(i)}
        # each 50-leaf batch is contiguous: no other process's leaf in the middle of it
        positions = {record_id: n for n, (record_id,) in enumerate(rows)}
        for who in "abc":
            for batch in range(20):
                spots = [positions[f"{who}-{batch}-{i}"] for i in range(50)]
                assert spots == list(range(spots[0], spots[0] + 50))
        report = log.audit({"review": lambda ids: {i: records[i] for i in ids}})
        assert report.ok, report.findings[:5]
        assert report.tree_heads_checked == 3 * 20 * 2


# ---- audits: every kind of tampering -----------------------------------------------------
def test_a_clean_log_audits_ok(logged):
    log, store, items, _ = logged
    report = log.audit(store.sources("consent", "decision"))
    assert report.ok and report.findings == []
    assert (report.tree_size, report.leaves_checked, report.tree_heads_checked) == (len(items), len(items), 5)


def test_one_changed_byte_in_a_stored_record_is_found(logged):
    log, store, items, _ = logged
    store.execute("UPDATE records SET body = replace(body, '\"5012.00\"', '\"5012.01\"') WHERE record_id = 'd00012'")
    report = log.audit(store.sources("consent", "decision"))
    changed = findings(report, "record_changed")
    assert [(f.kind, f.record_id) for f in changed] == [("decision", "d00012")]
    index = changed[0].leaf_index
    assert index == next(n for n, item in enumerate(items) if item[1] == "d00012")
    root = findings(report, "root_mismatch")
    assert len(root) == 1 and root[0].leaf_index <= index
    assert not findings(report, "hash_file_tampered")
    bundle = log.prove("d00012")
    assert not verify_inclusion_bundle(bundle, store.source("decision")(["d00012"])["d00012"], log.public_key_pem).ok


def test_a_record_removed_from_its_store_is_found(logged):
    log, store, *_ = logged
    store.execute("DELETE FROM records WHERE record_id = 'c00020'")
    report = log.audit(store.sources("consent", "decision"))
    assert [(f.problem, f.record_id) for f in report.findings] == [("record_missing", "c00020")]


def test_two_swapped_index_rows_are_found(logged):
    log, store, *_ = logged
    a, b = sql(log.data_dir, "SELECT leaf_index FROM evidence_leaves WHERE record_id IN ('c00010', 'c00030') ORDER BY leaf_index")
    # swap which record each leaf belongs to (the leaf hashes stay where they were committed)
    sql(log.data_dir, "UPDATE evidence_leaves SET record_id = 'tmp' WHERE record_id = 'c00010'")
    sql(log.data_dir, "UPDATE evidence_leaves SET record_id = 'c00010' WHERE record_id = 'c00030'")
    sql(log.data_dir, "UPDATE evidence_leaves SET record_id = 'c00030' WHERE record_id = 'tmp'")
    report = log.audit(store.sources("consent", "decision"))
    moved = findings(report, "leaf_reordered")
    assert sorted(f.leaf_index for f in moved) == [a[0], b[0]]
    assert findings(report, "root_mismatch")
    assert not findings(report, "record_changed")


def test_two_index_rows_moved_with_their_hashes_are_found(logged):
    log, store, *_ = logged
    (a,), (b,) = sql(log.data_dir, "SELECT leaf_index FROM evidence_leaves WHERE record_id IN ('c00010', 'd00030') ORDER BY leaf_index")
    sql(log.data_dir, "UPDATE evidence_leaves SET leaf_index = -1 WHERE leaf_index = ?", a)
    sql(log.data_dir, "UPDATE evidence_leaves SET leaf_index = ? WHERE leaf_index = ?", a, b)
    sql(log.data_dir, "UPDATE evidence_leaves SET leaf_index = ? WHERE leaf_index = -1", b)
    report = log.audit(store.sources("consent", "decision"))
    moved = findings(report, "leaf_reordered")
    assert sorted(f.leaf_index for f in moved) == [a, b]
    assert "index rows were moved" in moved[0].message
    assert findings(report, "root_mismatch")
    assert not findings(report, "hash_file_tampered")


def test_two_swapped_entries_in_the_leaf_hash_file_are_found(logged):
    log, store, _items, data_dir = logged
    path = data_dir / "evidence" / "level_0.bin"
    data = bytearray(path.read_bytes())
    data[3 * 32 : 4 * 32], data[17 * 32 : 18 * 32] = data[17 * 32 : 18 * 32], data[3 * 32 : 4 * 32]
    path.write_bytes(bytes(data))
    report = log.audit(store.sources("consent", "decision"))
    tampered = findings(report, "hash_file_tampered")
    assert sorted(f.leaf_index for f in tampered) == [3, 17]
    assert all("entries were moved" in f.message for f in tampered)
    assert not findings(report, "root_mismatch")  # the records still give the signed roots
    assert len(report.findings) == 2


def test_one_flipped_byte_in_a_hash_file_is_found_and_stops_proofs(logged):
    log, store, items, data_dir = logged
    path = data_dir / "evidence" / "level_0.bin"
    data = bytearray(path.read_bytes())
    data[40 * 32 + 5] ^= 0x01
    path.write_bytes(bytes(data))
    report = log.audit(store.sources("consent", "decision"))
    assert [(f.problem, f.leaf_index) for f in report.findings] == [("hash_file_tampered", 40)]
    sibling = items[41][1]  # leaf 41's audit path starts with leaf 40's hash
    with pytest.raises(LogIntegrityError):
        log.prove(sibling)

    path2 = data_dir / "evidence" / "level_2.bin"
    upper = bytearray(path2.read_bytes())
    upper[2 * 32] ^= 0x80
    path2.write_bytes(bytes(upper))
    report = log.audit(store.sources("consent", "decision"))
    assert sorted((f.problem, f.leaf_index) for f in report.findings) == [("hash_file_tampered", 8), ("hash_file_tampered", 40)]
    assert any("level_2.bin position 2" in f.message for f in report.findings)


def test_a_forged_tree_head_is_found(logged, tmp_path):
    log, store, items, data_dir = logged
    fake_root = merkle.root_of([record_hash({"forged": i}) for i in range(len(items))]).hex()
    sql(data_dir, "UPDATE evidence_tree_heads SET root_hash = ? WHERE id = (SELECT max(id) FROM evidence_tree_heads)", fake_root)
    report = log.audit(store.sources("consent", "decision"))
    assert [f.problem for f in report.findings] == ["bad_signature"]

    # a head signed by a key that never belonged to the log
    with EvidenceLog.open(tmp_path / "other") as other:
        forged = sign_tree_head(other._key, len(items), bytes.fromhex(fake_root))
    sql(data_dir, "INSERT INTO evidence_tree_heads (tree_size, root_hash, timestamp, key_id, signature) VALUES (?, ?, ?, ?, ?)", forged.tree_size, forged.root_hash, forged.timestamp, forged.key_id, forged.signature)
    report = log.audit(store.sources("consent", "decision"))
    assert [f.problem for f in report.findings] == ["bad_signature", "bad_signature"]
    assert "never signed for this log" in report.findings[1].message


def test_a_removed_leaf_row_is_found(logged):
    log, store, items, data_dir = logged
    sql(data_dir, "DELETE FROM evidence_leaves WHERE leaf_index = 25")
    report = log.audit(store.sources("consent", "decision"))
    assert ("leaf_removed", 25) in [(f.problem, f.leaf_index) for f in report.findings]
    assert findings(report, "root_mismatch")


def test_a_record_and_its_index_hash_rewritten_together_are_found(logged):
    log, store, items, data_dir = logged
    index = next(n for n, item in enumerate(items) if item[1] == "c00044")
    forged = {**consent(44), "granted": False, "purpose": "marketing"}
    store.execute("UPDATE records SET body = ? WHERE record_id = 'c00044'", canonical_json(forged).decode())
    sql(data_dir, "UPDATE evidence_leaves SET leaf_hash = ? WHERE leaf_index = ?", record_hash(forged), index)
    report = log.audit(store.sources("consent", "decision"))
    assert ("record_changed", index) in [(f.problem, f.leaf_index) for f in report.findings]
    assert findings(report, "root_mismatch")
    assert not findings(report, "hash_file_tampered")


def test_a_kind_without_a_source_is_reported(logged):
    log, store, *_ = logged
    report = log.audit(store.sources("consent"))
    assert [(f.problem, f.kind) for f in report.findings] == [("no_source", "decision")]
    assert "no source registered for kind 'decision'" in report.findings[0].message


def test_audit_batches_its_questions_to_the_sources(logged):
    log, store, *_ = logged
    asked = []
    fetch = store.source("consent")
    report = log.audit({"consent": lambda ids: asked.append(len(ids)) or fetch(ids), "decision": store.source("decision")}, batch_size=16)
    assert report.ok
    assert asked == [16, 16, 16, 12]


def test_an_empty_log_audits_ok(tmp_path):
    with EvidenceLog.open(tmp_path) as log:
        log.tree_head()
        report = log.audit({})
    assert report.ok and report.tree_size == 0 and report.tree_heads_checked == 1
