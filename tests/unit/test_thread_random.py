"""The test set-up keeps background threads' draws off the global `random` state (see
`tests/conftest.py`): Hypothesis reads any change of it during a draw as a flaky strategy."""

import random
import threading


def test_a_background_thread_draw_leaves_the_global_state_alone():
    before = random.getstate()
    drawn = []
    thread = threading.Thread(
        target=lambda: drawn.extend([random.getrandbits(32), random.random()])
    )
    thread.start()
    thread.join()
    assert len(drawn) == 2
    assert random.getstate() == before


def test_the_main_thread_still_draws_from_the_global_state():
    random.seed(7)
    first = [random.random() for _ in range(3)]
    random.seed(7)
    assert [random.random() for _ in range(3)] == first
    assert random.Random(7).random() == first[0]
