"""Many users at once: one EmotionRecognizer (as the app shares it through st.cache_resource) used
from many threads at the same time gives exactly the answers it gives from one thread.

The Haar cascade and the TFLite interpreter are not thread-safe; fer_core keeps one of each per
thread (threading.local). These tests hammer a shared recognizer from 8 threads on real photos
(NASA's astronaut, LFW faces on real backgrounds, FER-2013 faces when $FER2013_PATH is set) and
compare every result with the single-thread one, bit for bit.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from benchmarks import scenes
from fer_core import EmotionRecognizer, LiveAnalyzer
from fer_core.faces import make_detector
from fer_core.registry import list_models

from .fixtures import astronaut_bgr

THREADS = 8
ROUNDS = 2  # each thread goes through every input this many times, each thread in its own order


def _model() -> str:
    names = list_models()
    assert names, "no shipped model in models/"
    return names[0]


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """Real photos with 0 to 3 faces of different sizes: the astronaut portrait (whole, halved,
    mirrored) and webcam-sized scenes of real faces pasted on real photos."""
    a = astronaut_bgr()
    own = [a, np.ascontiguousarray(a[:, ::-1]), np.ascontiguousarray(a[::2, ::2]), scenes.backgrounds()[0]]
    return own + [s.frame for s in scenes.photo_scenes(n=8, seed=3)]


def _signature(results) -> list[tuple]:
    return [(tuple(int(v) for v in r.box), r.probabilities.tobytes()) for r in results]


def _hammer(fn, inputs, threads: int = THREADS, rounds: int = ROUNDS):
    """Call fn on every input from ``threads`` threads at once, each in its own shuffled order.
    Returns {input index: [result, ...]} over all threads and rounds."""
    barrier = threading.Barrier(threads)

    def worker(seed: int):
        rng = np.random.default_rng(seed)
        barrier.wait()  # all threads start together
        out = []
        for _ in range(rounds):
            for i in rng.permutation(len(inputs)):
                out.append((int(i), fn(inputs[i])))
        return out

    with ThreadPoolExecutor(threads) as pool:
        runs = list(pool.map(worker, range(threads)))
    got: dict[int, list] = {}
    for run in runs:
        for i, value in run:
            got.setdefault(i, []).append(value)
    return got


@pytest.mark.parametrize("detector, rounds", [("haar", 1), ("haar-fast", ROUNDS)])  # haar: the app's, slower
def test_analyze_from_8_threads_equals_one_thread(photos, detector, rounds):
    rec = EmotionRecognizer.load(_model(), detector=make_detector(detector))
    expected = [_signature(rec.analyze(p)) for p in photos]
    counts = [len(e) for e in expected]
    assert counts[0] == 1 and max(counts) >= 2 and 0 in counts, counts  # one, several and no face

    got = _hammer(lambda p: _signature(rec.analyze(p)), photos, rounds=rounds)
    for i, results in got.items():
        assert len(results) == THREADS * rounds
        wrong = sum(r != expected[i] for r in results)
        assert not wrong, f"photo {i}: {wrong} of {len(results)} threaded results differ from one thread's"


def test_classify_from_8_threads_with_changing_batch_sizes(photos, fer_path):
    """The interpreter is resized whenever the face count changes: every thread's resizes race the
    others' invocations if the interpreter were shared."""
    from fer_core.data import load_fer2013

    faces = load_fer2013(fer_path).split("PrivateTest")[0]
    rec = EmotionRecognizer.load(_model())
    batches = [faces[s:s + n] for s, n in zip(range(0, 400, 40), (1, 7, 32, 2, 1, 16, 3, 40, 5, 1))]
    expected = [rec.classify(b) for b in batches]
    got = _hammer(rec.classify, batches)
    for i, results in got.items():
        for r in results:
            np.testing.assert_array_equal(r, expected[i], err_msg=f"batch {i} ({len(batches[i])} faces)")


def test_each_thread_has_its_own_cascade_and_interpreter(photos):
    rec = EmotionRecognizer.load(_model(), detector=make_detector("haar"))
    barrier = threading.Barrier(4)

    def worker(_):
        barrier.wait()
        rec.analyze(photos[0])
        return id(rec.detector._cascade()), id(rec.classifier._local.state[0])

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(worker, range(4)))
    assert len({c for c, _ in ids}) == 4, "threads share a Haar cascade"
    assert len({i for _, i in ids}) == 4, "threads share a TFLite interpreter"


def test_four_live_streams_on_one_shared_recognizer():
    """Four streams (one LiveAnalyzer each, as four browser sessions have) of the same moving-face
    clip, played at once on one recognizer: each sees exactly what a lone stream sees."""
    rec = EmotionRecognizer.load(_model(), detector=make_detector("haar-fast"))
    clip = [s.frame for s in scenes.clip(30, n_faces=2, seed=1)]

    def play(_=None):
        live = LiveAnalyzer(rec, smoothing=5, track_every=10)
        out = []
        for frame in clip:
            annotated, report = live.process(frame)
            assert report.error is None, report.error
            out.append((_signature(report.faces), annotated.tobytes()))
        return out

    alone = play()
    assert sum(len(faces) for faces, _ in alone) >= 0.8 * len(clip)  # faces were found and followed
    barrier = threading.Barrier(4)

    def together(k):
        barrier.wait()
        return play()

    with ThreadPoolExecutor(4) as pool:
        streams = list(pool.map(together, range(4)))
    for k, stream in enumerate(streams):
        for n, (a, b) in enumerate(zip(stream, alone)):
            assert a == b, f"stream {k}, frame {n} differs from the lone stream's"


def test_threads_end_with_their_state():
    """A finished stream's thread takes its interpreter and cascade with it (threading.local): the
    per-thread state does not pile up as sessions come and go."""
    import gc
    import weakref

    rec = EmotionRecognizer.load(_model(), detector=make_detector("haar"))
    refs = []

    def worker():
        rec.analyze(astronaut_bgr())
        refs.append(weakref.ref(rec.classifier._local.state[0]))

    for _ in range(6):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    gc.collect()
    assert len(refs) == 6 and all(r() is None for r in refs), "interpreters of finished threads are still alive"
