"""The store's change counter (what the server's caches are keyed on): every thread sees every
commit, from this process or another (each thread reads through a connection of its own)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from gpf_flow.store.local import LocalStore


def test_every_thread_sees_a_commit_made_by_another_process(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with LocalStore(home) as store:
        barrier = threading.Barrier(3)
        warmed = threading.Barrier(2)
        before: dict[int, object] = {}
        after: dict[int, object] = {}
        again: dict[int, object] = {}
        go_on = threading.Event()

        def reader(i: int) -> None:
            # A thread's first look moves the counter (it cannot know what it missed before): both
            # readers take theirs before either compares two looks.
            store.change_counter()
            warmed.wait()
            before[i] = store.change_counter()
            again[i] = store.change_counter()
            barrier.wait()
            go_on.wait()
            after[i] = store.change_counter()

        mine = store.change_counter()
        threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        barrier.wait()
        code = (
            "import sys; from gpf_flow.store.local import LocalStore\n"
            "with LocalStore(sys.argv[1]) as s:\n"
            "    s.create_entity('upload', {'name': 'X', 'description': 'd', 'type': 'VECTOR'})\n"
        )
        subprocess.run([sys.executable, "-c", code, str(home)], check=True)
        go_on.set()
        for t in threads:
            t.join()
        for i in range(2):
            assert again[i] == before[i]  # nothing committed in between
            assert after[i] != before[i]
        assert store.change_counter() != mine  # this thread too
