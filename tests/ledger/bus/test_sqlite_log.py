"""The SQLite stream's ack bookkeeping, checked against a model: floor, stored acks, unacked."""

from __future__ import annotations

import random

import pytest

from ledger.bus.base import BusMessage
from ledger.bus.sqlite_log import SqliteMessageLog
from ledger.bus.subjects import SubjectFilter

SUBJECTS = ("llmux.usage.recorded", "llmux.request.completed", "other.thing")


class AckModel:
    """What a durable's floor and stored acks must be after each ack (by definition)."""

    def __init__(self, subjects: list[str], subject_filter: str) -> None:
        self.matching = [seq for seq, subject in enumerate(subjects, start=1)
                         if SubjectFilter(subject_filter).matches(subject)]
        self.last_seq = len(subjects)
        self.floor = 0
        self.acked: set[int] = set()

    def ack(self, seqs: list[int]) -> None:
        self.acked.update(seqs)
        pending = [seq for seq in self.matching if seq > self.floor and seq not in self.acked]
        self.floor = pending[0] - 1 if pending else max(self.floor, self.last_seq)
        self.acked = {seq for seq in self.acked if seq > self.floor}

    def unacked(self) -> list[int]:
        return [seq for seq in self.matching if seq > self.floor and seq not in self.acked]


@pytest.mark.parametrize("seed", range(12))
def test_acks_in_any_order_keep_floor_and_stored_acks_exact(seed: int) -> None:
    rng = random.Random(seed)
    subject_filter = rng.choice(["llmux.>", ">", "llmux.usage.recorded", "llmux.*.completed"])
    subjects = [rng.choice(SUBJECTS) for _ in range(60)]
    log = SqliteMessageLog(None)
    try:
        log.append([BusMessage(subject=subject, data=b"{}", msg_id=f"m{seq}")
                    for seq, subject in enumerate(subjects, start=1)])
        log.open_consumer("durable", subject_filter)
        model = AckModel(subjects, subject_filter)
        for _ in range(25):
            pending = model.unacked()
            if rng.random() < 0.5:  # in order, as the ledger acks
                seqs = pending[:rng.randint(1, 8)]
            else:  # out of order, with repeats, acked ones, other subjects and unknown seqs
                seqs = rng.sample(range(1, 70), rng.randint(1, 8))
            log.ack("durable", subject_filter, seqs)
            model.ack(seqs)
            assert [row[0] for row in log.unacked("durable", subject_filter, 100, ())] == \
                model.unacked()
            stored = log._conn.execute(
                "SELECT seq FROM acks WHERE consumer = 'durable' ORDER BY seq").fetchall()
            assert [seq for (seq,) in stored] == sorted(model.acked)
            (floor,) = log._conn.execute(
                "SELECT ack_floor FROM consumers WHERE name = 'durable'").fetchone()
            assert floor == model.floor
    finally:
        log.close()
